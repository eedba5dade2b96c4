"""`tnd search`: progressive policy-gradient architecture search (parses flags, calls tnd.search)."""

from __future__ import annotations

import argparse
from typing import Any

from tnd.cli.launch import under_launcher
from tnd.cli.renamed_flag import read_renamed
from tnd.cli.set_option import add_set_option, parse_set
from tnd.errors import TndError
from tnd.search.reward import EXPONENT_HELP, FORMS, REWARD_FORM_HELP, TARGET_HELP, parse_exponent


def parse_assignments(text: str, flag: str) -> dict[str, str]:
    """``params=1.5M,latency=2ms`` -> {"params": "1.5M", "latency": "2ms"}."""
    out: dict[str, str] = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise TndError(f"{flag}: cannot read {item!r}; write COST=VALUE, e.g. {flag} params=1.5M,latency=2ms")
        out[key.strip()] = value.strip()
    return out


def parse_preference(text: str) -> dict[str, Any]:
    """``small:params=0.5M@-0.6,latency=1ms`` -> a preference with targets and optional exponents."""
    name, sep, body = text.partition(":")
    if not sep or not name.strip():
        raise TndError(f"--preference: cannot read {text!r}; write NAME:COST=TARGET[@EXPONENT],..., "
                       "e.g. --preference small:params=0.5M@-0.6")
    targets, exponents = {}, {}
    for cost, value in parse_assignments(body, "--preference").items():
        target, at, exp = value.partition("@")
        targets[cost] = target
        if at:
            exponents[cost] = parse_exponent(exp)
    return {"name": name.strip(), "targets": targets, "exponents": exponents}


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    """Flags as dotted config overrides; the config loader drops the file's settings for unrewarded costs."""
    read_renamed(args, "device", "hardware", "tnd search",
                 "the hardware whose costs are optimised; where the search computes is --compute")
    o: dict[str, Any] = {}
    for flag, key in (("name", "name"), ("space", "space"), ("dataset", "dataset"), ("data_dir", "data_dir"),
                      ("seed", "seed"), ("hardware", "cost.device"), ("compute", "compute"), ("amp", "amp"), ("lut", "cost.lut"), ("mode", "weights.mode"),
                      ("reward_form", "reward.form"), ("energy", "reward.energy"), ("strategy", "strategy"),
                      ("accuracy_scale", "reward.accuracy")):
        if getattr(args, flag) is not None:
            o[key] = getattr(args, flag)
    if args.strict_lut:
        o["cost.strict_lut"] = True
    if args.allow_estimates:
        o["cost.allow_estimates"] = True
    if args.reward is not None:
        o["reward.objectives"] = [t.strip() for t in args.reward.split(",") if t.strip()]
    if args.target is not None:
        o.update({f"reward.targets.{c}": v for c, v in parse_assignments(args.target, "--target").items()})
    if args.exponent is not None:
        exps = {k: parse_exponent(v) for k, v in parse_assignments(args.exponent, "--exponent").items()}
        o.update({f"reward.exponents.{c}": v for c, v in exps.items()})
    prefs = list(args.preference or [])
    if args.preferences:
        prefs += [t for t in (x.strip() for x in args.preferences.split(";")) if t]
    if prefs:
        o["preferences"] = [parse_preference(p) for p in prefs]
    return o


def run_tabular(args: argparse.Namespace) -> int:
    """``--tabular``: accuracy and costs read from a table (NAS-Bench-201 style) instead of a supernet and a LUT."""
    from tnd.schema import from_data
    from tnd.search.config import PreferenceConfig, RewardConfig
    from tnd.search.conditioned import ConditionedSettings
    from tnd.search.tabular import run_tabular_search

    if args.space != "nb201":
        raise TndError("--tabular reads NAS-Bench-201 architectures; add --space nb201")
    if not args.accuracy:
        raise TndError("--tabular needs --accuracy COLUMN (the table's accuracy column, in %), e.g. "
                       "--accuracy val_cifar10")
    costs = parse_assignments(args.cost or "", "--cost")
    if args.budget < 1:
        raise TndError(f"--budget must be at least 1, got {args.budget}")
    o = overrides_from(args)
    # the conditioned strategy has no reward form: each sample is scored by its own preference weights
    default_objectives = ["acc"] if args.strategy == "conditioned" else ["acc", *costs]
    reward: dict[str, Any] = {"objectives": o.get("reward.objectives", default_objectives)}
    for key, value in o.items():
        if key.startswith("reward.") and key != "reward.objectives":
            node, (*parents, leaf) = reward, key.split(".")[1:]
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
    # Read, not validated here: the tabular config validates the whole series (relative targets need the table).
    prefs = [from_data(PreferenceConfig, p, "--preference") for p in o.get("preferences", [])]
    out = args.out or f"runs/{args.name or 'tabular'}"
    devices = parse_assignments(args.devices or "", "--devices")
    if (devices or args.grid is not None) and args.strategy != "conditioned":
        raise TndError(f"{'--devices' if devices else '--grid'} is for --strategy conditioned (one policy for the "
                       "whole front); add it")
    settings = ConditionedSettings(**({"grid": args.grid} if args.grid is not None else {}))
    run_tabular_search(args.tabular, args.accuracy, costs, out, reward=from_data(RewardConfig, reward, "reward"),
                       preferences=prefs,
                       budget=args.budget, seed=args.seed or 0, probe=args.probe, name=args.name or "tabular",
                       strategy=args.strategy or "tnd", devices=devices, conditioned=settings)
    return 0


def run(args: argparse.Namespace) -> int:
    from tnd.presets import config_path
    from tnd.search.config import load_search_config
    from tnd.search.run import run_search

    from tnd.distributed import dist_env

    env = dist_env()
    if env.launched and (args.tabular or args.seeds is not None):
        raise TndError(f"{'--tabular' if args.tabular else '--seeds'} is not run under torchrun (only one supernet "
                       "search is split over processes); run it as one process")
    if args.tabular:
        if args.member is not None:
            raise TndError("--member runs one member of a supernet search's series; a --tabular search reads "
                           "the table once for the whole series, so leave --member out")
        return run_tabular(args)
    if args.devices:
        raise TndError("--devices trains one policy across a table's latency columns; it goes with --tabular (a "
                       "supernet search optimises its config's one cost model)")
    args.config = str(config_path(args.config, "search")) if args.config else None
    grid = {"conditioned.grid": args.grid} if args.grid is not None else {}
    cfg = load_search_config(args.config, {**overrides_from(args), **grid, **parse_set(args.set)})
    if grid and cfg.strategy != "conditioned":
        raise TndError("--grid is for --strategy conditioned (one policy for the whole front); add it")
    if args.member is not None:
        from tnd.search.config import select_member

        cfg = select_member(cfg, args.member)
    if args.dry_run:
        from tnd.search.run import plan_search

        if env.rank == 0:
            print(plan_search(cfg))
        return 0
    if args.download:
        from tnd.data import ensure_downloaded

        ensure_downloaded(cfg.dataset, cfg.data_dir)
    out = args.out or f"runs/{cfg.name}"
    if args.seeds is not None:
        from tnd.search.seeds import parse_seeds, run_seeds

        result = run_seeds(cfg, parse_seeds(args.seeds), out, run_search, resume=args.resume,
                           progress=not args.no_progress, tensorboard=args.tensorboard, preemptible=True)
    else:   # one process, or one search data-parallel over torchrun's processes (rank 0 writes the folder)
        result = under_launcher(cfg.compute, lambda: run_search(
            cfg, out, resume=args.resume, progress=not args.no_progress, tensorboard=args.tensorboard,
            preemptible=True))
    return 0 if result is not None else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="run the progressive policy-gradient architecture search",
                       description="Progressive supernet search (TND-NAS). A config file gives the settings; "
                                   "flags override it.")
    p.add_argument("--config", help="search preset name (demo, cifar10) or config file (default: built-in CIFAR-10 "
                   "settings)")
    add_set_option(p, "weights.lr=1e-3")
    p.add_argument("--name", help="run name (default from the config)")
    p.add_argument("--dataset", help="digits, cifar10 or cifar100")
    p.add_argument("--data-dir", help="folder holding the CIFAR files")
    p.add_argument("--download", action="store_true", help="fetch CIFAR into --data-dir if it is not there")
    p.add_argument("--seed", type=int, help="random seed of the search (data split, weights, samples)")
    p.add_argument("--seeds", metavar="S,S,...",
                   help="run the whole series once per seed (e.g. 0,1,2 or 0-4) into OUT/seed-S, then report each "
                        "member's mean and spread (OUT/seeds.json) and draw every seed's front (OUT/pareto_seeds.png)")
    p.add_argument("--member", metavar="NAME_OR_INDEX",
                   help="run only this member of the Pareto series (its preference name or 0-based index) into "
                        "--out, e.g. --member $SLURM_ARRAY_TASK_ID; with --seeds, this member of each seed's "
                        "series; join the members' runs with `tnd result merge`")
    p.add_argument("--strategy", choices=("tnd", "random", "conditioned"),
                   help="tnd: policy gradient on alpha; random: the equal-budget baseline (uniformly sampled "
                        "supernet, as many uniform samples scored as the policy scores, the best by the reward kept; with --tabular: "
                        "--budget uniformly random distinct cells read, each member the best of them by its reward); "
                        "conditioned: one policy conditioned on the preference (and, with --tabular, the device) for "
                        "the whole front in one run, one supernet trained once; derive any member afterwards with "
                        "`tnd derive RUN`")
    p.add_argument("--devices", metavar="NAME=COLUMN,...",
                   help="with --strategy conditioned: train one policy across these devices' latency columns (at "
                        "least two); a new device is then derived zero-shot from its reference networks")
    p.add_argument("--grid", type=int, metavar="K",
                   help="with --strategy conditioned: members derived at the end (default 5): the K preferences "
                        "of the refine grid (21) whose cells have the largest hypervolume by the values read, so "
                        "they spread along the front read (evenly spread K if fewer than K distinct front cells "
                        "are among them); result.json's conditioned.placement records the choice")
    p.add_argument("--space", choices=("darts", "nb201"),
                   help="search space (config key 'space', default darts): the DARTS cells or the NAS-Bench-201 cell, "
                        "each as a supernet trained on the data; nb201 with --tabular reads a table instead")
    p.add_argument("--tabular", metavar="FILE",
                   help="read accuracy and costs from a CSV (gzip allowed) whose 'arch' column holds NB201 strings, "
                        "instead of training a supernet (tabular benchmark mode)")
    p.add_argument("--accuracy", metavar="COLUMN", help="with --tabular: the column holding accuracy in %%")
    p.add_argument("--cost", metavar="NAME=COLUMN,...",
                   help="with --tabular: cost columns, e.g. latency=latency_ms_1080ti_1 (latency in ms, energy in "
                        "mJ, params, flops)")
    p.add_argument("--budget", type=int, default=300,
                   help="with --tabular: distinct architectures read in all (as NAS benchmarks count trained ones)")
    p.add_argument("--probe", type=int, default=0,
                   help="with --tabular: uniformly random architectures read first (within the budget), e.g. so "
                        "that relative targets (rNN) have rows to refer to")
    p.add_argument("--dry-run", action="store_true",
                   help="print the resolved plan (stages, op sets, rewards, cheapest and dearest network, steps) "
                        "and exit without training")
    p.add_argument("--out", help="run folder (default runs/<name>)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from its checkpoint")
    p.add_argument("--reward", help="objectives, accuracy first: acc,params | acc,latency,energy | ...")
    p.add_argument("--target", help=TARGET_HELP)
    p.add_argument("--exponent", help=EXPONENT_HELP)
    p.add_argument("--reward-form", choices=("auto", *FORMS), help=REWARD_FORM_HELP)
    p.add_argument("--accuracy-scale", choices=("fraction", "percent"),
                   help="the scale accuracy enters the reward on: a fraction in [0, 1] (default) or percent "
                        "(the TND-NAS authors' code)")
    p.add_argument("--energy", choices=("dynamic", "total"),
                   help="which energy the reward reads: above idle (default) or total; TDP estimates have only total")
    p.add_argument("--preference", action="append", metavar="NAME:COST=TARGET[@EXP],...",
                   help="one point of a Pareto series (repeat the flag for more); overrides targets/exponents")
    p.add_argument("--preferences", metavar="NAME:...;NAME:...",
                   help="a whole Pareto series in one flag, ';'-separated, e.g. "
                        "'fast:latency=0.08ms@-1;accurate:latency=0.3ms@-0.2'")
    p.add_argument("--hardware", metavar="PRESET",
                   help="the hardware whose costs are optimised: the device preset whose lookup table gives latency "
                        "and energy (lut/PRESET.json; default: this machine's GPU preset, else cpu)")
    p.add_argument("--device", metavar="PRESET", help="old name of --hardware (still accepted, with a note)")
    p.add_argument("--lut", help="lookup table path (overrides --hardware's default)")
    p.add_argument("--compute", metavar="auto|cpu|cuda[:N]",
                   help="where the supernet trains and scores samples (default: the config's, auto = the CUDA GPU "
                        "where there is one); not the hardware whose costs are optimised (--hardware)")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="mixed precision on a CUDA GPU: bf16 where supported, else fp16 with loss scaling "
                        "(default: on; a CPU always computes in float32)")
    p.add_argument("--strict-lut", action="store_true", help="a part missing from the table is an error")
    p.add_argument("--allow-estimates", action="store_true", help="accept a table whose energy is a TDP estimate")
    p.add_argument("--mode", choices=("sampled", "mixture"), help="train weights on the sampled path or the mixture")
    p.add_argument("--tensorboard", metavar="DIR", help="also log loss, entropy, reward, baseline, accuracy and "
                   "costs to TensorBoard in DIR (needs the tensorboard package); log.jsonl stays the record")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
