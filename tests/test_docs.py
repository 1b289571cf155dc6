"""The documentation site builds, as `make docs` builds it, with every Sphinx warning an error."""

import importlib.util
import re
import subprocess
import sys

import pytest
from conftest import REPO

DOCS = REPO / "docs"


@pytest.mark.skipif(any(importlib.util.find_spec(name) is None for name in ("sphinx", "myst_parser", "furo")),
                    reason="the docs extra is not installed (pip install -e '.[docs]'): sphinx, myst-parser, furo")
def test_the_documentation_builds_without_a_warning(tmp_path):
    # The Makefile's command (-W: a warning is an error), one process, into a fresh folder so nothing is cached.
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-j", "1", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
        capture_output=True, text=True, timeout=600)
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    assert result.returncode == 0, "\n".join(warnings) or result.stderr[-3000:]
    for page in ("index", "getting-started", "commands/inpaint", "commands/phase", "models/inpainting",
                 "models/inpainting_wide", "results/real-space", "api/simulate"):
        assert (tmp_path / "html" / f"{page}.html").is_file(), page
    # The commands' options are generated from braggsynth.cli's parsers, the model cards included from their files.
    assert "--interval-level" in (tmp_path / "html" / "commands" / "phase.html").read_text()
    for name in ("inpainting", "inpainting_wide"):
        commit = re.search(r"[0-9a-f]{40}", (REPO / "src" / "braggsynth" / "models" / f"{name}.md").read_text())
        assert commit and commit.group() in (tmp_path / "html" / "models" / f"{name}.html").read_text(), name
