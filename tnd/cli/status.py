"""`tnd status RUN`: where a search or training run stands, as an exit code a job script can requeue on.

torchrun exits 1 when any worker fails, whatever the workers' own codes, so the 75 of a preempted run is lost
behind it; the run folder remembers the stop instead. A job script:
``torchrun ... -m tnd search --out R --resume ...; tnd status R`` then exits 75 exactly when a requeue is due.
"""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from tnd.deploy.train import CHECKPOINT, RESULT
    from tnd.result_file import RESULT_NAME
    from tnd.run_folder import run_state

    state = run_state(args.run, CHECKPOINT, {"search": RESULT_NAME, "training": RESULT})
    print(f"{args.run}: {state.state}: {state.detail}")
    return state.exit_code


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="say where a run folder stands; exit 0 finished, 75 stopped on request "
                                      "(requeue with --resume), 1 otherwise",
                       description="Where a `tnd search` or `tnd train` run folder stands. Exit code: 0 finished, "
                                   "75 stopped on request with its checkpoint written (requeue the same command "
                                   "with --resume), 1 not started or interrupted without a stop request, 2 no "
                                   "such folder. Use it after torchrun, which reports its own failure code "
                                   "instead of the workers' 75.")
    p.add_argument("run", metavar="RUN", help="the run's --out folder")
    p.set_defaults(func=run)
