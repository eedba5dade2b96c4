"""The runtimes a model can be measured with, and ONNX Runtime from whichever distribution is installed.

The names are here, in a module that imports nothing heavy, so that ``tnd --help`` can list them
without importing torch.

``onnxruntime`` (CPU) and ``onnxruntime-gpu`` (CPU and NVIDIA GPUs) install the same module and must not be
installed together, so neither is a hard dependency: a missing one is a one-line error naming both.
"""

from __future__ import annotations

from types import ModuleType

from profilers.errors import ProfilerError

RUNTIMES: tuple[str, ...] = ("onnxruntime", "torch")
DEFAULT_RUNTIME = "onnxruntime"


def import_onnxruntime() -> ModuleType:
    try:
        import onnxruntime
    except ImportError:
        raise ProfilerError("onnxruntime is not installed: pip install onnxruntime (CPU only) or onnxruntime-gpu "
                            "(NVIDIA GPUs and CPU), e.g. pip install 'tnd[cpu]' or 'tnd[gpu]'") from None
    return onnxruntime
