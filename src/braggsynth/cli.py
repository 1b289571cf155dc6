"""Command-line entry points and the logging set-up shared by the workflow's scripts."""

from __future__ import annotations

import argparse
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="braggsynth", description=__doc__)
    parser.add_argument("--version", action="store_true", help="print the package version")
    args = parser.parse_args(argv)
    if args.version:
        from . import __version__

        print(__version__)
    else:
        parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
