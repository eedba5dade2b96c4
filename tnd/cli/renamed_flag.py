"""A flag that was renamed: still read under its old name, with a one-line note naming the new one."""

from __future__ import annotations

import argparse
import sys

from tnd.errors import TndError


def read_renamed(args: argparse.Namespace, old: str, new: str, command: str, meaning: str) -> None:
    """Move ``--old``'s value to ``--new`` (noting it on stderr); refuse the two when they disagree."""
    value, current = getattr(args, old, None), getattr(args, new, None)
    if value is None:
        return
    if current is not None and current != value:
        raise TndError(f"--{old} {value} and --{new} {current} disagree; --{old} is the old name of --{new}: "
                       f"give --{new} alone")
    print(f"{command}: --{old} is now --{new} ({meaning}); reading --{new} {value}", file=sys.stderr)
    setattr(args, new, value)
