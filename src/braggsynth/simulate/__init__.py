"""Stage 1-4: from a crystal shape to a recorded Bragg peak.

shapes (particles of a shape) -> relax (LAMMPS) -> scattering (the exact NUFFT amplitude) in the frames of
:mod:`frames` at a reflection (:mod:`reflections`) -> detector (partial coherence (:mod:`coherence`),
photon counts, background, bad pixels, aliens and the gaps of :mod:`gaps`).
"""
