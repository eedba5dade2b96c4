"""One --genotype argument for every place a genotype lives: a search result, a run folder, a file,
or a published name, so users never copy genotypes by hand between commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tnd.errors import TndError
from tnd.result_file import is_result, load_result
from tnd.space.genotype import Genotype
from tnd.space.published import PUBLISHED

FORMS = ("runs/X/result.json:INDEX", "runs/X/result.json (most accurate Pareto member)",
         "a run folder runs/X", "a genotype file (JSON or DARTS's Genotype(...) text)")


def _options() -> str:
    return "; ".join(FORMS) + f"; or a published name: {', '.join(PUBLISHED)}"


def _is_result(path: Path) -> bool:
    try:
        return is_result(json.loads(path.read_text()))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False


def _entry_description(path: Path, index: int, entry: dict[str, Any], how: str) -> str:
    pref = (entry.get("preference") or {}).get("name")
    acc = (entry.get("objectives") or {}).get("accuracy")
    details = ", ".join(x for x in (f"preference {pref}" if pref else "",
                                    f"val acc {acc:.4f}" if isinstance(acc, (int, float)) else "") if x)
    return f"{path} genotype [{index}] ({how}{', ' + details if details else ''})"


def _from_result(path: Path, index: int | None) -> tuple[Genotype, str]:
    result = load_result(path)
    entries = result.get("genotypes") or []
    if not entries:
        raise TndError(f"{path} lists no genotypes; the search produced nothing to train")
    if index is None:
        pareto = [i for i in result.get("pareto") or [] if isinstance(i, int) and 0 <= i < len(entries)]
        candidates = pareto or list(range(len(entries)))
        index = max(candidates, key=lambda i: entries[i].get("objectives", {}).get("accuracy", float("-inf")))
        how = "most accurate Pareto member" if pareto else "most accurate"
    else:
        if not -len(entries) <= index < len(entries):
            raise TndError(f"{path} has genotypes 0..{len(entries) - 1}, not index {index}; "
                           f"write {path}:N with N in that range")
        index %= len(entries)
        how = "chosen by index"
    arch = entries[index].get("genotype")
    if isinstance(arch, dict) and arch.get("space", "darts") != "darts":
        raise TndError(f"{path}: entry {index} is a {arch['space']} cell ({arch.get('arch', '?')}); tnd train trains "
                       "DARTS genotypes (build an NB201 cell with tnd.space.nb201.build_nb201_network)")
    return Genotype.from_dict(entries[index]["genotype"]), _entry_description(path, index, entries[index], how)


def resolve_genotype(spec: str) -> tuple[Genotype, str]:
    """The genotype ``spec`` names, and a one-line description of where it came from."""
    spec = spec.strip()
    if not spec:
        raise TndError(f"--genotype is empty; give one of: {_options()}")
    head, sep, tail = spec.rpartition(":")
    if sep and head and not Path(spec).exists():
        if Path(head).is_file():
            try:
                index = int(tail)
            except ValueError:
                raise TndError(f"--genotype {spec}: {tail!r} is not an index; write {head}:N") from None
            return _from_result(Path(head), index)
        if head.endswith(".json"):
            raise TndError(f"--genotype {spec}: result file {head} not found")
    path = Path(spec)
    if path.is_dir():
        result = path / "result.json"
        if not result.is_file():
            raise TndError(f"run folder {path} has no result.json (has its search finished?); "
                           f"give one of: {_options()}")
        return _from_result(result, None)
    if path.is_file():
        if _is_result(path):
            return _from_result(path, None)
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise TndError(f"cannot read genotype file {path} ({type(e).__name__}); give one of: {_options()}") \
                from None
        try:
            return Genotype.parse(text), f"{path}"
        except TndError as e:
            raise TndError(f"{path}: {e}; give one of: {_options()}") from None
    by_name = {name.lower(): name for name in PUBLISHED}
    name = by_name.get(spec.lower().replace("-", "_"))
    if name is not None:
        return PUBLISHED[name], f"published genotype {name}"
    raise TndError(f"--genotype {spec!r} is not a file, a run folder or a published genotype; "
                   f"give one of: {_options()}")
