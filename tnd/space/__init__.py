"""The search space: operations, genotypes, network plans and the evaluation network."""

from tnd.space.genotype import CANDIDATE_EDGES, N_EDGES, N_NODES, Architecture, CellArch, Edge, Genotype
from tnd.space.network import Network, build_network, count_parameters
from tnd.space.ops import OPS, PRIMITIVES, build_op, register_op
from tnd.space.plan import NetworkShape, plan_cells
from tnd.space.published import PUBLISHED, published_genotype
from tnd.space import nb201  # the NB201 space; importing it registers its parts with part_module

__all__ = [
    "CANDIDATE_EDGES", "N_EDGES", "N_NODES", "Architecture", "CellArch", "Edge", "Genotype", "Network",
    "build_network", "count_parameters", "OPS", "PRIMITIVES", "build_op", "register_op", "NetworkShape",
    "plan_cells", "PUBLISHED", "published_genotype", "nb201",
]
