"""Stage 1-4: from a crystal shape to a recorded Bragg peak.

shapes (particles of a shape) -> relax (LAMMPS) -> scattering (the exact NUFFT amplitude) in the frames of
:mod:`braggsynth.simulate.frames` at a reflection (:mod:`braggsynth.simulate.reflections`) -> detector
(partial coherence (:mod:`braggsynth.simulate.coherence`), photon counts, background, bad pixels, aliens
and the gaps of :mod:`braggsynth.simulate.gaps`).
"""
