"""Command line: ``braggsynth inpaint`` and ``braggsynth finetune``, and the logging set-up of the workflow's scripts.

``braggsynth inpaint SCAN OUTPUT``: fill the detector gaps of a rocking scan
(the mask from ``--mask FILE``, ``--detector NAME --roi Y0 X0``, the file's
own mask, or found in the data) with the shipped model for its widest gap, or
``--model``.  ``braggsynth finetune SCAN OUT.keras``: fine-tune the model on
the scan itself.  ``braggsynth --version``.

Parsing and argument errors never import the deep-learning stack, so
``--help`` answers at once.  Every error is one line on stderr and exit
status 1 (2 for a bad argument); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import zipfile
from pathlib import Path


def setup_logging(log_path=None, *, console_level: int = logging.INFO) -> logging.Logger:
    """Log to ``log_path`` (a Snakemake ``log:`` file; INFO) and to stderr (``console_level``)."""
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(console_level)
    handlers = [console]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        handlers=handlers, force=True)
    log = logging.getLogger("braggsynth")

    def log_uncaught(kind, error, trace):
        # the job's log file then says why it failed, not only Snakemake's console
        log.error("%s: %s", kind.__name__, error, exc_info=(kind, error, trace))

    sys.excepthook = log_uncaught
    return log


class CommandError(Exception):
    """A user's mistake, told in one line."""


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (the usage is in ``--help``)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _command_parser(prog: str, description: str, output_help: str) -> OneLineParser:
    """A command's parser with the arguments every command takes: the scan, its gaps, the model, the output."""
    from .detector import PRESETS

    parser = OneLineParser(prog=prog, description=description)
    with_layout = sorted(name for name, preset in PRESETS.items() if preset.frame_px is not None)
    parser.add_argument("scan", help="the rocking scan: CXI/HDF5, .npy, .npz or TIFF stack, (z, y, x) photons")
    parser.add_argument("--key", help="dataset of the intensity (HDF5 default entry_1/data_1/data; .npz default data)")
    masks = parser.add_argument_group(
        "gaps", "the voxels to fill: --mask, else --detector, else the file's own mask, else found in the data "
                "(stripes of zeros, NaN or sentinel values such as -1 or 2^32 - 1 through every frame)")
    masks.add_argument("--mask", metavar="FILE", help="mask file (HDF5/CXI, .npy, .npz, TIFF), 2D (y, x) or 3D, "
                                                     "nonzero in the gaps")
    masks.add_argument("--mask-key", help="dataset of the mask in --mask FILE, or in the scan file")
    masks.add_argument("--detector", choices=with_layout, help="the detector's gap layout")
    masks.add_argument("--roi", nargs=2, type=int, metavar=("Y0", "X0"),
                       help="row and column of the scan's first pixel on the detector frame (with --detector)")
    parser.add_argument("--model", help="trained model (.keras; default: the model shipped with braggsynth for the "
                                        "widest gap, 32^3 windows up to 24 px, 64^3 up to 56 px)")
    parser.add_argument("--log", help="log file")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("output", help=output_help)
    return parser


def inpaint_parser() -> argparse.ArgumentParser:
    parser = _command_parser(
        "braggsynth inpaint",
        "Fill the detector gaps of a rocking scan with a trained model; write a CXI file with the filled "
        "intensity, the filled voxels and the spread of the window predictions.",
        "CXI file to write (.cxi or .h5; never the scan itself)")
    parser.add_argument("--stride", type=_positive_int, help="step of the windows along the gaps (default: half "
                                                              "a window)")
    parser.add_argument("--batch-size", type=_positive_int, default=32, help="windows per model call (default 32)")
    parser.add_argument("--gap-as-mask", action="store_true",
                        help="also write the filled voxels as entry_1/data_1/mask (phasing programs then ignore "
                             "the inpainted values there)")
    return parser


def finetune_parser() -> argparse.ArgumentParser:
    from . import finetune

    parser = _command_parser(
        "braggsynth finetune",
        "Fine-tune an inpainting model on windows of the scan itself, away from its gaps, with artificial gaps "
        "of the real gaps' widths; score it on held-back windows before and after.",
        "the fine-tuned model to write (.keras)")
    parser.add_argument("--steps", type=_positive_int, default=finetune.DEFAULT_STEPS,
                        help=f"training steps (default {finetune.DEFAULT_STEPS})")
    parser.add_argument("--batch-size", type=_positive_int, default=8, help="windows per step (default 8)")
    parser.add_argument("--windows", type=_positive_int, default=finetune.DEFAULT_WINDOWS,
                        help=f"training windows, from the first half of the rocking axis "
                             f"(default {finetune.DEFAULT_WINDOWS})")
    parser.add_argument("--held-back", type=_positive_int, default=finetune.DEFAULT_HELD_BACK,
                        help=f"scoring windows, from the second half (default {finetune.DEFAULT_HELD_BACK})")
    parser.add_argument("--learning-rate", type=_positive_float, default=finetune.DEFAULT_LEARNING_RATE,
                        help=f"Adam's learning rate (default {finetune.DEFAULT_LEARNING_RATE:g})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the windows and their order (default 0)")
    return parser


def _check_arguments(parser, args) -> None:
    if args.roi is not None and args.detector is None:
        parser.error("--roi needs --detector")
    if args.mask is not None and args.detector is not None:
        parser.error("give the gaps with --mask or with --detector, not both")
    if args.model is not None:
        _check_model_file(args.model)


def _check_model_file(path) -> None:
    path = Path(path)
    if not path.is_file():
        raise CommandError(f"{path}: no such model file")
    if not zipfile.is_zipfile(path):
        raise CommandError(f"{path}: not a Keras model archive (.keras, as braggsynth training writes)")


def _check_output(output, scan, suffixes, what: str) -> None:
    from .scans import same_file

    output = Path(output)
    if output.suffix.lower() not in suffixes:
        raise CommandError(f"{output}: the {what} must end in {' or '.join(suffixes)}")
    if same_file(scan, output):
        raise CommandError(f"{output}: is the scan itself; write the result to another file")
    if not output.parent.is_dir():
        raise CommandError(f"{output}: folder {output.parent} does not exist")


def _read_scan(args):
    from .scans import read_scan

    return read_scan(args.scan, key=args.key, mask_path=args.mask, mask_key=args.mask_key,
                     detector=args.detector, roi=args.roi)


def _model_path(args, scan) -> Path:
    from .gaps import gap_width_px
    from .models import shipped_model_for

    if args.model is not None:
        return Path(args.model)
    path = shipped_model_for(gap_width_px(scan.mask))
    if not path.is_file():
        raise CommandError(f"{path}: the shipped model is missing from this installation; give --model")
    return path


def _import_deep_learning(debug: bool = False) -> None:
    """Import the deep-learning stack with its C++ start-up lines kept off the terminal.

    TensorFlow prints them to the stderr file descriptor before its own log
    settings apply, so that descriptor is sent to a temporary file during the
    import; the lines are shown if the import fails, and always with ``debug``.
    """
    if debug or "braggsynth.model" in sys.modules:
        import braggsynth.model  # noqa: F401

        return
    import tempfile

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import braggsynth.model  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _load(path, debug: bool = False):
    _import_deep_learning(debug)
    from .model import load_model

    return load_model(path)


def inpaint_command(args) -> int:
    import numpy as np

    from . import io
    from .inpaint import inpaint

    _check_output(args.output, args.scan, (".cxi", ".h5", ".hdf5"), "output")
    scan = _read_scan(args)
    print(f"{scan.where}: {scan.describe()}", file=sys.stderr)
    model_path = _model_path(args, scan)
    filled, spread = inpaint(scan.intensity, scan.mask, _load(model_path, args.debug), stride=args.stride,
                             batch_size=args.batch_size, with_spread=True)
    record = io.provenance({"input": str(args.scan), "key": args.key, "mask": args.mask, "mask_key": args.mask_key,
                            "detector": args.detector, "roi": args.roi, "mask_source": scan.mask_source,
                            "model": str(model_path), "stride": args.stride})
    io.write_inpainted(args.output, filled, scan.mask, model_path=model_path, gap_as_mask=args.gap_as_mask,
                       record=record, spread=spread)
    values = spread[scan.mask]
    single = float(np.mean(np.isnan(values)))
    values = values[np.isfinite(values)]
    summary = (f"window spread median {np.median(values):.3f}, 99th percentile {np.percentile(values, 99):.3f} in "
               f"log(I + 1) ({100 * single:.0f} % of the voxels in one window: no spread)" if values.size
               else "every voxel in one window: no spread")
    print(f"filled {int(scan.mask.sum()):,} voxels with {model_path.name}; {summary}; wrote {args.output}")
    return 0


def finetune_command(args) -> int:
    from . import finetune
    from .model import save_model

    _check_output(args.output, args.scan, (".keras",), "fine-tuned model")
    if args.model is not None and Path(args.model).resolve() == Path(args.output).resolve():
        raise CommandError(f"{args.output}: is the model to fine-tune; write the result to another file")
    scan = _read_scan(args)
    print(f"{scan.where}: {scan.describe()}", file=sys.stderr)
    model_path = _model_path(args, scan)
    result = finetune.finetune(_load(model_path, args.debug), scan.intensity, scan.mask, steps=args.steps,
                               batch_size=args.batch_size, learning_rate=args.learning_rate, windows=args.windows,
                               held_back=args.held_back, seed=args.seed)
    save_model(result.model, args.output)
    print(f"held-back PCC {result.pcc_before:.4f} -> {result.pcc_after:.4f} on {result.held_back_windows} windows "
          f"({result.train_windows} training windows, {result.steps} steps from {model_path.name}); wrote "
          f"{args.output}; use it with: braggsynth inpaint {args.scan} FILLED.cxi --model {args.output}")
    return 0


COMMANDS = {
    "inpaint": (inpaint_parser, inpaint_command, "fill the detector gaps of a rocking scan with a trained model"),
    "finetune": (finetune_parser, finetune_command, "fine-tune the inpainting model on a scan itself"),
}


def run_command(name: str, argv) -> int:
    make_parser, command, _ = COMMANDS[name]
    parser = make_parser()
    args = parser.parse_args(argv)
    setup_logging(args.log, console_level=logging.WARNING)
    try:
        _check_arguments(parser, args)
        return command(args)
    except (CommandError, OSError, ValueError) as error:
        if args.debug:
            raise
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"braggsynth {name}: error: {message}", file=sys.stderr)
        return 1


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:
        return run_command(argv[0], argv[1:])
    if argv[:1] == ["--version"]:
        from . import __version__

        print(__version__)
        return 0
    print("usage: braggsynth {" + ",".join(COMMANDS) + ",--version} ...\n")
    for name, (_, _, text) in COMMANDS.items():
        print(f"  {name:10s} {text}")
    return 0 if not argv or argv[0] in ("-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main())
