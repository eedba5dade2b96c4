"""Where the computation runs (``auto|cpu|cuda[:N]``) and how: mixed precision and cuDNN autotuning.

This is the *compute* device, where tensors live while searching or training. It is not the device
preset a lookup table was measured on (``h100``, ``cpu``...), which names the hardware whose costs
are optimised; the two often differ (search on a GPU for a phone's CPU). Asking for CUDA where there
is none is an error, never a quiet run on the CPU.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from tnd.errors import TndError

COMPUTE_CHOICES = "auto (CUDA when available), cpu, cuda or cuda:N"
_SPEC = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_compute_spec(spec: str) -> str:
    """``spec`` if it is one of auto, cpu, cuda, cuda:N (syntax only: nothing is probed)."""
    if not isinstance(spec, str) or not _SPEC.fullmatch(spec):
        raise TndError(f"compute device must be {COMPUTE_CHOICES}, got {spec!r}")
    return spec


def resolve_compute(spec: str = "auto", local_rank: int | None = None) -> Any:
    """The torch.device ``spec`` names. ``auto``/``cuda`` take GPU ``local_rank`` (torchrun's LOCAL_RANK) when
    given, else GPU 0; ``cuda:N`` is taken as written."""
    import torch

    spec = check_compute_spec(spec)
    if spec == "cpu" or (spec == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        why = "a CPU-only build" if not torch.version.cuda else f"a CUDA {torch.version.cuda} build that finds no GPU"
        raise TndError(f"compute device {spec} asked, but torch {torch.__version__} is {why}; use --compute cpu "
                       "(or auto), or run on a machine with an NVIDIA GPU and a CUDA build of torch")
    index = int(spec[5:]) if spec.startswith("cuda:") else (local_rank or 0)
    count = torch.cuda.device_count()
    if index >= count:
        raise TndError(f"compute device cuda:{index} asked, but this machine has {count} GPU(s) "
                       f"(cuda:0{f' to cuda:{count - 1}' if count > 1 else ''})")
    return torch.device("cuda", index)


def configure_backends(device: Any) -> dict[str, Any]:
    """Per-process settings for fast training on ``device``: cuDNN autotuning on CUDA (shapes are static)."""
    import torch

    if device.type != "cuda":
        return {"cudnn_benchmark": False}
    torch.cuda.set_device(device)
    torch.backends.cudnn.benchmark = True
    return {"cudnn_benchmark": True}


def describe_compute(device: Any) -> str:
    """``cuda:0 (NVIDIA H100 80GB HBM3)`` or ``cpu (4 thread(s))``: for run headers."""
    import torch

    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} thread(s))"


@dataclass(frozen=True)
class AmpPolicy:
    """Mixed precision for one device: bf16 autocast, fp16 autocast with a GradScaler, or off."""

    device_type: str           # "cuda" or "cpu"
    dtype: str | None          # "bfloat16", "float16", or None (off: float32 throughout)
    reason: str

    @property
    def enabled(self) -> bool:
        return self.dtype is not None

    @property
    def needs_scaler(self) -> bool:
        """fp16 underflows small gradients unless the loss is scaled; bf16 has float32's range and does not."""
        return self.dtype == "float16"

    def autocast(self) -> Any:
        """The context to run forward passes (and losses) in; a no-op when off."""
        import torch

        dtype = getattr(torch, self.dtype) if self.dtype else None
        return torch.autocast(device_type=self.device_type, dtype=dtype, enabled=self.enabled)

    def grad_scaler(self) -> Any:
        """A GradScaler, enabled only for fp16 (disabled, it passes losses and steps through unchanged)."""
        import torch

        return torch.amp.GradScaler(self.device_type, enabled=self.needs_scaler)

    def describe(self) -> str:
        return {"bfloat16": "bf16 autocast", "float16": "fp16 autocast + GradScaler"}.get(self.dtype or "", "off") \
            + f" ({self.reason})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def choose_amp(device_type: str, capability: tuple[int, int] | None, enabled: bool = True) -> AmpPolicy:
    """The policy for a device type and (CUDA) compute capability: bf16 from Ampere (8.0) on, fp16 before."""
    if not enabled:
        return AmpPolicy(device_type, None, "turned off")
    if device_type != "cuda":
        return AmpPolicy(device_type, None, f"float32 on {device_type}")
    if capability is not None and tuple(capability) >= (8, 0):
        return AmpPolicy("cuda", "bfloat16", f"compute capability {capability[0]}.{capability[1]} has bf16")
    cc = f"{capability[0]}.{capability[1]}" if capability else "unknown"
    return AmpPolicy("cuda", "float16", f"compute capability {cc} has no bf16")


def amp_policy(device: Any, enabled: bool = True) -> AmpPolicy:
    """Mixed precision for ``device``: on by default on GPUs, off on the CPU or when ``enabled`` is False."""
    import torch

    capability = torch.cuda.get_device_capability(device) if device.type == "cuda" and enabled else None
    return choose_amp(device.type, capability, enabled)
