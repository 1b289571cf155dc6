"""Sphinx configuration of the braggsynth documentation: ``make docs`` builds it into docs/_build/html."""

import os
import sys
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # the package of this checkout, installed or not

import braggsynth  # noqa: E402

project = "braggsynth"
author = "The braggsynth developers"
copyright = "The braggsynth developers, BSD-3-Clause"
release = version = braggsynth.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Markdown pages: ::: fences for directives, heading anchors for [links](page.md#anchor).
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# numpy-style docstrings only: a line such as "Returns:" in prose is not a Google section.
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False

autodoc_member_order = "bysource"
autodoc_default_options = {"show-inheritance": True}  # :members: is given per module (docs/api/)
autodoc_typehints = "description"
# Command lines are quoted as typed: no en dashes for "--", no curly quotes.
smartquotes = False

html_theme = "furo"
html_title = f"braggsynth {release}"
html_static_path = ["_static"]

highlight_language = "text"  # an unlabelled code block is shown as it is


class CommandHelp(Directive):
    """``command-help NAME``: the ``--help`` of ``braggsynth NAME``, printed by braggsynth.cli's own parser.

    The options on the command pages are generated, so they cannot drift from the code.
    """

    required_arguments = 1

    def run(self):
        from braggsynth import cli

        make_parser = cli.COMMANDS[self.arguments[0]][0]
        columns = os.environ.get("COLUMNS")
        os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal's width: the same page everywhere
        try:
            text = make_parser().format_help()
        finally:
            if columns is None:
                del os.environ["COLUMNS"]
            else:
                os.environ["COLUMNS"] = columns
        return [nodes.literal_block(text, text)]


def setup(app):
    app.add_directive("command-help", CommandHelp)
    return {"parallel_read_safe": True}
