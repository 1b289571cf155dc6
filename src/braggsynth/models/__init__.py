"""The inpainting model shipped with braggsynth: ``inpainting.keras`` and its card (``inpainting.md``,
``inpainting.json``), written by :func:`braggsynth.modelcard.ship` (``make ship``).

This module only names the files, so that reading the paths never imports the deep-learning stack.
"""

from pathlib import Path

#: The shipped model file.
SHIPPED_MODEL = Path(__file__).with_name("inpainting.keras")
#: Side of the cubic patches the shipped model fills, voxels.
SHIPPED_PATCH_SIZE = 32
