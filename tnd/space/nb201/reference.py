"""NB201's reference networks: the fixed set whose measured costs describe a device.

Chosen once for the space (never per device or per run), so a new device needs only these measurements
to be described to a conditioned policy (``tnd.search.conditioned.device_features``): ten cells, the
four uniform ones (each real op on all six edges: a per-op signature, like a tiny lookup table) and six
mixed cells that tie the ops together in the ways real cells do. ``none`` everywhere is left out: its cell has no path
from input to output, so its latency measures only the stem and the head.
"""

from __future__ import annotations

from tnd.space.nb201.arch import NB201_OPS, NB201Arch

_MIXED = (
    ("nor_conv_3x3", "nor_conv_3x3", "skip_connect", "nor_conv_1x1", "none", "nor_conv_3x3"),
    ("skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "nor_conv_3x3", "skip_connect"),
    ("nor_conv_1x1", "avg_pool_3x3", "nor_conv_1x1", "none", "nor_conv_3x3", "nor_conv_1x1"),
    ("avg_pool_3x3", "nor_conv_3x3", "none", "nor_conv_3x3", "skip_connect", "avg_pool_3x3"),
    ("nor_conv_3x3", "none", "nor_conv_1x1", "skip_connect", "avg_pool_3x3", "nor_conv_3x3"),
    ("nor_conv_1x1", "skip_connect", "avg_pool_3x3", "nor_conv_3x3", "nor_conv_1x1", "none"),
)

REFERENCE_ARCHS: tuple[NB201Arch, ...] = (
    *(NB201Arch((op,) * 6) for op in NB201_OPS if op != "none"),
    *(NB201Arch(ops) for ops in _MIXED),
)
