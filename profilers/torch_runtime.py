"""Latency with PyTorch: a module run eagerly in eval mode, as users who deploy with PyTorch run it.

On CUDA each call is timed with CUDA events after warm-up and a synchronisation, one inference at a
time (synchronised after each call, as ONNX Runtime's I/O-bound runs are), so the figure is a single
inference's latency rather than a pipelined throughput. Where the module can be captured, calls are
CUDA-graph replays (no Python or launch cost per kernel); a module that cannot be captured is run
eagerly instead and the reason is kept in ``notes`` -- never a silent change, and never a move to the
CPU. On the CPU calls are timed with ``perf_counter`` at a fixed intra-op thread count.

The per-call overhead has the same meaning as ONNX Runtime's: the cost of the smallest call (one
copy of one float), which every per-part entry pays once and a whole network pays once.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from typing import Any, Sequence

from profilers.devices import MIN_CC_FOR_CUDA
from profilers.errors import ProfilerError
from profilers.latency import sample_calls, time_calls
from profilers.stats import LatencyStats

MODES = ("eager", "cuda-graph")


@dataclass(frozen=True)
class TorchSettings:
    device: str = "cpu"              # "cpu" or "cuda:N"
    threads: int | None = 1          # CPU intra-op threads (torch.set_num_threads; None: torch's default)
    cuda_graphs: bool = True         # replay a captured CUDA graph where the module allows
    cudnn_benchmark: bool = True     # let cuDNN pick the fastest algorithm during warm-up, as ORT's search does

    def __post_init__(self) -> None:
        if self.device != "cpu" and not (self.device.startswith("cuda:") and self.device[5:].isdigit()):
            raise ProfilerError(f"torch runtime device must be 'cpu' or 'cuda:N', got {self.device!r}")

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")

    @property
    def device_id(self) -> int:
        return int(self.device[5:]) if self.is_cuda else 0

    @property
    def provider(self) -> str:
        """What executes the calls, in the place ONNX Runtime names its execution provider."""
        return f"torch-{'cuda' if self.is_cuda else 'cpu'}"

    @property
    def timing(self) -> str:
        return "cuda-events, synchronised per call" if self.is_cuda else "perf_counter"

    def provider_options(self) -> dict:
        return {"device_id": self.device_id} if self.is_cuda else {}


def check_torch_stack(preset: Any, device_id: int = 0) -> None:
    """Before measuring on a GPU preset with torch: a CUDA build of torch that sees the card and runs on it."""
    if preset.kind != "gpu":
        return
    import torch

    if not torch.cuda.is_available():
        build = f"a CUDA {torch.version.cuda} build" if torch.version.cuda else "a CPU-only build"
        raise ProfilerError(f"torch {torch.__version__} is {build} and sees no CUDA GPU; install a CUDA build of "
                            "torch for this card (or measure with --runtime onnxruntime)")
    if device_id >= torch.cuda.device_count():
        raise ProfilerError(f"GPU index {device_id} asked, but torch sees {torch.cuda.device_count()} GPU(s); "
                            "pass a smaller --gpu-index")
    major = int(str(torch.version.cuda).split(".")[0]) if torch.version.cuda else None  # None: a ROCm build
    need = MIN_CC_FOR_CUDA.get(major)
    if need and preset.cc and preset.cc < need:
        raise ProfilerError(f"{preset.name} is compute capability {preset.compute_capability} but "
                            f"torch is a CUDA {torch.version.cuda} build, which needs sm_{need[0]}{need[1]}+; install "
                            "a CUDA 12 build (pip install torch --index-url https://download.pytorch.org/whl/cu126)")


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0][:200] if text else ''}".rstrip(": ")


class TorchModel:
    """A module in eval mode on one device with its inputs there; a call is one inference, finished.

    ``mode`` is ``cuda-graph`` when calls replay a captured graph, else ``eager``; ``notes`` says why a
    CUDA module runs eagerly although graphs were asked for.
    """

    def __init__(self, module: Any, inputs: Sequence[Any], settings: TorchSettings):
        import torch

        self.settings = settings
        self.device = torch.device(settings.device)
        if settings.is_cuda:
            if not torch.cuda.is_available():
                raise ProfilerError(f"asked for {settings.device} but torch sees no CUDA GPU; install a CUDA build "
                                    "of torch or use --device cpu")
            torch.cuda.set_device(self.device)
            torch.backends.cudnn.benchmark = settings.cudnn_benchmark
        elif settings.threads and torch.get_num_threads() != settings.threads:
            torch.set_num_threads(settings.threads)  # process-wide, as the measurement needs
        self.module = module.eval().to(self.device)
        self.inputs = tuple(x.to(self.device) for x in inputs)
        self.mode, self.graph_fallback = "eager", None
        self._graph = None
        if settings.is_cuda and settings.cuda_graphs:
            try:
                self._graph = self._capture()
                self.mode = "cuda-graph"
            except Exception as e:  # capture refuses many things (host syncs, CPU ops): all mean "run eagerly"
                self.graph_fallback = f"CUDA-graph capture failed, timed eagerly: {_one_line(e)}"
                torch.cuda.synchronize(self.device)

    def _eager(self) -> Any:
        import torch

        with torch.no_grad():
            return self.module(*self.inputs)

    def _capture(self) -> Any:
        import torch

        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):  # warm-up off the default stream, as capture requires
            for _ in range(3):
                self._eager()
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._static_out = self._eager()
        torch.cuda.synchronize(self.device)
        return graph

    def launch(self) -> None:
        """Queue one inference (returns before a GPU has finished it)."""
        if self._graph is not None:
            self._graph.replay()
        else:
            self._eager()

    def __call__(self) -> None:
        """One finished inference: energy meters and warm-up loops call this."""
        self.launch()
        if self.settings.is_cuda:
            import torch

            torch.cuda.synchronize(self.device)

    @property
    def notes(self) -> dict[str, Any]:
        """How the calls ran, for the table entry: the mode and, where graphs were refused, why."""
        if not self.settings.is_cuda:
            return {}
        return {"mode": self.mode, **({"graph_fallback": self.graph_fallback} if self.graph_fallback else {})}

    def sample_calls(self, repeats: int, min_seconds: float = 0.0) -> list[float]:
        """Milliseconds of single calls: CUDA events on a GPU, ``perf_counter`` on the CPU."""
        if not self.settings.is_cuda:
            return sample_calls(self.launch, repeats, min_seconds)
        import time

        import torch

        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize(self.device)
        samples: list[float] = []
        t0 = time.perf_counter()
        while len(samples) < repeats or time.perf_counter() - t0 < min_seconds:
            start.record()
            self.launch()
            end.record()
            end.synchronize()
            samples.append(float(start.elapsed_time(end)))
            if len(samples) >= 100 * max(repeats, 1):
                break
        return samples

    def outputs(self) -> list[Any]:
        """The module's outputs on the inputs, on the CPU (for checks against other runtimes)."""
        out = self._eager()
        return [t.detach().cpu().numpy() for t in (out if isinstance(out, (tuple, list)) else (out,))]


def measure_torch_overhead(settings: TorchSettings, warmup: int = 50, repeats: int = 500) -> LatencyStats:
    """Fixed cost of one call (module dispatch, launch, synchronisation): one copy of one float."""
    import torch

    class Copy(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.clone()

    return time_calls(TorchModel(Copy(), (torch.zeros(1),), settings), warmup, repeats)


def torch_runtime_info(settings: TorchSettings) -> dict[str, Any]:
    """What a table's ``runtime`` section records for the torch runtime."""
    import torch

    info: dict[str, Any] = {"name": "torch", "torch": torch.__version__, "provider": settings.provider,
                            "device": settings.device, "threads": None if settings.is_cuda else settings.threads,
                            "timing": settings.timing, "python": platform.python_version()}
    if settings.is_cuda:
        info.update(cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(), cuda_graphs=settings.cuda_graphs,
                    cudnn_benchmark=settings.cudnn_benchmark, cudnn_tf32=torch.backends.cudnn.allow_tf32,
                    matmul_tf32=torch.backends.cuda.matmul.allow_tf32)
    return info
