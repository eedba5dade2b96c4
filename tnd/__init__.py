"""tnd: hardware-aware neural architecture search (TND-NAS) with measured latency and energy."""

from tnd.space import Architecture, Genotype, NetworkShape, build_network, count_parameters

__version__ = "0.1.0"

__all__ = ["Architecture", "Genotype", "NetworkShape", "build_network", "count_parameters", "__version__"]
