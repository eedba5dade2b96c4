"""The installed tnd's version (one place; the package, the CLI and export metadata read it)."""

__version__ = "0.1.0"
