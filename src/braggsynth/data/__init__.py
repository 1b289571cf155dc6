"""Stage 5: datasets: 32^3 patches of recordings and measured scans (:mod:`patches`), the shard jobs of the
workflow (:mod:`shards`), the split into train/validation/test (:mod:`dataset`), the fit and scoring halves of
a measured file (:mod:`measured`) and a measured scan's gaps (:mod:`scans`).
"""
