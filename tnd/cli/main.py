"""`tnd` entry point: subcommands register themselves; user errors print one line and exit 2."""

from __future__ import annotations

import argparse
import importlib
import sys

# Each module defines ``register(subparsers)``, which adds its parser and sets ``func(args) -> int``.
COMMANDS = ("search", "train", "export", "bench", "lut")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tnd",
        description="Hardware-aware NAS: progressive supernet search with policy-gradient alpha, "
                    "measured latency/energy lookup tables, training and ONNX deployment.")
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
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except user_errors() as e:
        print(f"tnd: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tnd: interrupted (anything already written is complete; use --resume where offered)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
