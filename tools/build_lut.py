#!/usr/bin/env python3
"""Measure every op configuration of a search space on this device and write lut/<device>.json.

    tools/build_lut.py --device 1080ti [--config configs/search/X.yaml] [--out PATH] [--resume] [--quick]

Same as ``tnd lut build``; see ``--help``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from tnd.cli.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["lut", "build", *sys.argv[1:]]))
