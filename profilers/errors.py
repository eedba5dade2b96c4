"""Profiler errors: a problem with the device, the driver or the request, said in one line with the fix."""


class ProfilerError(Exception):
    """Raised for anything the user must fix (wrong device, missing NVML, provider fallback, ...)."""

    exit_code = 2
