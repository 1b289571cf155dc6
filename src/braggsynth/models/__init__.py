"""The inpainting models shipped with braggsynth, each a ``.keras`` file with its card (``.md``, ``.json``),
written by :func:`braggsynth.report.modelcard.ship` (``make ship``, ``make ship-wide``).

- ``inpainting.keras``: 32^3 windows, gaps up to 24 px (MAXIPIX chips, EIGER module columns);
- ``inpainting_wide.keras``: 64^3 windows, gaps up to 56 px (EIGER module rows, 38-41 px).

This module only names the files and reads their structure (:func:`window_of`), so that neither imports
the deep-learning stack.
"""

import json
import zipfile
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


#: The registered name of the output layer of every braggsynth inpainting model (``prefill + mask * correction``).
RESIDUAL_FILL = "braggsynth>ResidualFill"


def window_of(path) -> int:
    """Side of the cubic windows a ``.keras`` archive fills, after checking it is a braggsynth inpainting model.

    Reads only the archive's ``config.json`` (no code runs, no deep-learning import): one input of shape
    (None, n, n, n, 2) (prefilled window, gap mask), and one output, a ResidualFill layer fed by that input,
    so that measured voxels pass through and the model corrects a classic fill in the gap only.  Raises
    ValueError, one line naming the file and what does not match.
    """
    path = Path(path)
    prefix = f"{path}: not a braggsynth inpainting model:"
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
        kind, graph = config.get("class_name"), config["config"]
        if kind != "Functional":
            raise ValueError(f"{prefix} a {kind} model, expected the functional U-Net braggsynth builds")
        # one input or output is stored as its [name, node, tensor], several as a list of them
        inputs, outputs = ([ends] if ends and isinstance(ends[0], str) else ends
                           for ends in (graph["input_layers"], graph["output_layers"]))
        layers = {layer["name"]: layer for layer in graph["layers"]}
    except (OSError, zipfile.BadZipFile, KeyError, TypeError, AttributeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a Keras model archive as braggsynth training writes ({error})") from None
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(f"{prefix} {len(inputs)} input(s) and {len(outputs)} output(s), expected one of each")
    first = layers.get(inputs[0][0], {})
    shape = list(first.get("config", {}).get("batch_shape") or [])
    if len(shape) != 5 or shape[-1] != 2 or len(set(shape[1:4])) != 1 or not isinstance(shape[1], int):
        raise ValueError(f"{prefix} input shape {tuple(shape)}, expected (None, n, n, n, 2) (window, gap mask)")
    last = layers.get(outputs[0][0], {})
    if last.get("registered_name") != RESIDUAL_FILL or json.dumps(inputs[0][0]) not in json.dumps(
            last.get("inbound_nodes")):
        raise ValueError(f"{prefix} its output is {last.get('class_name')!r}, not the ResidualFill of its input "
                         "(prefilled window + mask x correction); train one with braggsynth")
    return int(shape[1])
