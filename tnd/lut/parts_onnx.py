"""Parts and whole networks as ONNX models, exported exactly as inference runs them (eval mode, static shapes)."""

from __future__ import annotations

import io
import warnings

import torch
from torch import nn

from tnd.space.parts import PartKey, part_inputs, part_module

OPSET = 17


def module_onnx(module: nn.Module, inputs: tuple[torch.Tensor, ...], opset: int = OPSET) -> bytes:
    """ONNX bytes of ``module`` in eval mode at the inputs' static shapes (BN is folded by the runtime)."""
    module = module.eval()
    names = [f"x{i}" for i in range(len(inputs))]
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        # dynamo=False: the TorchScript exporter is ~10x faster for these static CNNs.
        torch.onnx.export(module, inputs, buf, input_names=names, output_names=["y"], opset_version=opset,
                          dynamo=False)
    return buf.getvalue()


def part_onnx(key: PartKey, batch_size: int = 1, opset: int = OPSET) -> bytes:
    return module_onnx(part_module(key), part_inputs(key, batch_size), opset)
