"""docs/DESIGN.md's floors hold: every import in src/ (lazy ones inside functions too) goes
to a lower floor, every module has a floor, and the map names every file.

The floors are read from DESIGN.md itself, so the document and the code cannot drift
apart: moving a module, or an import that climbs, fails here until one of them changes.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "relulab"
DESIGN = ROOT / "docs" / "DESIGN.md"


def _floors() -> dict[str, int]:
    """``{unit: floor}`` from DESIGN.md's floor list (a unit: a top-level module or a
    package of src/relulab)."""
    text = DESIGN.read_text(encoding="utf-8")
    section = text.split("## Floors", 1)[1].split("## ", 1)[0]
    floors: dict[str, int] = {}
    for number, names in re.findall(r"^floor\s+(\d+)\s+(.+)$", section, re.M):
        for name in names.split():
            unit = name.removesuffix(".py").removesuffix("/")
            assert unit not in floors, f"{name} stands on two floors in DESIGN.md"
            floors[unit] = int(number)
    return floors


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""  # "": the package's face


MODULES = {_module(p): p for p in SRC.rglob("*.py")}


def _imports(module: str, path: Path) -> list[tuple[str, int, list[str]]]:
    """Every relulab module ``module`` imports, wherever in the file, with the line and the
    names taken."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
                for _ in range(node.level - 1):
                    package = package.rsplit(".", 1)[0]
                base = package + (f".{node.module}" if node.module else "")
            else:
                base = node.module or ""
            if base.split(".")[0] != "relulab":
                continue
            for alias in node.names:  # `from relulab import display` imports a module
                target = f"{base}.{alias.name}"
                out.append((target if target in MODULES else base, node.lineno,
                            [alias.name]))
        elif isinstance(node, ast.Import):
            out += [(a.name, node.lineno, []) for a in node.names
                    if a.name.split(".")[0] == "relulab"]
    return out


def test_every_module_has_a_floor_and_every_floor_a_module() -> None:
    floors = _floors()
    units = {_unit(m) for m in MODULES} - {""}
    assert sorted(units - set(floors)) == [], "modules without a floor in DESIGN.md"
    assert sorted(set(floors) - units) == [], "floors in DESIGN.md name no module"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _unit(m)))
def test_imports_go_down(module: str) -> None:
    floors = _floors()
    mine = floors[_unit(module)]
    for target, line, names in _imports(module, MODULES[module]):
        unit = _unit(target)
        if unit == _unit(module):
            continue  # a package's modules may import each other
        where = f"{MODULES[module].relative_to(ROOT)}:{line} imports {target}"
        if unit == "":
            assert names in ([], ["__version__"]), f"{where}: only __version__ from the face"
            continue
        assert floors[unit] < mine, (f"{where}, on floor {floors[unit]}, not below this "
                                     f"module's floor {mine}")


def test_the_face_imports_only_the_ground_at_import_time() -> None:
    tree = ast.parse((SRC / "__init__.py").read_text(encoding="utf-8"))
    eager = [n for n in tree.body if isinstance(n, ast.ImportFrom)
             and (n.module or "").startswith("relulab")]
    assert [n.module for n in eager] == ["relulab.errors"]


def test_the_map_names_every_file() -> None:
    section = DESIGN.read_text(encoding="utf-8").split("## The map", 1)[1].split("## ", 1)[0]
    missing = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
               if p.name != "__init__.py" and p.name not in section]
    assert missing == [], "files the map in DESIGN.md does not name"


def test_no_two_modules_share_a_name() -> None:
    names = [p.name for p in SRC.rglob("*.py") if p.name != "__init__.py"]
    assert sorted({n for n in names if names.count(n) > 1}) == []
