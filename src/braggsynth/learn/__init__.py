"""Stage 6: the inpainting network (:mod:`braggsynth.learn.model`), its training
(:mod:`braggsynth.learn.training`), its calibrated uncertainty (:mod:`braggsynth.learn.uncertainty`) and its
fine-tuning on a measured scan (:mod:`braggsynth.learn.finetune`).
"""

import os
import sys

# TensorFlow's oneDNN kernels run 3D convolutions 5-100x faster on CPU than its default ones here
# (TensorFlow 2.21 leaves them off). The setting is read when TensorFlow is imported, so it is made here, before
# any module of this subpackage imports Keras; the user's own setting wins.
ONEDNN_UNSET = "TF_ENABLE_ONEDNN_OPTS" not in os.environ
TENSORFLOW_IMPORTED = "tensorflow" in sys.modules
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
