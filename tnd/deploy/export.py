"""`tnd export`: a trained network as ONNX, checked, verified against PyTorch, and self-describing.

The file is only written once onnxruntime agrees with PyTorch, so a model.onnx on disk has always
passed verification; its metadata carries the genotype so a deployed file can be traced to its search.
"""

from __future__ import annotations

import copy
import io
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from profilers.runtime import import_onnxruntime
from tnd import atomic
from tnd.deploy.checkpoint import load_checkpoint, model_from_checkpoint
from tnd.errors import TndError
from tnd.space.network import Network, count_parameters
from tnd.space.plan import NetworkShape
from tnd.version import __version__

INPUT_NAME, OUTPUT_NAME = "input", "logits"
MIN_OPSET = 11
MAX_OPSET = 20   # the highest the TorchScript exporter (dynamo=False) supports


@dataclass
class ExportReport:
    path: Path
    opset: int
    max_abs_diff: dict[int, float]        # batch size -> max |onnxruntime - PyTorch| over the logits
    metadata: dict[str, Any] = field(default_factory=dict)
    input_shape: tuple[int, int, int] = (3, 32, 32)


def _checkpoint_metadata(ckpt: dict[str, Any]) -> dict[str, Any]:
    metrics = ckpt.get("metrics") or {}
    meta: dict[str, Any] = {"genotype": ckpt["genotype"], "shape": ckpt["shape"], "dataset": ckpt.get("dataset"),
                            "epochs_trained": ckpt.get("epoch")}
    if "params" in metrics:
        meta["params"] = metrics["params"]
    if metrics.get("test_accuracy") is not None:
        meta["test_accuracy"] = metrics["test_accuracy"]
    return {k: v for k, v in meta.items() if v is not None}


def _resolve(source: nn.Module | dict[str, Any] | str | Path,
             input_shape: Sequence[int] | None) -> tuple[nn.Module, tuple[int, ...], dict[str, Any]]:
    """The model to export (a private eval-mode copy), its input shape, and what is known about it."""
    if isinstance(source, (str, Path)):
        source = load_checkpoint(source)
    if isinstance(source, dict):
        model = model_from_checkpoint(source)
        shape = NetworkShape.from_dict(source["shape"]).input_chw()
        return model, shape, _checkpoint_metadata(source)
    if not isinstance(source, nn.Module):
        raise TypeError(f"export_onnx needs a module, a checkpoint dict or a checkpoint path, got {type(source)}")
    model = copy.deepcopy(source)
    meta: dict[str, Any] = {}
    if isinstance(model, Network):
        model.drop_path_prob = 0.0
        meta = {"shape": model.shape.to_dict(), "params": count_parameters(model)}
        shape = tuple(input_shape) if input_shape is not None else model.shape.input_chw()
    elif input_shape is None:
        raise TndError("export_onnx: input_shape=(C, H, W) is needed for a module that is not a tnd Network")
    else:
        shape = tuple(input_shape)
    return model, shape, meta


def _export_bytes(model: nn.Module, shape: tuple[int, ...], opset: int) -> bytes:
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings():
            # Only the batch axis is dynamic, so shape checks traced as constants (odd H/W padding) hold.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            # dynamo=False is deliberate: the TorchScript exporter is ~10x faster for these static CNNs.
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(model, (torch.zeros(1, *shape),), buf, dynamo=False, opset_version=opset,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
    except (ValueError, torch.onnx.errors.OnnxExporterError) as e:
        raise TndError(f"ONNX export at opset {opset} failed: {str(e).splitlines()[0][:200]}; "
                       "try another --opset") from None
    return buf.getvalue()


def _verify(model: nn.Module, onnx_bytes: bytes, shape: tuple[int, ...], batches: Sequence[int],
            seed: int) -> dict[int, float]:
    """Max abs difference of the logits, onnxruntime (CPU) against PyTorch, per batch size."""
    ort = import_onnxruntime()

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(seed)
    diffs: dict[int, float] = {}
    for b in batches:
        x = torch.randn(b, *shape, generator=generator)
        with torch.no_grad():
            expected = model(x)
        got = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0]
        diffs[int(b)] = float((torch.from_numpy(got) - expected).abs().max())
    return diffs


def export_onnx(model_or_checkpoint: nn.Module | dict[str, Any] | str | Path, path: str | Path,
                input_shape: Sequence[int] | None = None, metadata: dict[str, Any] | None = None,
                opset: int = 17, tolerance: float = 1e-4, check_batches: Sequence[int] = (1, 4),
                seed: int = 0) -> ExportReport:
    """Export, check, verify at each batch size in ``check_batches``, then write ``path`` atomically.

    A checkpoint (path or loaded dict) supplies the input shape and metadata (genotype, shape,
    dataset, params, test accuracy); ``metadata`` adds to or overrides it. Values are stored as JSON.
    """
    import onnx

    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise TndError(f"opset must be an integer from {MIN_OPSET} to {MAX_OPSET}, got {opset!r}")
    if not tolerance > 0:
        raise TndError(f"tolerance must be positive, got {tolerance!r}")
    if not check_batches or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in check_batches):
        raise TndError(f"check_batches must be positive integers, got {list(check_batches)!r}")
    model, shape, meta = _resolve(model_or_checkpoint, input_shape)
    if len(shape) != 3 or any(not isinstance(d, int) or d < 1 for d in shape):
        raise TndError(f"input_shape must be (C, H, W) positive integers, got {shape!r}")
    model.eval()
    meta = {**meta, **(metadata or {}), "input_shape": list(shape), "tnd_version": __version__}

    proto = onnx.load_from_string(_export_bytes(model, shape, opset))
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = str(key), json.dumps(value)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as e:
        raise TndError(f"exported ONNX model fails the checker: {str(e).splitlines()[0][:200]}") from None
    data = proto.SerializeToString()
    diffs = _verify(model, data, shape, check_batches, seed)
    worst = max(diffs, key=lambda b: diffs[b])
    if not diffs[worst] <= tolerance:
        raise TndError(f"onnxruntime disagrees with PyTorch by {diffs[worst]:.3g} at batch {worst} "
                       f"(tolerance {tolerance:g}); {path} was not written. Try another --opset")
    out = atomic.write_bytes(path, data)
    return ExportReport(path=out, opset=opset, max_abs_diff=diffs, metadata=meta, input_shape=shape)


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata_props of an ONNX file, JSON values decoded (others kept as strings)."""
    import onnx

    p = Path(path)
    if not p.is_file():
        raise TndError(f"ONNX file {p} not found")
    try:
        proto = onnx.load(str(p), load_external_data=False)
    except Exception as e:  # protobuf raises its own DecodeError type; any failure means "not ONNX"
        raise TndError(f"{p} is not a readable ONNX model ({type(e).__name__})") from None
    out: dict[str, Any] = {}
    for entry in proto.metadata_props:
        try:
            out[entry.key] = json.loads(entry.value)
        except json.JSONDecodeError:
            out[entry.key] = entry.value
    return out
