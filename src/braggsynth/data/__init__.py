"""Stage 5: datasets: 32^3 patches of recordings and measured scans (:mod:`braggsynth.data.patches`), the
shard jobs of the workflow (:mod:`braggsynth.data.shards`), the split into train/validation/test
(:mod:`braggsynth.data.dataset`), the fit and scoring halves of a measured file
(:mod:`braggsynth.data.measured`) and a measured scan's gaps (:mod:`braggsynth.data.scans`).
"""
