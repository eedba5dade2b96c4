"""Measuring models on hardware: device presets and detection, ONNX Runtime timing, energy meters.

This package knows nothing about NAS and never imports ``tnd``.
"""

from profilers.errors import ProfilerError

__all__ = ["ProfilerError"]
