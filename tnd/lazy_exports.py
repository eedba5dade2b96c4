"""A package's public names, imported on first use (PEP 562), so a light module of the package stays light.

``tnd.costs`` and ``tnd.search`` export names whose modules import torch; the CLI's ``--help`` reads
light modules of both (the objective registry, the reward's help texts) and must not pay for torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any, Callable, Mapping


def lazy_getattr(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """The package's ``__getattr__``: ``exports`` maps each public name to the module that defines it."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(exports[name]), name)

    return __getattr__
