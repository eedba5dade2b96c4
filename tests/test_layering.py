"""Imports run one way: every tnd module imports only its own layer or lower, and profilers never imports tnd.

Layers, low to high: ground (the single-file modules at tnd/'s top: errors, atomic, schema, ...) < space, data
< lut < costs < deploy < search < cli; the package's own ``tnd/__init__.py`` is the public facade on top.
Every import counts, including those inside functions and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_LAYERS = {"space": 1, "data": 1, "lut": 2, "costs": 3, "deploy": 4, "search": 5, "cli": 6}
GROUND, FACADE = 0, 7


def layer_of(module: str) -> tuple[str, int]:
    """(layer name, rank) of a dotted tnd module name."""
    parts = module.split(".")
    if parts == ["tnd"]:
        return "the tnd facade (tnd/__init__.py)", FACADE
    top = parts[1]
    if top == "__main__":
        return "cli", PACKAGE_LAYERS["cli"]
    if top in PACKAGE_LAYERS:
        return top, PACKAGE_LAYERS[top]
    if (ROOT / "tnd" / f"{top}.py").is_file():
        return "ground", GROUND
    raise AssertionError(f"tnd.{top} is neither a known package layer nor a ground module: give it a layer")


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every absolute module an import statement in ``path`` names (``from tnd import x`` -> tnd.x when x is
    a module or package, else tnd itself)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    own = module_name(path).split(".")
    package = own if path.name == "__init__.py" else own[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            for a in node.names:
                candidate = f"{base}.{a.name}"
                is_module = (ROOT / Path(*candidate.split("."))).with_suffix(".py").is_file() or \
                    (ROOT / Path(*candidate.split("."))).is_dir()
                found.append((node.lineno, candidate if is_module else base))
    return found


def python_files(top: str) -> list[Path]:
    return sorted(p for p in (ROOT / top).rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", python_files("tnd"), ids=lambda p: str(p.relative_to(ROOT)))
def test_tnd_module_imports_only_its_layer_or_lower(path):
    me = module_name(path)
    my_layer, my_rank = layer_of(me)
    wrong = []
    for line, target in imported_modules(path):
        if target != "tnd" and not target.startswith("tnd."):
            continue
        layer, rank = layer_of(target)
        if rank > my_rank:
            wrong.append(f"line {line}: {target} ({layer}) from {me} ({my_layer})")
    assert not wrong, "imports against the layering: " + "; ".join(wrong)


@pytest.mark.parametrize("path", python_files("profilers"), ids=lambda p: str(p.relative_to(ROOT)))
def test_profilers_never_import_tnd(path):
    tnd_imports = [f"line {line}: {t}" for line, t in imported_modules(path) if t == "tnd" or t.startswith("tnd.")]
    assert not tnd_imports, f"{path.name} imports tnd: " + "; ".join(tnd_imports)


def test_the_check_catches_a_function_level_import_of_a_higher_layer():
    """The checker itself: a lut module importing the search inside a function is reported."""
    fake = ROOT / "tnd" / "lut" / "_layering_probe.py"
    fake.write_text("def f():\n    from tnd.search.config import SearchConfig\n    return SearchConfig\n")
    try:
        with pytest.raises(AssertionError, match=r"tnd\.search\.config \(search\) from tnd\.lut\._layering_probe"):
            test_tnd_module_imports_only_its_layer_or_lower(fake)
    finally:
        fake.unlink()
