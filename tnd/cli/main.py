"""`tnd` entry point: subcommands register themselves; user errors print one line and exit 2.

Nothing heavy is imported here or in the subcommands' ``register``: each ``run`` imports what it needs,
so ``tnd --help`` does not import torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from tnd.cli.formatting import TndParser
from tnd.version import __version__

# Each module defines ``register(subparsers)``, which adds its parser and sets ``func(args) -> int``.
COMMANDS = ("search", "derive", "train", "export", "bench", "lut", "result", "status")


def build_parser() -> argparse.ArgumentParser:
    parser = TndParser(
        prog="tnd",
        description="Hardware-aware NAS: progressive supernet search with policy-gradient alpha, "
                    "measured latency/energy lookup tables, training and ONNX deployment.",
        epilog="Presets: --config and --device take a preset name (shipped with tnd, or your own in "
               "$TND_PRESETS, default ~/.config/tnd/{search,train,devices,lut}/) or a file path.")
    parser.add_argument("--version", action="version", version=f"tnd {__version__}",
                        help="print tnd's version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"tnd.cli.{name}").register(sub)
    return parser


def user_errors() -> tuple[type[BaseException], ...]:
    from profilers.errors import ProfilerError
    from tnd.errors import TndError

    return (TndError, ProfilerError)


def main(argv: list[str] | None = None) -> int:
    from tnd.preemption import EXIT_PREEMPTED, Preempted

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except Preempted as e:
        print(f"tnd: stopped on request: {e}", file=sys.stderr)
        return EXIT_PREEMPTED
    except user_errors() as e:
        print(f"tnd: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tnd: interrupted (anything already written is complete; use --resume where offered)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
