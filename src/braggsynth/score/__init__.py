"""What a fill is measured by and measured against: the metrics (:mod:`braggsynth.score.metrics`) and the
classic fills (:mod:`braggsynth.score.baselines`), pure functions on numpy arrays.
"""
