"""Phase retrieval of a Bragg peak with gaps (:mod:`braggsynth.phase.phasing`: the algorithm and its gap
modes) and a whole reconstruction from an intensity file (:mod:`braggsynth.phase.reconstruction`).
"""
