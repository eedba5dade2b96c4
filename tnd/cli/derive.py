"""`tnd derive RUN`: members of a finished conditioned search, for any preference and any device."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from tnd.search.conditioned_derive import derive_run

    device = args.device or "trained"
    out = args.out or f"{args.run.rstrip('/')}/derive-{device if not args.device_features else 'new-device'}"
    derive_run(args.run, out, args.preference or (), args.grid, args.device, args.device_features,
               args.latency_column, plot=not args.no_plot)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("derive", help="derive members of a finished conditioned search (any preference, any "
                       "device) in seconds",
                       description="Derive genotypes from a finished `tnd search --strategy conditioned` run for "
                                   "any preference, on a device it trained on or, from the reference networks' "
                                   "measurements alone (`tnd lut reference`), on a new one: no data, no training. "
                                   "Writes result.json and pareto.png like a series.")
    p.add_argument("run", metavar="RUN", help="the conditioned run's folder")
    p.add_argument("--preference", action="append", metavar="NAME=W,...",
                   help="a member's weights, e.g. latency=0.7 (the rest goes to accuracy); repeat for several")
    p.add_argument("--grid", type=int, metavar="K",
                   help="K members (default 5). On a device the run trained on, placed as the run placed its "
                        "own: the K preferences of its candidate grid (21) whose cells have the largest "
                        "hypervolume by the values the run read (no new read); K evenly spread preferences on "
                        "a new device (--device-features, nothing read on it), for K >= 21, or when fewer than "
                        "K distinct non-dominated cells were read among the candidates")
    p.add_argument("--device", help="a device the run trained on (default: the first)")
    p.add_argument("--device-features", metavar="FILE",
                   help="a new device's reference measurements (`tnd lut reference`): derive for it zero-shot")
    p.add_argument("--latency-column", metavar="COLUMN",
                   help="with --device-features: the new device's latency column in the run's table, to score "
                        "the derived cells (without it their latency is 'not measured')")
    p.add_argument("--out", help="output folder (default RUN/derive-DEVICE)")
    p.add_argument("--no-plot", action="store_true", help="no pareto.png")
    p.set_defaults(func=run)
