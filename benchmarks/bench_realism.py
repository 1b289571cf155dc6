"""The realism report of a run's noise-free peaks recorded with a detector recipe, against measured files.

Issue 26: how far a pretraining's recordings are from measured scans, and how far a recipe takes them. Every
peak of ``RUN/results/peaks`` (or the first ``--patterns``) is recorded with the ``detector:`` settings of
``--config`` (default ``RUN/config.yaml``; schema defaults filled in, ``--set KEY=VALUE`` changes one), exactly
as rule pattern_shard records it (same seeds), then put beside the run's measured files
(``RUN/results/measured/*/intensity.h5``) by :func:`braggsynth.report.realism.assess`. Prints the table and the
discriminator's balanced accuracy; ``--out`` keeps the Markdown, the JSON and the figure. Usage (today's
recipe against the one before, on the same peaks)::

    python benchmarks/bench_realism.py runs/pretrain --config config/pretrain.yaml
    python benchmarks/bench_realism.py runs/pretrain --set coherence_sigma_px=0 lorentzian_fraction=0 \\
        background=0 smooth_background=0 bad_pixel_fraction=0 aliens=[0,0]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from recipe import detector_settings, record_peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run's folder (config.yaml, results/peaks, results/measured)")
    parser.add_argument("--config", type=Path, help="the config whose detector: settings record the peaks")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="detector settings changed")
    parser.add_argument("--patterns", type=int, default=None, help="record only the first N peaks (sorted)")
    parser.add_argument("--stand-ins", type=int, default=8,
                        help="recordings that stand in for each measured file in turn (the discriminator's null)")
    parser.add_argument("--out", type=Path, help="folder for report.md, statistics.json and statistics.png")
    args = parser.parse_args()

    from tqdm import tqdm

    from braggsynth import figures, io
    from braggsynth.cli import setup_logging
    from braggsynth.report import realism

    setup_logging()
    settings, seed = detector_settings(args.config or args.run / "config.yaml", args.set)
    peaks = sorted((args.run / "results" / "peaks").glob("*/shard*/*.h5"))[:args.patterns]
    measured = [(path.parent.name, *io.read_measured(path))
                for path in sorted((args.run / "results" / "measured").glob("*/intensity.h5"))]
    if not peaks or not measured:
        raise SystemExit(f"{args.run}: needs results/peaks/*/shard*/*.h5 and results/measured/*/intensity.h5")
    print(f"{len(peaks)} peaks recorded with {settings}", flush=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        recordings = [record_peak(path, settings, seed, Path(folder))
                      for path in tqdm(peaks, desc="record", unit="pattern")]
        recorded_s = time.perf_counter() - t0

        def read():
            for path in recordings:
                recording = io.read_detector_pattern(path)
                yield f"{path.parents[1].name}/{path.stem}", recording["counts"], recording["bad"]

        found = realism.assess(read(), measured, seed=seed, stand_ins=args.stand_ins, progress=lambda items: tqdm(
            items, desc="realism", unit="recording", total=len(recordings)))
    markdown = realism.report_markdown(found)
    print(markdown)
    print(f"recording {recorded_s:.0f} s, report {time.perf_counter() - t0 - recorded_s:.0f} s")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.md").write_text(markdown)
        (args.out / "statistics.json").write_text(json.dumps(found, indent=1, default=float) + "\n")
        figures.realism_histograms(found, args.out / "statistics.png")


if __name__ == "__main__":
    main()
