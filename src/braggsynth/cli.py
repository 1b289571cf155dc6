"""Command-line entry points and the logging set-up shared by the workflow's scripts.

``braggsynth inpaint INPUT OUTPUT [--model PATH]``: fill the detector gaps of a
measured intensity with the shipped model or a trained one (see :func:`braggsynth.inpaint.inpaint_main`).
``braggsynth --version``: the package version.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def setup_logging(log_path=None) -> logging.Logger:
    """Log to ``log_path`` (a Snakemake ``log:`` file) and to stderr, INFO level."""
    handlers = [logging.StreamHandler(sys.stderr)]
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


COMMANDS = {"inpaint": "fill the detector gaps of a measured 3D intensity with a trained model"}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "inpaint":
        from .inpaint import inpaint_main

        return inpaint_main(argv[1:])
    if argv[:1] == ["--version"]:
        from . import __version__

        print(__version__)
        return 0
    print("usage: braggsynth {inpaint,--version} ...\n")
    for name, text in COMMANDS.items():
        print(f"  {name:10s} {text}")
    return 0 if not argv or argv[0] in ("-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main())
