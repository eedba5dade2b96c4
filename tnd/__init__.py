"""tnd: hardware-aware neural architecture search (TND-NAS) with measured latency and energy."""

from tnd.space import Architecture, Genotype, NetworkShape, build_network, count_parameters
from tnd.space.published import published_genotype
from tnd.deploy.export import export_onnx, read_metadata  # noqa: E402  (needs tnd.space first)

__version__ = "0.1.0"

__all__ = ["Architecture", "Genotype", "NetworkShape", "build_network", "count_parameters", "export_onnx",
           "published_genotype", "read_metadata", "__version__"]
