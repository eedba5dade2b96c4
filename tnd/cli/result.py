"""`tnd result`: work with finished search results (parses flags, calls tnd.search)."""

from __future__ import annotations

import argparse


def run_merge(args: argparse.Namespace) -> int:
    from tnd.search.merge import merge_results
    from tnd.search.run import summary_table

    result = merge_results(args.runs, args.out)
    print(summary_table(result))
    for w in result["warnings"]:
        print(f"WARNING: {w}")
    print(f"merged {len(result['genotypes'])} members of {len(args.runs)} runs: {args.out}/result.json, "
          f"plot: {args.out}/pareto.png")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from tnd.result_file import load_result
    from tnd.search.merge import result_path
    from tnd.search.run import summary_table

    print(summary_table(load_result(result_path(args.run))))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("result", help="merge or show finished search results",
                       description="Work with finished `tnd search` results (run folders or result.json files).")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    m = actions.add_parser("merge", help="join runs of members of one series (tnd search --member) into one result",
                           description="Join finished runs of members of one Pareto series into one result.json "
                                       "(members in series order, front and normalised hypervolume recomputed over "
                                       "the union with the runs' shared ranges) and pareto.png.")
    m.add_argument("runs", nargs="+", metavar="RUN",
                   help="a finished run folder or its result.json; their configs may differ only in the member")
    m.add_argument("--out", required=True, help="folder for the merged result.json and pareto.png (must not hold a "
                   "result yet)")
    m.set_defaults(func=run_merge)
    s = actions.add_parser("show", help="print a result's summary table",
                           description="Print the summary table of a finished search result.")
    s.add_argument("run", metavar="RUN", help="a finished run folder or its result.json")
    s.set_defaults(func=run_show)
