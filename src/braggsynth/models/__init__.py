"""The inpainting models shipped with braggsynth, each a ``.keras`` file with its card (``.md``, ``.json``),
written by :func:`braggsynth.modelcard.ship` (``make ship``, ``make ship-wide``).

- ``inpainting.keras``: 32^3 windows, gaps up to 24 px (MAXIPIX chips, EIGER module columns);
- ``inpainting_wide.keras``: 64^3 windows, gaps up to 56 px (EIGER module rows, 38-41 px).

This module only names the files, so that reading the paths never imports the deep-learning stack.
"""

from pathlib import Path

#: The shipped model file for gaps up to :data:`SHIPPED_MAX_GAP_PX`.
SHIPPED_MODEL = Path(__file__).with_name("inpainting.keras")
#: Side of the cubic patches the shipped model fills, voxels.
SHIPPED_PATCH_SIZE = 32
#: Widest gap the shipped model fills, px (its window less 4 measured px on each side).
SHIPPED_MAX_GAP_PX = 24
#: The shipped model for wide gaps (64^3 windows).
SHIPPED_WIDE_MODEL = Path(__file__).with_name("inpainting_wide.keras")
#: Widest gap the wide model fills, px.
SHIPPED_WIDE_MAX_GAP_PX = 56


def shipped_model_for(gap_width_px: int) -> Path:
    """The shipped model that fills gaps of ``gap_width_px`` (the 32^3 one when it can, else the wide one)."""
    if gap_width_px <= SHIPPED_MAX_GAP_PX:
        return SHIPPED_MODEL
    if gap_width_px <= SHIPPED_WIDE_MAX_GAP_PX:
        return SHIPPED_WIDE_MODEL
    raise ValueError(f"no shipped model fills a {gap_width_px} px gap (at most {SHIPPED_WIDE_MAX_GAP_PX} px)")
