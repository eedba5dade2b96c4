"""``--set key.path=value``: change one setting of a config without copying the preset.

The value is read as a YAML scalar (``1e-3``, ``true``, ``null``, ``[8, 5, 3]``, ``2ms``), the key is the
setting's dotted path in the config file (``weights.lr``, ``derive.evaluate``, ``epochs``).
"""

from __future__ import annotations

import argparse
from typing import Any

import yaml

from tnd.errors import TndError


def add_set_option(p: argparse.ArgumentParser, example: str) -> None:
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", dest="set",
                   help=f"override one config setting (repeatable; value read as YAML), e.g. --set {example}")


def parse_set(items: list[str]) -> dict[str, Any]:
    """``["weights.lr=1e-3", "derive.evaluate=supernet"]`` -> ``{"weights.lr": 0.001, ...}`` (later wins)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise TndError(f"--set: cannot read {item!r}; write KEY.PATH=VALUE, e.g. --set weights.lr=0.01")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            raise TndError(f"--set {key}: {text!r} is not a YAML value; quote it, e.g. --set '{key}=\"{text}\"'") \
                from None
        if isinstance(value, dict):
            raise TndError(f"--set {key}: give one setting per --set (KEY.PATH=VALUE), not a mapping")
        out[key] = value
    return out
