"""Phase retrieval of a Bragg peak with gaps (:mod:`phasing`: the algorithm and its gap modes) and a whole
reconstruction from an intensity file (:mod:`reconstruction`).
"""
