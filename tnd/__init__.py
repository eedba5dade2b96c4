"""tnd: hardware-aware neural architecture search (TND-NAS) with measured latency and energy.

The public names load on first use (module ``__getattr__``), so ``import tnd`` and ``tnd --help`` do not
pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from tnd.version import __version__

# public name -> the module that defines it
_EXPORTS = {
    "Architecture": "tnd.space", "Genotype": "tnd.space", "NetworkShape": "tnd.space",
    "build_network": "tnd.space", "count_parameters": "tnd.space",
    "published_genotype": "tnd.space.published",
    "export_onnx": "tnd.deploy.export", "read_metadata": "tnd.deploy.export",
    "predict_costs": "tnd.costs.predict",
    "LookupTable": "tnd.lut.table",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tnd' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
