"""The protocols that judge a run: the simulated test split (:mod:`evaluate`), real space
(:mod:`realspace`), the realism of the simulated set (:mod:`realism`, :mod:`discriminator`) and the model
card (:mod:`modelcard`).
"""
