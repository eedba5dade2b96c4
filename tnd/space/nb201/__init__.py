"""The NAS-Bench-201 search space: cell record and strings, macro network, costed parts, supernet.

Importing this package registers NB201's structural parts (residual blocks, head) with
``tnd.space.parts.part_module``, so LUT builders can measure NB201 networks like DARTS ones.
"""

from tnd.space.nb201.arch import (EDGES, N_EDGES, NB201_OPS, NB201Arch, all_archs, is_connected, live_edges,
                                  random_arch, random_connected_arch)
from tnd.space.nb201.network import DATASET_SHAPES, NB201Network, NB201Shape, build_nb201_network
from tnd.space.nb201.parts import live_network_parts, network_parts, space_parts
from tnd.space.nb201.supernet import CELL_TYPES, NB201Supernet

__all__ = [
    "EDGES", "N_EDGES", "NB201_OPS", "NB201Arch", "all_archs", "is_connected", "live_edges", "random_arch",
    "random_connected_arch", "DATASET_SHAPES", "NB201Network", "NB201Shape", "build_nb201_network",
    "live_network_parts", "network_parts", "space_parts", "CELL_TYPES", "NB201Supernet",
]
