"""The protocols that judge a run: the simulated test split (:mod:`braggsynth.report.evaluate`), real space
(:mod:`braggsynth.report.realspace`), the realism of the simulated set (:mod:`braggsynth.report.realism`,
:mod:`braggsynth.report.discriminator`) and the model card (:mod:`braggsynth.report.modelcard`).
"""
