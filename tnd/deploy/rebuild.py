"""The network an exported model describes, rebuilt as a torch module from its tnd metadata.

``tnd bench --runtime torch`` times what a PyTorch deployment runs: the same genotype at the same
shape, in eval mode. The weights are the initial ones, not the trained ones the ONNX file holds:
a convolutional network's latency does not depend on its weight values (no data-dependent control
flow), so the ONNX file's metadata is all the rebuild needs.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from tnd.errors import TndError
from tnd.space.genotype import Genotype
from tnd.space.network import build_network


def network_from_metadata(meta: dict[str, Any], where: str = "the model") -> nn.Module:
    """The eval-mode network of ``meta``'s genotype and shape (as written by ``tnd export``)."""
    if "genotype" not in meta or "shape" not in meta:
        raise TndError(f"{where} has no tnd genotype/shape metadata, so torch cannot rebuild it; export it with "
                       "`tnd export` or bench it with --runtime onnxruntime")
    s = meta["shape"]
    net = build_network(Genotype.from_dict(meta["genotype"]), channels=int(s["channels"]), layers=int(s["layers"]),
                        num_classes=int(s["num_classes"]), auxiliary=False, in_channels=int(s["in_channels"]),
                        input_size=int(s["input_size"]))
    net.drop_path_prob = 0.0
    return net.eval()
