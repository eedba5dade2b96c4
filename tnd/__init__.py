"""tnd: hardware-aware neural architecture search (TND-NAS) with measured latency and energy."""

from tnd.costs.predict import predict_costs
from tnd.deploy.export import export_onnx, read_metadata
from tnd.lut.table import LookupTable
from tnd.space import Architecture, Genotype, NetworkShape, build_network, count_parameters
from tnd.space.published import published_genotype
from tnd.version import __version__

__all__ = ["Architecture", "Genotype", "LookupTable", "NetworkShape", "build_network", "count_parameters",
           "export_onnx", "predict_costs", "published_genotype", "read_metadata", "__version__"]
