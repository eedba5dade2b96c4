"""Search configuration: dataclasses with the paper-like defaults, loaded from YAML and validated once."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from tnd.costs.objectives import ACCURACY
from tnd.compute import check_compute_spec
from tnd.errors import TndError
from tnd.schema import from_data, load_yaml, to_data
from tnd.search.conditioned import ConditionedSettings
from tnd.search.reward import Preference, RewardSpec
from tnd.search.spaces import SearchSpace, get_space
from tnd.space.nb201 import NB201_OPS
from tnd.space.ops import PRIMITIVES
from tnd.space.parts import PartKey
from tnd.space.plan import NetworkShape

# What a dataset's networks look like, known without loading it (LUT enumeration needs this).
DATASET_SHAPES: dict[str, dict[str, int]] = {
    "digits": {"in_channels": 1, "input_size": 8, "num_classes": 10},
    "cifar10": {"in_channels": 3, "input_size": 32, "num_classes": 10},
    "cifar100": {"in_channels": 3, "input_size": 32, "num_classes": 100},
}

@dataclass
class StageConfig:
    cells: int                 # supernet depth in this stage
    # candidate ops kept per edge during this stage: one count, or one per cell type ({normal: K, reduce: K};
    # NB201: {cell: K}). NB201: ``cells`` is N, the cells of each of its three stages (3N in the supernet).
    ops: int | dict[str, int]
    epochs: int
    warmup_epochs: int         # weights only, alpha frozen (guards against the "Matthew effect")

    def keep(self, cell: str) -> int:
        return self.ops if isinstance(self.ops, int) else self.ops[cell]


@dataclass
class OpsConfig:
    normal: list[str] = field(default_factory=lambda: list(PRIMITIVES))
    reduce: list[str] = field(default_factory=lambda: list(PRIMITIVES))
    cell: list[str] = field(default_factory=lambda: list(NB201_OPS))   # space: nb201, its one cell


@dataclass
class WeightsConfig:
    mode: Literal["sampled", "mixture"] = "sampled"   # sampled path (tnd) or softmax mixture (authors' code)
    batch_size: int = 64
    lr: float = 0.025
    lr_min: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    steps_per_epoch: int | None = None                # cap, for tiny runs; None = one pass over train


@dataclass
class PolicyConfig:
    samples: int = 10                  # architectures sampled per alpha step (M)
    alpha_every: int = 4               # one alpha step every k weight steps
    lr: float = 1e-2
    betas: tuple[float, float] = (0.5, 0.999)
    weight_decay: float = 1e-3
    baseline_decay: float = 0.95       # b <- b + decay * (mean R - b)
    entropy: float = 0.0               # entropy bonus weight
    grad_clip: float = 5.0
    val_batch_size: int = 64
    reset_between_stages: bool = False  # authors' code re-initialises alpha each stage; tnd keeps survivors'
    # derived: sample architectures of the form derivation outputs (two inputs per node, a real op on each),
    # so the reward costs the network that will be deployed; edges: one op per candidate edge, `none` included.
    sampling: Literal["derived", "edges"] = "derived"


# An exponent per cost: one number, one per stage, or (mnas form) {below: ..., above: ...}, each either.
Exponent = float | list[float] | dict[str, float | list[float]]


@dataclass
class RewardConfig:
    objectives: list[str] = field(default_factory=lambda: ["acc"])
    # auto = mnas (two-sided, the target is where the penalty steepens, so it moves the result); soft is
    # TND-NAS's product, in which the target only rescales the reward. See tnd.search.reward.
    form: Literal["auto", "mnas", "soft", "hard", "sum", "absolute"] = "auto"
    targets: dict[str, float | str | list[float | str]] = field(default_factory=dict)  # "1.5M", "2ms"
    exponents: dict[str, Exponent] = field(default_factory=dict)
    energy: Literal["dynamic", "total"] = "dynamic"   # which energy figure the reward reads
    accuracy: Literal["fraction", "percent"] = "fraction"  # the scale accuracy enters the reward on


@dataclass
class DeriveConfig:
    max_skip: int = 2                  # cap on skip connections in the normal cell (P-DARTS)
    # How a derived genotype's accuracy is scored: on its own supernet's shared weights (free, but not
    # comparable across preferences, which train different supernets), or by training the deployed
    # network from scratch for a few epochs on the search's train split and scoring it on the val split.
    evaluate: Literal["supernet", "train"] = "supernet"
    train_epochs: int = 10
    train_lr: float = 0.05
    # Stated range per cost for the normalised hypervolume, e.g. {latency: [0.05ms, 0.5ms]}; a cost not
    # named here is normalised over the cheapest and dearest derivable network (tnd.search.cost_range).
    hv_range: dict[str, list[float | str]] | None = None


@dataclass
class NetworkConfig:
    """The network that will be deployed: its costs are what the reward reads."""

    channels: int = 36
    layers: int = 20


@dataclass
class CostConfig:
    device: str | None = None          # LUT device preset (lut/<device>.json)
    lut: str | None = None             # explicit LUT path
    strict_lut: bool = False           # a key missing from the table is an error (else the predictor fills it)
    allow_estimates: bool = False      # accept tdp-estimate energy
    batch_size: int = 1
    extra_shapes: list[NetworkConfig] = field(default_factory=list)  # more widths/depths for the LUT


@dataclass
class PreferenceConfig:
    """One point of a Pareto series: overrides of the reward's targets and exponents."""

    name: str
    targets: dict[str, float | str | list[float | str]] = field(default_factory=dict)  # "1.5M", "2ms"
    exponents: dict[str, Exponent] = field(default_factory=dict)

    def applied_to(self, reward: RewardConfig) -> RewardConfig:
        """The search's reward with this preference's targets and exponents laid over it."""
        return replace(reward, targets={**reward.targets, **self.targets},
                       exponents={**reward.exponents, **self.exponents})


@dataclass
class SearchConfig:
    name: str = "search"
    # tnd: policy gradient on alpha (TND-NAS); random: the same supernet trained with uniform samples, then
    # as many uniform samples scored as the policy scores, the best kept (random search with weight sharing);
    # conditioned: one policy alpha = f(preference) for the whole front, one supernet trained once, members
    # derived from f afterwards (tnd.search.conditioned_supernet; its settings are ``conditioned``)
    strategy: Literal["tnd", "random", "conditioned"] = "tnd"
    # the cell space (tnd.search.spaces): darts (normal + reduce cells, DARTS genotypes) or nb201 (NAS-Bench-201's
    # cell on its macro network, NB201 strings; network defaults to NB201's C=16, N=5, i.e. layers 15)
    space: str = "darts"
    dataset: str = "cifar10"
    data_dir: str | None = None
    seed: int = 0
    # Where the supernet and the batches compute (tnd.compute): auto = the CUDA GPU where there is one, else
    # the CPU. Not the hardware whose costs are optimised: that is cost.device (its lookup table).
    compute: str = "auto"
    amp: bool = True                   # mixed precision on a CUDA GPU (bf16 where supported, else fp16 + loss
                                       # scaling); a CPU always computes in float32
    channels: int = 16                 # supernet initial channels
    stages: list[StageConfig] = field(default_factory=lambda: [
        StageConfig(cells=5, ops=8, epochs=16, warmup_epochs=8),
        StageConfig(cells=11, ops=5, epochs=16, warmup_epochs=8),
        StageConfig(cells=17, ops=3, epochs=16, warmup_epochs=8),
    ])
    ops: OpsConfig = field(default_factory=OpsConfig)
    weights: WeightsConfig = field(default_factory=WeightsConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    derive: DeriveConfig = field(default_factory=DeriveConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    cost: CostConfig = field(default_factory=CostConfig)
    preferences: list[PreferenceConfig] = field(default_factory=list)
    conditioned: ConditionedSettings = field(default_factory=ConditionedSettings)   # strategy conditioned only
    # The one member of the series this run searches (`tnd search --member`), by name; None: every member.
    # The series stays whole in the config, so a member's run is seeded, costed and ranged as the series is.
    member: str | None = None

    def __post_init__(self) -> None:
        get_space(self.space).resolve_defaults(self)
        validate(self)

    # ---- derived views ----------------------------------------------------------------------
    def search_space(self) -> SearchSpace:
        return get_space(self.space)

    def data_shape(self) -> dict[str, int]:
        return dict(DATASET_SHAPES[self.dataset])

    def target_shape(self, net: NetworkConfig | None = None) -> Any:
        """The deployed network's shape (a NetworkShape for DARTS, an NB201Shape for NB201)."""
        return self.search_space().target_shape(self, net or self.network)

    def cost_shapes(self) -> list[Any]:
        """Every network shape a cost table for this search must cover."""
        return [self.target_shape()] + [self.target_shape(n) for n in self.cost.extra_shapes]

    def supernet_shape(self, stage: StageConfig) -> Any:
        return self.search_space().supernet_shape(self, stage)

    def part_keys(self) -> list[PartKey]:
        """Every part any network of this search can use at its cost shapes (stem to classifier)."""
        return self.search_space().part_keys(self)

    def op_sets(self) -> dict[str, list[str]]:
        return self.search_space().op_sets(self)

    def resolve_preferences(self) -> list[Preference]:
        """Every member of the series with its complete reward (one ``default`` member without a series)."""
        n = len(self.stages)
        if not self.preferences:
            return [Preference("default", RewardSpec.from_config(self.reward, n))]
        return [Preference(p.name, RewardSpec.from_config(p.applied_to(self.reward), n)) for p in self.preferences]

    def run_preferences(self) -> list[Preference]:
        """The members this run searches: the one ``member`` names, or the whole series."""
        series = self.resolve_preferences()
        return series if self.member is None else [p for p in series if p.name == self.member]

    def to_dict(self) -> dict[str, Any]:
        return to_data(self)


def member_names(cfg: SearchConfig) -> list[str]:
    """The series' members in order (``default`` when the config has no series)."""
    return [p.name for p in cfg.preferences] or ["default"]


def _members_listed(names: list[str]) -> str:
    return ", ".join(f"{i}={n}" for i, n in enumerate(names))


def select_member(cfg: SearchConfig, text: str) -> SearchConfig:
    """``--member NAME_OR_INDEX``: the config restricted to one member, by its name or 0-based index."""
    names, key = member_names(cfg), text.strip()
    if key in names:
        return replace(cfg, member=key)
    if key.isdigit() and int(key) < len(names):
        return replace(cfg, member=names[int(key)])
    raise TndError(f"--member {text!r}: no such member of the series; give a name or index of: "
                   f"{_members_listed(names)}")


def validate(cfg: SearchConfig) -> None:
    check_compute_spec(cfg.compute)
    if cfg.derive.train_epochs < 1 or not cfg.derive.train_lr > 0:
        raise TndError("derive: 'train_epochs' must be >= 1 and 'train_lr' > 0")
    if cfg.dataset not in DATASET_SHAPES:
        raise TndError(f"unknown dataset {cfg.dataset!r}; choose one of {', '.join(DATASET_SHAPES)}")
    if not cfg.stages:
        raise TndError("search config: 'stages' is empty; give at least one stage")
    space = get_space(cfg.space)
    space.validate(cfg)
    sizes = {cell: len(ops) for cell, ops in cfg.op_sets().items()}
    prev = dict(sizes)
    for i, st in enumerate(cfg.stages):
        where = f"search config: stages[{i}]"
        if st.cells < 1 or st.epochs < 1:
            raise TndError(f"{where}: 'cells' and 'epochs' must be at least 1")
        if not 0 <= st.warmup_epochs <= st.epochs:
            raise TndError(f"{where}: 'warmup_epochs' must be between 0 and epochs ({st.epochs})")
        if isinstance(st.ops, dict) and set(st.ops) != set(sizes):
            raise TndError(f"{where}: 'ops' as a mapping needs exactly the keys {' and '.join(sizes)}, "
                           f"e.g. {space.ops_example}")
        for cell in sizes:
            k = st.keep(cell)
            if i == 0 and k != sizes[cell]:
                raise TndError(f"{where}: the first stage keeps {k} of the {sizes[cell]} {cell} ops, but nothing has "
                               f"been learned yet to choose them; set ops to {sizes[cell]} there (per cell type: "
                               "ops: {normal: N, reduce: M}) and shrink from the second stage on")
            if not 2 <= k <= prev[cell]:
                raise TndError(f"{where}: {cell} 'ops' must be between 2 and {prev[cell]} (ops kept per edge only "
                               "shrink; two keep a real op beside 'none')")
            prev[cell] = k
    if cfg.channels < 2 or cfg.channels % 2:
        raise TndError(f"search config: 'channels' must be an even number >= 2, got {cfg.channels}")
    NetworkShape(channels=cfg.network.channels, layers=cfg.network.layers)  # validates
    for name, v in (("weights.batch_size", cfg.weights.batch_size), ("policy.samples", cfg.policy.samples),
                    ("policy.alpha_every", cfg.policy.alpha_every),
                    ("policy.val_batch_size", cfg.policy.val_batch_size), ("cost.batch_size", cfg.cost.batch_size)):
        if v < 1:
            raise TndError(f"search config: '{name}' must be at least 1, got {v}")
    for name, v in (("weights.lr", cfg.weights.lr), ("policy.lr", cfg.policy.lr)):
        if v <= 0:
            raise TndError(f"search config: '{name}' must be positive, got {v}")
    if not 0 < cfg.policy.baseline_decay <= 1:
        raise TndError("search config: 'policy.baseline_decay' must be in (0, 1]")
    if cfg.policy.entropy < 0:
        raise TndError("search config: 'policy.entropy' must be >= 0")
    if cfg.derive.max_skip < 0:
        raise TndError("search config: 'derive.max_skip' must be >= 0")
    names = [p.name for p in cfg.preferences]
    if len(set(names)) != len(names):
        raise TndError("search config: preference names must be unique")
    if cfg.strategy == "conditioned":
        validate_conditioned(cfg)
        return
    RewardSpec.from_config(cfg.reward, n_stages=len(cfg.stages))  # units, stages and targets, in full
    cfg.resolve_preferences()
    if cfg.member is not None and cfg.member not in member_names(cfg):
        raise TndError(f"search config: 'member' {cfg.member!r} is not a member of the series; choose one of "
                       f"{_members_listed(member_names(cfg))}, or leave it out for the whole series")


def conditioned_objectives(cfg: SearchConfig) -> list[str]:
    """The objectives a conditioned search's preference weights range over: the reward's, accuracy first."""
    return [o.strip() for o in cfg.reward.objectives if o.strip()]


def alpha_step_samples(cfg: SearchConfig) -> int:
    """Samples scored per alpha step: the policy's, or a conditioned search's preferences x samples each."""
    c = cfg.conditioned
    return c.preferences_per_step * c.samples_per_preference if cfg.strategy == "conditioned" else cfg.policy.samples


def validate_conditioned(cfg: SearchConfig) -> None:
    """strategy conditioned: accuracy and at least one cost to weigh (no targets needed: each sample is
    rewarded under its own drawn weights), sampled weights, one policy for the whole front."""
    where = "search config (strategy conditioned)"
    objectives = conditioned_objectives(cfg)
    if len(objectives) < 2 or objectives[0] != ACCURACY:
        raise TndError(f"{where}: the reward needs accuracy and at least one cost to weigh it against, e.g. "
                       f"--reward acc,latency (got {','.join(objectives) or 'nothing'})")
    RewardSpec.from_config(replace(cfg.reward, targets={c: 1.0 for c in objectives[1:]}, exponents={}), 1)  # names
    if cfg.weights.mode != "sampled":
        raise TndError(f"{where}: weights.mode must be sampled (each preference samples its own paths; a "
                       "mixture has no one alpha to mix by)")
    if cfg.policy.reset_between_stages:
        raise TndError(f"{where}: policy.reset_between_stages would forget f; leave it false")
    if cfg.member is not None:
        raise TndError(f"{where}: one policy learns the whole front, so there is no member to run alone; leave "
                       "--member out and derive members with `tnd derive RUN --preference ...`")
    cfg.conditioned.check(where, len(objectives), tabular=False)


def keep_rewarded_costs(data: dict[str, Any], objectives: list[str]) -> None:
    """A new list of objectives replaces the file's: targets, exponents and preference settings of costs no
    longer rewarded go, and so do preferences left with nothing to set."""
    costs = set(objectives) - {ACCURACY}
    reward = data.get("reward") or {}
    for key in ("targets", "exponents"):
        if reward.get(key):
            reward[key] = {c: v for c, v in reward[key].items() if c in costs}
    kept = []
    for pref in data.get("preferences") or []:
        pref = {**pref, **{k: {c: v for c, v in (pref.get(k) or {}).items() if c in costs}
                           for k in ("targets", "exponents")}}
        if pref["targets"] or pref["exponents"]:
            kept.append(pref)
    if "preferences" in data:
        data["preferences"] = kept


def load_search_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> SearchConfig:
    """Defaults, then the YAML file, then ``overrides`` (dotted keys, e.g. ``{"policy.samples": 4}``).

    Overriding ``reward.objectives`` drops the file's settings for costs it no longer names
    (``keep_rewarded_costs``) before the other overrides apply."""
    data: dict[str, Any] = load_yaml(path) if path else {}
    if not isinstance(data, dict):
        raise TndError(f"config file {path}: expected a mapping of settings at the top level")
    if overrides and "reward.objectives" in overrides:
        keep_rewarded_costs(data, list(overrides["reward.objectives"]))
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return from_data(SearchConfig, data, where=f"config {path}" if path else "config")
