"""The `result.json` contract of a search: its format stamp and a safe reader.

It sits below both the search (which writes it) and deployment (which reads genotypes from it), so
neither has to import the other.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tnd.errors import TndError

RESULT_FORMAT = "tnd-search-result/1"
RESULT_NAME = "result.json"


def is_result(data: Any) -> bool:
    return isinstance(data, dict) and data.get("format") == RESULT_FORMAT


def load_result(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise TndError(f"result file {p} not found") from None
    except json.JSONDecodeError as e:
        raise TndError(f"{p} is not valid JSON ({e.msg}, line {e.lineno}); was the search interrupted?") from None
    if not is_result(data):
        raise TndError(f"{p} is not a tnd search result ({RESULT_FORMAT})")
    return data
