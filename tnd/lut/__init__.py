"""Lookup tables: the tnd-lut/1 file, building it on a device, the predictor, and checking it."""

from tnd.lut.table import FORMAT, LookupTable

__all__ = ["FORMAT", "LookupTable"]
