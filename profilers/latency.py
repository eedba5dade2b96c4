"""Latency with ONNX Runtime: the provider asked for (and checked), warm-up, repeats, median and spread.

The PyTorch runtime is ``profilers.torch_runtime``; both share ``sample_calls``/``time_calls`` and the stats.

On GPUs inputs and outputs are bound on the device (I/O binding), so host<->device copies are not timed
as the model; ``run_with_iobinding`` returns after the provider has synchronised. On CPUs the thread
count is fixed, because the default (all cores, spinning) makes timings bimodal on small machines.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from profilers.errors import ProfilerError
from profilers.runtime import import_onnxruntime
from profilers.stats import LatencyStats


@dataclass(frozen=True)
class RuntimeSettings:
    provider: str = "CPUExecutionProvider"
    threads: int | None = 1          # CPU intra-op threads (None: ONNX Runtime's default)
    device_id: int = 0

    def provider_options(self) -> dict:
        return {"device_id": self.device_id} if self.provider != "CPUExecutionProvider" else {}


class OrtModel:
    """An ONNX model loaded in one session on one provider, with its inputs ready to feed."""

    def __init__(self, model: bytes | str, settings: RuntimeSettings, inputs: Sequence[np.ndarray] | None = None,
                 seed: int = 0):
        ort = import_onnxruntime()

        self.settings = settings
        ort.set_default_logger_severity(3)
        if settings.provider != "CPUExecutionProvider" and hasattr(ort, "preload_dlls"):
            ort.preload_dlls()  # CUDA/cuDNN from the pip wheels torch installed, where present
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3  # fallback warnings are turned into errors below, not printed
        if settings.provider == "CPUExecutionProvider" and settings.threads:
            opts.intra_op_num_threads = settings.threads
            opts.inter_op_num_threads = 1
            opts.add_session_config_entry("session.intra_op.allow_spinning", "1")
        try:
            self.session = ort.InferenceSession(model, sess_options=opts,
                                                providers=[(settings.provider, settings.provider_options())])
        except Exception as e:  # onnxruntime raises its own Fail/InvalidArgument types
            raise ProfilerError(f"onnxruntime could not load the model on {settings.provider}: "
                                f"{str(e).splitlines()[0]}") from None
        ran = self.session.get_providers()
        if not ran or ran[0] != settings.provider:
            raise ProfilerError(f"asked for {settings.provider} but onnxruntime runs on {', '.join(ran) or 'nothing'} "
                                "(provider failed to load: check the CUDA/cuDNN install, or use --device cpu)")
        rng = np.random.default_rng(seed)
        metas = self.session.get_inputs()
        if inputs is None:
            inputs = [rng.standard_normal([d if isinstance(d, int) else 1 for d in m.shape]).astype(np.float32)
                      for m in metas]
        self.feeds = {m.name: np.ascontiguousarray(x) for m, x in zip(metas, inputs)}
        self._binding = self._bind() if settings.provider != "CPUExecutionProvider" else None

    def _bind(self):
        ort = import_onnxruntime()

        binding = self.session.io_binding()
        for name, x in self.feeds.items():
            binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(x, "cuda", self.settings.device_id))
        for out in self.session.get_outputs():
            binding.bind_output(out.name, "cuda", self.settings.device_id)
        return binding

    def __call__(self) -> None:
        if self._binding is not None:
            self.session.run_with_iobinding(self._binding)
        else:
            self.session.run(None, self.feeds)

    def outputs(self) -> list[np.ndarray]:
        return self.session.run(None, self.feeds)


def sample_calls(fn, repeats: int, min_seconds: float = 0.0) -> list[float]:
    """Milliseconds of each of ``repeats`` single calls (more until ``min_seconds`` have been sampled).

    A model that times itself (``TorchModel`` on CUDA, with CUDA events) provides its own ``sample_calls``,
    which is used instead of ``perf_counter`` around the call.
    """
    own = getattr(fn, "sample_calls", None)
    if own is not None:
        return own(repeats, min_seconds)
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < repeats or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - t0) / 1e6)
        if len(samples) >= 100 * max(repeats, 1):
            break
    return samples


def time_calls(fn, warmup: int = 10, repeats: int = 50, min_seconds: float = 0.0) -> LatencyStats:
    """Time ``fn`` call by call after warm-up; keep repeating until ``min_seconds`` of samples too."""
    for _ in range(warmup):
        fn()
    return LatencyStats.of(sample_calls(fn, repeats, min_seconds))


def identity_model_bytes() -> bytes:
    """The smallest model: one Identity on one float. Its latency is the runtime's per-call overhead."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "overhead",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = min(model.ir_version, 10)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def measure_call_overhead(settings: RuntimeSettings, warmup: int = 50, repeats: int = 500) -> LatencyStats:
    """Fixed cost of one ``run()`` call (binding, dispatch): every per-op entry pays it once, a network once."""
    return time_calls(OrtModel(identity_model_bytes(), settings), warmup, repeats)
