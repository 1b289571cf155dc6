"""Stage 6: the inpainting network (:mod:`model`), its training (:mod:`training`), its calibrated
uncertainty (:mod:`uncertainty`) and its fine-tuning on a measured scan (:mod:`finetune`).
"""
