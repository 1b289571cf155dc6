"""Command line: ``braggsynth inpaint`` and ``braggsynth finetune``, and the logging set-up of the workflow's scripts.

``braggsynth inpaint SCAN OUTPUT``: fill the detector gaps of a rocking scan
(the mask from ``--mask FILE``, ``--detector NAME --roi Y0 X0``, the file's
own mask, or found in the data) with the shipped model for its widest gap, or
``--model``.  ``braggsynth phase SCAN OUT.cxi``: phase retrieval of the scan
with cohere-core, its gaps found the same way and held in a mode (zero, free,
forced to the model's fill, inside its calibrated interval or that interval
narrowed where the gap is blind, PyNX's recipes, or decided per scan).
``braggsynth finetune SCAN OUT.keras``: fine-tune the model on the scan
itself.  ``braggsynth --version``.

Parsing and argument errors never import the deep-learning stack, so
``--help`` answers at once.  Every error is one line on stderr and exit
status 1 (2 for a bad argument); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
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


def _int_at_least(minimum: int):
    """An argparse type: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


_positive_int, _non_negative_int = _int_at_least(1), _int_at_least(0)


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
    from braggsynth.simulate.detector import PRESETS

    parser = OneLineParser(prog=prog, description=description)
    with_layout = sorted(name for name, preset in PRESETS.items() if preset.frame_px is not None)
    parser.add_argument("scan", help="the rocking scan: CXI/HDF5, .npy, .npz or TIFF stack, (z, y, x) photons")
    parser.add_argument("--key", help="dataset of the intensity (HDF5 default entry_1/instrument_1/detector_1/data, "
                                      "else entry_1/data_1/data; .npz default data)")
    masks = parser.add_argument_group(
        "gaps", "the voxels to fill: --mask, else --detector, else the file's own mask, else found in the data "
                "(stripes of zeros, NaN or sentinel values such as -1 or 2^32 - 1 through every frame)")
    masks.add_argument("--mask", metavar="FILE", help="mask file (HDF5/CXI, .npy, .npz, TIFF), 2D (y, x) or 3D, "
                                                     "nonzero in the gaps")
    masks.add_argument("--mask-key", help="dataset of the mask in --mask FILE, or in the scan file")
    masks.add_argument("--detector", choices=with_layout, help="the detector's gap layout")
    masks.add_argument("--roi", nargs=2, type=int, metavar=("Y0", "X0"),
                       help="row and column of the scan's first pixel on the detector frame (with --detector)")
    masks.add_argument("--fill-masked", action="store_true",
                       help="also fill the scan file's masked voxels outside the gap stripes (aliens, bad pixels); "
                            "by default they stay unmeasured, unfilled, and free in phasing")
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
                        help="also mark the filled voxels missing in the CXI pixel mask (entry_1/instrument_1/"
                             "detector_1/mask): phasing programs then ignore the inpainted values")
    _interval_arguments(parser)
    parser.add_argument("--choose-mode", action="store_true",
                        help="also decide, as braggsynth phase --gaps auto does, whether phasing should leave the "
                             "gaps free or hold them in the fill's narrowed interval (a short phasing of the --crop "
                             "cube around the maximum: a few seconds at 64^3 on 2 cores)")
    parser.add_argument("--crop", type=_positive_int, default=64, metavar="N",
                        help="side of the cube around the maximum that --choose-mode phases (default 64)")
    parser.add_argument("--finetune", action="store_true",
                        help="fine-tune the model on the scan itself first, as braggsynth finetune does with its "
                             "defaults (a minute or two on 2 cores), and fill with it if it scores better on the "
                             "held-back windows, else with the model as it was")
    parser.add_argument("--finetune-steps", type=_positive_int, default=None, metavar="N",
                        help="training steps of --finetune (default: braggsynth finetune's)")
    return parser


def _interval_arguments(parser) -> None:
    from braggsynth.learn.uncertainty import LEVELS

    parser.add_argument("--tta", action="store_true",
                        help="test-time augmentation: average the model's fill over the 16 flips and y-x swaps "
                             "of each window (16 times the model's time; the intervals stay those calibrated on "
                             "the model alone)")
    parser.add_argument("--interval-level", type=float, choices=sorted(LEVELS), default=0.68,
                        help="level of the fill's calibrated interval (default 0.68)")
    parser.add_argument("--calibration", metavar="FILE",
                        help="the model's calibrated intervals "
                             "(JSON; default: beside the model, NAME.calibration.json)")


def phase_parser() -> argparse.ArgumentParser:
    from braggsynth.phase.phasing import DEFAULT_SEQUENCE
    from braggsynth.phase.reconstruction import FREE_BELOW, MODES

    parser = _command_parser(
        "braggsynth phase",
        "Phase retrieval of a rocking scan with cohere-core (ER, HIO, shrink-wrap), its detector gaps held in a "
        "mode; write the object, its support, the intensity used and the errors as CXI.",
        "CXI file to write (.cxi or .h5; never the scan itself)")
    parser.add_argument("--gaps", choices=MODES, default="auto", metavar="MODE",
                        help="what the modulus step does in the gaps: zero (forced to 0, as plain cohere), free (left "
                             "free, as PyNX by default), forced (forced to the model's fill), interval (kept inside "
                             "the fill's calibrated interval), narrowed (that interval narrowed voxel by voxel where "
                             "the gap hides the object: nearly forced deep inside a wide gap), mask-interp (PyNX's "
                             "mask_interp=8,2: within 0.5-1.2 of an inverse-distance interpolation; add --psf for the "
                             "recipe as beamline users run it), zero-mask (PyNX's zero_mask=auto: 0 for the first "
                             "60 %% of HIO, then free), auto (default: free when under "
                             f"{100 * FREE_BELOW:.0f} %% of the gap's power lies in modes at least half hidden from "
                             "the data, on the support of a short phasing, else narrowed)")
    parser.add_argument("--starts", type=_positive_int, default=3,
                        help="random starts; the one that agrees best with the others is kept (of two, the lower "
                             "final modulus error; default 3)")
    parser.add_argument("--seed", type=_non_negative_int, default=0, help="seed of the random starts (default 0)")
    parser.add_argument("--sequence", default=DEFAULT_SEQUENCE,
                        help=f"cohere algorithm sequence (default {DEFAULT_SEQUENCE}, shrink-wrap every iteration)")
    parser.add_argument("--shrink-wrap-threshold", type=_positive_float, default=0.1,
                        help="shrink-wrap threshold, of the blurred modulus' maximum (default 0.1)")
    parser.add_argument("--crop", type=_positive_int, metavar="N",
                        help="phase the N^3 cube around the intensity maximum (default: the whole scan)")
    parser.add_argument("--centre", nargs=3, type=_non_negative_int, metavar=("Z", "Y", "X"),
                        help="centre of the --crop cube (default: the intensity maximum), e.g. to hold a gap far "
                             "from the peak")
    parser.add_argument("--psf", action="store_true",
                        help="model the beam's partial coherence, as PyNX's psf=True: the data are compared with "
                             "|F|^2 convolved by a point spread fitted to the measured pixels as it goes")
    _interval_arguments(parser)
    parser.add_argument("--library", choices=("np", "torch", "cp"), default="np",
                        help="cohere's array library: numpy on the CPU (default), torch or cupy on a GPU")
    parser.add_argument("--gpu", type=int, default=-1, metavar="ID", help="GPU id with torch or cp (default: CPU)")
    parser.add_argument("--threads", type=_positive_int, default=os.cpu_count() or 1,
                        help="FFT threads on the CPU (default: all cores)")
    parser.add_argument("--figure", metavar="PNG", help="also draw central modulus and phase slices")
    return parser


def finetune_parser() -> argparse.ArgumentParser:
    from braggsynth.learn import finetune

    parser = _command_parser(
        "braggsynth finetune",
        "Fine-tune an inpainting model on windows of the scan itself, away from its gaps, with artificial gaps "
        "of the real gaps' widths; score it on held-back windows before and after.",
        "the fine-tuned model to write (.keras)")
    parser.add_argument("--steps", type=_positive_int, default=finetune.DEFAULT_STEPS,
                        help=f"training steps (default {finetune.DEFAULT_STEPS})")
    parser.add_argument("--batch-size", type=_positive_int, default=8, help="windows per step (default 8)")
    parser.add_argument("--windows", type=_positive_int, default=finetune.DEFAULT_WINDOWS,
                        help=f"training windows, from the first half of the rocking axis (of the longer detector "
                             f"axis when the rocking axis is short) (default {finetune.DEFAULT_WINDOWS})")
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
    if getattr(args, "sequence", None) is not None:
        from braggsynth.phase.phasing import iterations

        iterations(args.sequence)
        if args.library != "np":
            import importlib.util

            module = {"torch": "torch", "cp": "cupy"}[args.library]
            if importlib.util.find_spec(module) is None:
                raise CommandError(f"--library {args.library}: {module} is not installed")
        if args.gpu >= 0 and args.library == "np":
            parser.error("--gpu needs --library torch or cp")
        if args.figure is not None and Path(args.figure).suffix.lower() != ".png":
            raise CommandError(f"{args.figure}: the figure must end in .png")


def _check_model_file(path) -> int:
    """The window side of a model file, after checking (without loading it) that it is a braggsynth model."""
    from braggsynth.models import window_of

    path = Path(path)
    if not path.is_file():
        raise CommandError(f"{path}: no such model file")
    return window_of(path)


def _check_output(output, scan, suffixes, what: str) -> None:
    from braggsynth.data.scans import same_file
    from braggsynth.io import remove_stale_partials

    output = Path(output)
    if output.suffix.lower() not in suffixes:
        raise CommandError(f"{output}: the {what} must end in {' or '.join(suffixes)}")
    if same_file(scan, output):
        raise CommandError(f"{output}: is the scan itself; write the result to another file")
    if not output.parent.is_dir():
        raise CommandError(f"{output}: folder {output.parent} does not exist")
    if output.is_dir():
        raise CommandError(f"{output}: is a folder; give the {what}'s file name")
    for partial in remove_stale_partials(output):
        print(f"{output}: removed {partial.name}, left by an interrupted write", file=sys.stderr)
    if output.exists():
        print(f"{output}: exists; it is replaced once the new file is complete", file=sys.stderr)


def _read_scan(args, require_gap: bool = True):
    from braggsynth.data.scans import read_scan

    return read_scan(args.scan, key=args.key, mask_path=args.mask, mask_key=args.mask_key,
                     detector=args.detector, roi=args.roi, require_gap=require_gap, fill_masked=args.fill_masked)


def _model_path(args, mask) -> Path:
    """``--model``, else the shipped model for the mask's widest gap."""
    from braggsynth.models import shipped_model_for
    from braggsynth.simulate.gaps import gap_width_px

    if args.model is not None:
        return Path(args.model)
    path = shipped_model_for(gap_width_px(mask))
    if not path.is_file():
        raise CommandError(f"{path}: the shipped model is missing from this installation; give --model")
    return path


def _import_deep_learning(debug: bool = False) -> None:
    """Import the deep-learning stack with its C++ start-up lines kept off the terminal.

    TensorFlow prints them to the stderr file descriptor before its own log
    settings apply, so that descriptor is sent to a temporary file during the
    import; the lines are shown if the import fails, and always with ``debug``.
    """
    if debug or "braggsynth.learn.model" in sys.modules:
        import braggsynth.learn.model

        return
    import tempfile

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import braggsynth.learn.model  # noqa: F401
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
    from braggsynth.learn.model import load_model

    return load_model(path)


def _symmetrised(model, tta: bool):
    from braggsynth.learn.model import Symmetrised

    return Symmetrised(model) if tta else model


def _finetuned(model, scan, model_name: str, steps: int | None = None):
    """The model fine-tuned on the scan (``inpaint --finetune``, ``steps`` training steps or finetune's default)
    when that lifts its held-back score, else as it was."""
    from braggsynth.learn import finetune

    original = model.get_weights()
    result = finetune.finetune(model, scan.intensity, scan.mask | scan.masked,
                               steps=finetune.DEFAULT_STEPS if steps is None else steps)
    scores = (f"held-back PCC {result.pcc_before:.4f} -> {result.pcc_after:.4f} on {result.held_back_windows} "
              f"windows ({result.train_windows} training windows, {result.steps} steps)")
    if result.pcc_after > result.pcc_before:
        print(f"fine-tuned {model_name} on the scan: {scores}", file=sys.stderr)
        return model
    model.set_weights(original)
    print(f"fine-tuning did not help ({scores}): filling with {model_name} as it was", file=sys.stderr)
    return model


def inpaint_command(args) -> int:
    import numpy as np

    from braggsynth import io
    from braggsynth.inpaint import inpaint
    from braggsynth.phase import reconstruction

    _check_output(args.output, args.scan, (".cxi", ".h5", ".hdf5"), "output")
    if args.finetune_steps is not None and not args.finetune:
        raise CommandError(f"--finetune-steps {args.finetune_steps}: give --finetune too")
    scan = _read_scan(args)
    print(f"{scan.where}: {scan.describe()}", file=sys.stderr)
    model_path = _model_path(args, scan.mask)
    window = _check_model_file(model_path)
    if args.stride is not None and args.stride > window:
        raise CommandError(f"--stride {args.stride}: at most the model's window, {window} voxels")
    calibration = _calibration(args, model_path)
    model = _load(model_path, args.debug)
    if args.finetune:
        model = _finetuned(model, scan, model_path.name, args.finetune_steps)
    model = _symmetrised(model, args.tta)
    filled, spread, lower, upper = inpaint(scan.intensity, scan.mask, model, stride=args.stride,
                                           batch_size=args.batch_size, with_spread=True, calibration=calibration,
                                           interval_level=args.interval_level, unmeasured=scan.masked)
    advice, choice = _mode_advice(args, scan, model, calibration)
    chosen = None if choice is None else {**(_decision(choice) or {"mode": choice.mode, "reason": choice.reason()}),
                                          "crop": args.crop}
    record = io.provenance({"input": str(args.scan), "key": args.key, "mask": args.mask, "mask_key": args.mask_key,
                            "detector": args.detector, "roi": args.roi, "mask_source": scan.mask_source,
                            "model": str(model_path), "stride": args.stride, "tta": args.tta,
                            "finetune": args.finetune,
                            "calibration": None if calibration is None else calibration.get("source", ""),
                            "interval_level": args.interval_level, "fill_masked": args.fill_masked,
                            "choose_mode": chosen})
    io.write_inpainted(args.output, filled, scan.mask, model_path=model_path, gap_as_mask=args.gap_as_mask,
                       unmeasured=scan.masked,
                       record=record, spread=spread, bounds=None if lower is None else (lower, upper),
                       interval_level=args.interval_level, geometry=io.read_geometry(args.scan))
    values = spread[scan.mask]
    single = float(np.mean(np.isnan(values)))
    values = values[np.isfinite(values)]
    summary = (f"window spread median {np.median(values):.3f}, 99th percentile {np.percentile(values, 99):.3f} in "
               f"log(I + 1) ({100 * single:.0f} % of the voxels in one window: no spread)" if values.size
               else "every voxel in one window: no spread")
    bounds = (f"; its {100 * args.interval_level:.0f} % interval beside it" if lower is not None
              else f"; no interval ({model_path.with_suffix('.calibration.json').name} not found)")
    left = (f"; {int(scan.masked.sum()):,} masked voxels left unfilled, masked in the output"
            if scan.masked.any() else "")
    print(f"filled {int(scan.mask.sum()):,} voxels with {model_path.name}{bounds}{left}; {summary}; "
          f"wrote {args.output}")
    share = reconstruction.gap_photon_share(filled, scan.mask)
    print(f"the gaps hold {100 * share:.1f} % of the photons (by the fill); {advice}")
    return 0


def _decision(choice) -> dict | None:
    """What ``--gaps auto`` decided and why, for a file's provenance (None for a mode given by the user)."""
    from braggsynth.phase import reconstruction

    if choice.hidden is None:
        return None
    return {"mode": choice.mode, "reason": choice.reason(), "free_below": reconstruction.FREE_BELOW,
            "support_sequence": reconstruction.SUPPORT_SEQUENCE, "unconstrained_modes": choice.hidden.record()}


def _mode_advice(args, scan, model, calibration):
    """What ``braggsynth phase --gaps auto`` would choose for the scan (with --choose-mode), or how to ask:
    (one line, the :class:`braggsynth.phase.reconstruction.Choice` or None)."""
    if not args.choose_mode:
        return ("narrow gaps on bright peaks phase best left free, wide or photon-starved ones filled: "
                "--choose-mode (or braggsynth phase --gaps auto) chooses for this scan"), None
    import numpy as np
    import scipy.fft

    from braggsynth.phase import reconstruction
    from braggsynth.report.evaluate import peak_window

    window = peak_window(scan.intensity, args.crop)
    if not scan.mask[window].any():
        return (f"no gap in the {args.crop}^3 cube around the maximum: braggsynth phase --crop {args.crop} needs "
                "no fill"), None
    volume, gap = scan.intensity[window], scan.mask[window]
    fill = reconstruction.model_fill(model, calibration, args.interval_level)(np.where(gap, 0.0, volume), gap)
    with scipy.fft.set_workers(os.cpu_count() or 1):
        choice = reconstruction.decide_mode(volume, gap, fill, free=scan.masked[window] & ~gap)
    return f"braggsynth phase --gaps auto --crop {args.crop} would choose {choice.reason()}", choice


def _calibration(args, model_path):
    """The model's calibration (``--calibration``, else NAME.calibration.json beside the model), or None."""
    from braggsynth.learn.uncertainty import read_calibration

    path = Path(args.calibration) if args.calibration else model_path.with_suffix(".calibration.json")
    if args.calibration and not path.is_file():
        raise CommandError(f"{path}: no such calibration file")
    return read_calibration(path) if path.is_file() else None


def phase_command(args) -> int:
    import numpy as np
    import scipy.fft

    from braggsynth import io
    from braggsynth.phase import phasing, reconstruction
    from braggsynth.phase.unconstrained import unconstrained_modes
    from braggsynth.report.evaluate import peak_window

    _check_output(args.output, args.scan, (".cxi", ".h5", ".hdf5"), "output")
    scan = _read_scan(args, require_gap=False)
    intensity, gap, masked, window = scan.intensity, scan.mask, scan.masked, None
    if args.centre is not None and args.crop is None:
        raise CommandError("--centre needs --crop N: it centres the N^3 cube phased")
    if args.centre is not None and any(c >= n for c, n in zip(args.centre, intensity.shape)):
        raise CommandError(f"--centre {' '.join(map(str, args.centre))}: outside the scan of shape {intensity.shape}")
    if args.crop is not None:
        window = peak_window(intensity, args.crop, args.centre)
        intensity, gap, masked = intensity[window], gap[window], masked[window]
    around = "the maximum" if args.centre is None else f"({', '.join(map(str, args.centre))})"
    print(f"{scan.where}: {scan.describe()}" + (f"; phasing {intensity.shape} around {around}" if window else ""),
          file=sys.stderr)
    fill_function, model_path, calibration = None, None, None
    if gap.any() and args.gaps in reconstruction.MODEL_MODES:
        model_path = _model_path(args, gap)
        calibration = _calibration(args, model_path)
        if args.gaps in ("interval", "narrowed") and calibration is None:
            raise CommandError(f"{model_path}: has no calibration of its intervals for --gaps {args.gaps}; give "
                               f"--calibration FILE")
        model = _symmetrised(_load(model_path, args.debug), args.tta)
        fill_function = reconstruction.model_fill(model, calibration, args.interval_level)
    options = {"sequence": args.sequence, "shrink_wrap_threshold": args.shrink_wrap_threshold,
               "library": args.library, "device": args.gpu, "psf": args.psf}
    with scipy.fft.set_workers(args.threads):
        best, found, choice, fill = reconstruction.reconstruct(
            intensity, gap, mode=args.gaps, fill_function=fill_function, starts=args.starts, seed=args.seed,
            free=masked, progress=True, **options)
    used = np.where(gap, fill.filled if choice.mode == "forced" else 0.0, intensity)  # masked voxels: 0 already
    lower, upper = (fill.lower, fill.upper) if choice.mode in reconstruction.BOUNDED_MODES else (None, None)
    reason = choice.reason() if gap.any() else "no gap given or found: phased as it is"
    share = reconstruction.gap_photon_share(phasing.gap_fill(best.obj, intensity, gap), gap)
    hidden = unconstrained_modes(best.obj, best.support, gap)  # what of the gap the data cannot decide
    agreement = [phasing.compare(r.obj, best.obj)["modulus_pcc"] for r in found if r is not best]
    spread = None
    if best.psf is not None:
        from braggsynth.simulate.coherence import spread_widths

        spread = [round(float(w), 3) for w in spread_widths(best.psf)]
    record = io.provenance({"input": str(args.scan), "key": args.key, "mask": args.mask, "mask_key": args.mask_key,
                            "detector": args.detector, "roi": args.roi, "mask_source": scan.mask_source,
                            "crop": None if window is None else [[s.start, s.stop] for s in window],
                            "gaps": args.gaps, "model": None if model_path is None else str(model_path),
                            "tta": args.tta,
                            "interval_level": args.interval_level, "starts": args.starts, "seed": args.seed,
                            "start_agreement": [round(float(a), 4) for a in agreement],
                            **options, "gap_photon_share": share, "psf_widths_px": spread,
                            "unconstrained_modes": hidden.record(), "decision": _decision(choice)})
    io.write_reconstruction(args.output, best.obj, best.support, used, gap, mode=choice.mode, reason=reason,
                            errors=best.errors, start_errors=[r.error for r in found], lower=lower, upper=upper,
                            record=record, geometry=io.read_geometry(args.scan), crop=window,
                            scan_shape=scan.intensity.shape)
    if args.figure:
        from braggsynth.figures import real_space_slices

        real_space_slices({f"gaps {choice.mode}": best.obj}, args.figure,
                          title=f"{Path(args.scan).name}: gaps {choice.mode}, error {best.error:.4f}")
    print(f"{hidden.line()} (by the reconstruction's support)", file=sys.stderr)
    if spread is not None:
        print(f"partial coherence: fitted point spread of RMS widths {spread} px (z, y, x)", file=sys.stderr)
    kept = (f"kept from {len(found)} starts (the others' modulus PCC against it: "
            f"{', '.join(f'{a:.3f}' for a in agreement)}; under {reconstruction.STABLE_AGREEMENT}, they found "
            "different objects)" if agreement else "one start")
    print(f"gap mode {reason}; the gap holds {100 * share:.1f} % of the photons (by the reconstruction); modulus "
          f"error {best.error:.4f} after {best.errors.size} iterations, {kept}; start errors "
          f"{', '.join(f'{r.error:.4f}' for r in found)}; wrote {args.output}")
    return 0


def finetune_command(args) -> int:
    from braggsynth.learn import finetune

    _check_output(args.output, args.scan, (".keras",), "fine-tuned model")
    if args.model is not None and Path(args.model).resolve() == Path(args.output).resolve():
        raise CommandError(f"{args.output}: is the model to fine-tune; write the result to another file")
    scan = _read_scan(args)
    print(f"{scan.where}: {scan.describe()}", file=sys.stderr)
    model_path = _model_path(args, scan.mask)
    _check_model_file(model_path)
    model = _load(model_path, args.debug)
    from braggsynth.learn.model import save_model

    result = finetune.finetune(model, scan.intensity, scan.mask | scan.masked, steps=args.steps,
                               batch_size=args.batch_size, learning_rate=args.learning_rate, windows=args.windows,
                               held_back=args.held_back, seed=args.seed)
    save_model(result.model, args.output)
    print(f"held-back PCC {result.pcc_before:.4f} -> {result.pcc_after:.4f} on {result.held_back_windows} windows "
          f"({result.train_windows} training windows, {result.steps} steps from {model_path.name}); wrote "
          f"{args.output}; use it with: braggsynth inpaint {args.scan} FILLED.cxi --model {args.output}")
    return 0


COMMANDS = {
    "inpaint": (inpaint_parser, inpaint_command, "fill the detector gaps of a rocking scan with a trained model"),
    "phase": (phase_parser, phase_command, "phase a rocking scan with cohere-core, its gaps free, filled or chosen"),
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
    except (CommandError, OSError, ValueError, RuntimeError) as error:
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
        from braggsynth import __version__

        print(__version__)
        return 0
    print("usage: braggsynth {" + ",".join(COMMANDS) + ",--version} ...\n")
    for name, (_, _, text) in COMMANDS.items():
        print(f"  {name:10s} {text}")
    return 0 if not argv or argv[0] in ("-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main())
