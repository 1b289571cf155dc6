"""Stage 6: the inpainting network (:mod:`braggsynth.learn.model`), its training
(:mod:`braggsynth.learn.training`), its calibrated uncertainty (:mod:`braggsynth.learn.uncertainty`) and its
fine-tuning on a measured scan (:mod:`braggsynth.learn.finetune`).
"""
