"""The package's layout shows the pipeline: every import of braggsynth runs down the stages, never back up."""

import ast

from conftest import REPO

PACKAGE = REPO / "src" / "braggsynth"
#: The stages from the bottom up; a module may import its own stage and those below it, nothing above.
STAGES = ("io", "seeds", "models", "simulate", "score", "figures", "data", "learn", "inpaint", "phase", "report",
          "config", "cli")


def stage_of(module: str) -> str:
    """The stage of a dotted module name under braggsynth (``braggsynth.simulate.detector`` -> ``simulate``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and not parts[1].startswith("_") else "braggsynth"  # __version__


def imports_of(path) -> set[str]:
    """The braggsynth modules a file imports (absolute imports: the package uses no relative ones)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("braggsynth"):
            assert node.level == 0, f"{path}: a relative import"
            found |= {f"{node.module}.{alias.name}" if node.module == "braggsynth" else node.module
                      for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("braggsynth.")}
    return found


def test_every_module_belongs_to_a_stage():
    modules = {path.stem if path.parent == PACKAGE else path.parent.relative_to(PACKAGE).parts[0]
               for path in PACKAGE.rglob("*.py") if path.name != "__init__.py" or path.parent != PACKAGE}
    assert modules == set(STAGES)


def test_imports_run_down_the_stages():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        if path.parent == PACKAGE and path.name == "__init__.py":
            continue
        importer = stage_of("braggsynth." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts))
        for module in imports_of(path):
            imported = stage_of(module)
            if imported != "braggsynth" and STAGES.index(imported) > STAGES.index(importer):
                upward.append(f"{path.relative_to(REPO)} ({importer}) imports {module} ({imported})")
    assert upward == []
