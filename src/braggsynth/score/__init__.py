"""What a fill is measured by and measured against: the metrics (:mod:`metrics`) and the classic fills
(:mod:`baselines`), pure functions on numpy arrays.
"""
