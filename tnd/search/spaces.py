"""The search spaces the supernet search runs on, registered by name and read through ``get_space(name)``.

A space tells the loop (``tnd.search.progressive``) everything that differs between cell spaces: its cell
types and op sets, the supernet of a stage, the policy (and the sampling modes it allows), the architecture
derived from a policy or a sample, that architecture's supernet path, its record for the cost models, and how
it is written into result.json. The loop itself never asks which space it runs on.

  ``darts``  two cell types (normal, reduce), 14 candidate edges each, DARTS genotypes (``tnd train`` trains
             them); nodes average their sampled inputs (tnd.search.supernet).
  ``nb201``  NAS-Bench-201: one cell type (``cell``), 6 edges each carrying exactly one op (``none``
             included), written as NB201's string; nodes sum their inputs as NB201 does.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from tnd.costs import CountingCosts, NB201CountingCosts
from tnd.costs.objectives import get_objective
from tnd.errors import TndError
from tnd.search.cost_range import FROM_CONFIG, CostRange, cost_ranges, cost_value, edge_op_costs, stated_ranges
from tnd.search.derive import derive_genotype, neighbour_genotypes, node_edges
from tnd.search.policy import OpCap, Policy, one_hot_weights
from tnd.search.supernet import Supernet
from tnd.space import nb201
from tnd.space.genotype import CANDIDATE_EDGES, Architecture, Genotype
from tnd.space.ops import OPS, PRIMITIVES
from tnd.space.parts import space_parts
from tnd.space.plan import NetworkShape


def genotype_choice(g: Genotype) -> dict[str, list[str]]:
    """A DARTS genotype as a supernet path: its ops on its edges, `none` elsewhere."""
    out = {}
    for cell in ("normal", "reduce"):
        chosen = {(e.src, e.dst): e.op for e in g.edges(cell)}
        out[cell] = [chosen.get(edge, "none") for edge in CANDIDATE_EDGES]
    return out


def nb201_arch_of(policy: Policy, choice: dict[str, torch.Tensor]) -> nb201.NB201Arch:
    """A sample of a policy over the NB201 cell as its architecture record."""
    (cell,) = nb201.CELL_TYPES
    return nb201.NB201Arch(tuple(policy.op_names(choice)[cell]))


def derive_nb201(policy: Policy) -> nb201.NB201Arch:
    """The most probable op of each edge among those alive (``none`` included: NB201 has no node rule)."""
    (cell,) = nb201.CELL_TYPES
    return nb201_arch_of(policy, {cell: policy.probs(cell).argmax(-1)})


class SearchSpace:
    """What the loop asks of a space; ``cfg`` is a ``SearchConfig`` (not imported: the config reads spaces)."""

    name: str = ""
    cell_types: tuple[str, ...] = ()
    ops_example: str = ""          # an ``ops`` mapping for a stage, for messages

    # ---- configuration ---------------------------------------------------------------------------
    def resolve_defaults(self, cfg: Any) -> None:
        """Replace settings left at another space's defaults by this space's (before validation)."""

    def validate(self, cfg: Any) -> None:
        """The space's own checks (the generic ones are in tnd.search.config.validate)."""

    def op_sets(self, cfg: Any) -> dict[str, list[str]]:
        raise NotImplementedError

    def supernet_shape(self, cfg: Any, stage: Any) -> Any:
        raise NotImplementedError

    def target_shape(self, cfg: Any, net: Any) -> Any:
        raise NotImplementedError

    def describe_shape(self, shape: Any) -> str:
        raise NotImplementedError

    def part_keys(self, cfg: Any) -> list:
        raise NotImplementedError

    # ---- the loop -------------------------------------------------------------------------------
    def build_supernet(self, cfg: Any, alive: dict[str, list[list[str]]], stage: Any) -> nn.Module:
        raise NotImplementedError

    def new_policy(self, cfg: Any, generator: torch.Generator) -> Policy:
        raise NotImplementedError

    def derive(self, cfg: Any, policy: Policy, warnings: list[str]) -> Any:
        """The architecture derived from the policy's alpha."""
        raise NotImplementedError

    def sampling_caps(self, cfg: Any, policy: Policy) -> dict[str, OpCap]:
        """The caps derivation puts on an op per cell type, for samples of the derived form to obey too
        (``Policy.caps``); none by default."""
        return {}

    def edge_op_costs(self, cfg: Any, costs: Callable[[Any], Mapping[str, Any]],
                      names: Sequence[str]) -> dict[str, dict[str, torch.Tensor]]:
        """Per cost of ``names`` and cell type, (edges x ops) prices of each op on each edge, up to a constant per
        edge: which op is the cheapest there (inf where derivation never puts an op)."""
        raise NotImplementedError

    def neighbours(self, cfg: Any, policy: Policy, arch: Any) -> list[Any]:
        """The architectures one change from ``arch`` that derivation could give from ``policy``'s alive ops
        (the moves of ``tnd.search.local_search``)."""
        raise NotImplementedError

    def from_sample(self, cfg: Any, policy: Policy, choice: dict[str, torch.Tensor]) -> Any:
        """The architecture a sample describes (the random baseline keeps its best sample)."""
        raise NotImplementedError

    def choice(self, arch: Any) -> dict[str, list[str]]:
        """The architecture as a supernet path: op name per edge of each cell type (``none`` = unused)."""
        raise NotImplementedError

    def cost_record(self, arch: Any) -> Any:
        """What the cost models take for a derived architecture."""
        raise NotImplementedError

    def sample_record(self, policy: Policy, choice: dict[str, torch.Tensor]) -> Any:
        """What the cost models take for a sample."""
        raise NotImplementedError

    # ---- result.json --------------------------------------------------------------------------
    def arch_to_dict(self, arch: Any) -> dict[str, Any]:
        raise NotImplementedError

    def describe(self, entry_arch: dict[str, Any]) -> str:
        """One line for the summary table from result.json's ``genotype`` entry."""
        raise NotImplementedError

    # ---- costs --------------------------------------------------------------------------------
    def cost_models(self, cfg: Any, needed: set[str]) -> list[Any]:
        raise NotImplementedError

    def cost_ranges(self, cfg: Any, costs: Callable[[Any], Mapping[str, Any]], names: Sequence[str],
                    stated: bool = True) -> dict[str, CostRange]:
        """Each cost's range for the hypervolume: ``derive.hv_range`` where stated (unless ``stated`` is False),
        else the cheapest and dearest derivable network under ``costs``."""
        raise NotImplementedError


SPACES: dict[str, SearchSpace] = {}


def register_space(space: SearchSpace) -> SearchSpace:
    SPACES[space.name] = space
    return space


def space_names() -> list[str]:
    return list(SPACES)


def get_space(name: str) -> SearchSpace:
    if name not in SPACES:
        raise TndError(f"search config: unknown space {name!r}; choose one of {', '.join(SPACES)}")
    return SPACES[name]


# ---- DARTS --------------------------------------------------------------------------------------

class DartsSpace(SearchSpace):
    name = "darts"
    cell_types = ("normal", "reduce")
    ops_example = "{normal: 6, reduce: 4}"

    def validate(self, cfg: Any) -> None:
        for cell, ops in (("normal", cfg.ops.normal), ("reduce", cfg.ops.reduce)):
            unknown = [o for o in ops if o not in OPS]
            if unknown:
                raise TndError(f"search config: unknown op(s) {', '.join(unknown)} in ops.{cell}; "
                               f"known ops: {', '.join(OPS)}")
            if len(set(ops)) != len(ops) or len([o for o in ops if o != "none"]) < 1:
                raise TndError(f"search config: ops.{cell} must list distinct ops, at least one besides 'none'")
        if list(cfg.ops.cell) != list(nb201.NB201_OPS):
            raise TndError("search config: ops.cell is the op set of NB201's one cell; for the DARTS space set "
                           "ops.normal and ops.reduce (or add space: nb201)")

    def op_sets(self, cfg: Any) -> dict[str, list[str]]:
        return {"normal": list(cfg.ops.normal), "reduce": list(cfg.ops.reduce)}

    def supernet_shape(self, cfg: Any, stage: Any) -> NetworkShape:
        return NetworkShape(channels=cfg.channels, layers=stage.cells, **cfg.data_shape())

    def target_shape(self, cfg: Any, net: Any) -> NetworkShape:
        return NetworkShape(channels=net.channels, layers=net.layers, **cfg.data_shape())

    def describe_shape(self, shape: NetworkShape) -> str:
        return f"{shape.channels} channels, {shape.layers} cells, {shape.input_size}px"

    def part_keys(self, cfg: Any) -> list:
        return space_parts(cfg.cost_shapes(), cfg.ops.normal, cfg.ops.reduce)

    def build_supernet(self, cfg: Any, alive: dict[str, list[list[str]]], stage: Any) -> nn.Module:
        return Supernet(cfg.op_sets(), alive, cfg.supernet_shape(stage), cfg.weights.mode)

    def new_policy(self, cfg: Any, generator: torch.Generator) -> Policy:
        return Policy(cfg.op_sets(), generator=generator, nodes=node_edges(), sampling=cfg.policy.sampling)

    def sampling_caps(self, cfg: Any, policy: Policy) -> dict[str, OpCap]:
        """``derive.max_skip`` on the normal cell's skip connections (``derived`` sampling only)."""
        ops = policy.op_sets.get("normal", [])
        if policy.sampling != "derived" or "skip_connect" not in ops:
            return {}
        return {"normal": OpCap(ops.index("skip_connect"), cfg.derive.max_skip)}

    def derive(self, cfg: Any, policy: Policy, warnings: list[str]) -> Genotype:
        scores = {c: policy.edge_scores(c) for c in policy.cells} if policy.sampling == "derived" else None
        return derive_genotype({c: policy.probs(c) for c in policy.cells}, cfg.op_sets(),
                               {c: policy.alive(c) for c in policy.cells}, cfg.derive.max_skip,
                               edge_scores=scores, warnings=warnings)

    def edge_op_costs(self, cfg: Any, costs: Callable[[Any], Mapping[str, Any]],
                      names: Sequence[str]) -> dict[str, dict[str, torch.Tensor]]:
        return {n: {c: torch.tensor(rows, dtype=torch.float64) for c, rows in cells.items()}
                for n, cells in edge_op_costs(cfg.op_sets(), costs, names).items()}

    def neighbours(self, cfg: Any, policy: Policy, arch: Genotype) -> list[Genotype]:
        return neighbour_genotypes(arch, {c: policy.alive_ops(c) for c in policy.cells}, cfg.derive.max_skip)

    def from_sample(self, cfg: Any, policy: Policy, choice: dict[str, torch.Tensor]) -> Genotype:
        one_hot = one_hot_weights(policy, choice)
        scores = {c: one_hot[c].sum(-1) for c in policy.cells} if policy.sampling == "derived" else None
        return derive_genotype(one_hot, cfg.op_sets(), {c: policy.alive(c) for c in policy.cells},
                               cfg.derive.max_skip, edge_scores=scores)

    def choice(self, arch: Genotype) -> dict[str, list[str]]:
        return genotype_choice(arch)

    def cost_record(self, arch: Genotype) -> Architecture:
        return Architecture.from_genotype(arch)

    def sample_record(self, policy: Policy, choice: dict[str, torch.Tensor]) -> Architecture:
        return policy.architecture(choice)

    def arch_to_dict(self, arch: Genotype) -> dict[str, Any]:
        return arch.to_dict()

    def describe(self, entry_arch: dict[str, Any]) -> str:
        return str(Genotype.from_dict(entry_arch))

    def cost_models(self, cfg: Any, needed: set[str]) -> list[Any]:
        from tnd.search.lut_source import load_search_lut  # it reads search configs: imported when used

        models: list[Any] = [CountingCosts(cfg.target_shape())]
        if needed & {"latency", "energy"} or cfg.cost.lut:
            models.append(load_search_lut(cfg, needs_energy="energy" in needed))
        return models

    def cost_ranges(self, cfg: Any, costs: Callable[[Any], Mapping[str, Any]], names: Sequence[str],
                    stated: bool = True) -> dict[str, CostRange]:
        return cost_ranges(names, cfg.op_sets(), costs, cfg.derive.hv_range if stated else None)


# ---- NAS-Bench-201 --------------------------------------------------------------------------------

NB201_NETWORK = (16, 15)   # NB201's deployed network: C=16, N=5 cells per stage (network.layers = 3N)
NB201_STAGES = 3


class NB201Space(SearchSpace):
    name = "nb201"
    cell_types = nb201.CELL_TYPES
    ops_example = "{cell: 3}"

    def resolve_defaults(self, cfg: Any) -> None:
        # The DARTS deployment default (36 channels, 20 cells) means NB201's own network here.
        if cfg.network == type(cfg.network)():
            cfg.network = replace(cfg.network, channels=NB201_NETWORK[0], layers=NB201_NETWORK[1])

    def validate(self, cfg: Any) -> None:
        where = "search config (space: nb201)"
        ops = list(cfg.ops.cell)
        unknown = [o for o in ops if o not in nb201.NB201_OPS]
        if unknown:
            raise TndError(f"{where}: op(s) {', '.join(unknown)} in ops.cell are not NB201 ops; "
                           f"use a subset of {', '.join(nb201.NB201_OPS)}")
        if len(set(ops)) != len(ops) or len([o for o in ops if o != "none"]) < 1:
            raise TndError(f"{where}: ops.cell must list distinct ops, at least one besides 'none'")
        if list(cfg.ops.normal) != list(PRIMITIVES) or list(cfg.ops.reduce) != list(PRIMITIVES):
            raise TndError(f"{where}: ops.normal and ops.reduce are DARTS's two cells; NB201 has one cell, "
                           "set its ops with ops.cell")
        if cfg.policy.sampling != "edges":
            raise TndError(f"{where}: policy.sampling {cfg.policy.sampling!r} draws two inputs per node (DARTS "
                           "genotypes); every NB201 edge carries one op, so set policy.sampling: edges")
        if cfg.derive.evaluate != "supernet":
            raise TndError(f"{where}: derive.evaluate 'train' trains DARTS genotypes; for NB201 use "
                           "derive.evaluate: supernet (or look the cell up in a NB201 table)")
        for net in [cfg.network, *cfg.cost.extra_shapes]:
            if net.layers % NB201_STAGES or net.channels < 1:
                raise TndError(f"{where}: network layers {net.layers} must be a multiple of 3 (3 stages of N "
                               f"cells; NB201's network is channels {NB201_NETWORK[0]}, layers {NB201_NETWORK[1]})")
        if cfg.data_shape()["input_size"] % 4:
            raise TndError(f"{where}: {cfg.dataset}'s {cfg.data_shape()['input_size']}px inputs cannot be halved "
                           "twice by NB201's two residual blocks; pick a dataset with a multiple of 4 pixels")

    def op_sets(self, cfg: Any) -> dict[str, list[str]]:
        (cell,) = self.cell_types
        return {cell: list(cfg.ops.cell)}

    def supernet_shape(self, cfg: Any, stage: Any) -> nb201.NB201Shape:
        # A stage's ``cells`` is N, the cells of each of NB201's three stages (3N super-cells in all).
        return nb201.NB201Shape(channels=cfg.channels, cells_per_stage=stage.cells, **cfg.data_shape())

    def target_shape(self, cfg: Any, net: Any) -> nb201.NB201Shape:
        return nb201.NB201Shape(channels=net.channels, cells_per_stage=max(net.layers // NB201_STAGES, 1),
                                **cfg.data_shape())

    def describe_shape(self, shape: nb201.NB201Shape) -> str:
        return f"NB201: {shape.channels} channels, 3 stages of {shape.cells_per_stage} cells, {shape.input_size}px"

    def part_keys(self, cfg: Any) -> list:
        return nb201.space_parts(cfg.cost_shapes(), cfg.ops.cell)

    def build_supernet(self, cfg: Any, alive: dict[str, list[list[str]]], stage: Any) -> nn.Module:
        return nb201.NB201Supernet(cfg.op_sets(), alive, cfg.supernet_shape(stage), cfg.weights.mode)

    def new_policy(self, cfg: Any, generator: torch.Generator) -> Policy:
        return Policy(cfg.op_sets(), generator=generator, n_edges=nb201.N_EDGES, sampling="edges")

    def derive(self, cfg: Any, policy: Policy, warnings: list[str]) -> nb201.NB201Arch:
        return derive_nb201(policy)

    def edge_op_costs(self, cfg: Any, costs: Callable[[Any], Mapping[str, Any]],
                      names: Sequence[str]) -> dict[str, dict[str, torch.Tensor]]:
        """Each op swapped onto one edge of the uniform cell of the first op that is not ``none`` (every edge
        live, so each edge's op is priced where it counts), each such cell costed once for all ``names``."""
        (cell,) = self.cell_types
        ops = list(cfg.ops.cell)
        base = (next((op for op in ops if op != "none"), ops[0]),) * nb201.N_EDGES
        priced = [[costs(nb201.NB201Arch(base[:e] + (op,) + base[e + 1:])) for op in ops] for e in range(nb201.N_EDGES)]
        return {n: {cell: torch.tensor([[cost_value(v, n) for v in row] for row in priced], dtype=torch.float64)}
                for n in names}

    def neighbours(self, cfg: Any, policy: Policy, arch: nb201.NB201Arch) -> list[nb201.NB201Arch]:
        """One edge's op changed to another op alive on it (``none`` included, as derivation allows)."""
        (cell,) = self.cell_types
        return [nb201.NB201Arch(arch.ops[:e] + (op,) + arch.ops[e + 1:])
                for e, ops in enumerate(policy.alive_ops(cell)) for op in ops if op != arch.ops[e]]

    def from_sample(self, cfg: Any, policy: Policy, choice: dict[str, torch.Tensor]) -> nb201.NB201Arch:
        return nb201_arch_of(policy, choice)

    def choice(self, arch: nb201.NB201Arch) -> dict[str, list[str]]:
        (cell,) = self.cell_types
        return {cell: list(arch.ops)}

    def cost_record(self, arch: nb201.NB201Arch) -> nb201.NB201Arch:
        return arch

    def sample_record(self, policy: Policy, choice: dict[str, torch.Tensor]) -> nb201.NB201Arch:
        return nb201_arch_of(policy, choice)

    def arch_to_dict(self, arch: nb201.NB201Arch) -> dict[str, Any]:
        return arch.to_dict()

    def describe(self, entry_arch: dict[str, Any]) -> str:
        return str(nb201.NB201Arch.from_dict(entry_arch))

    def cost_models(self, cfg: Any, needed: set[str]) -> list[Any]:
        from tnd.costs.lut_costs import LutCosts
        from tnd.lut.table import LookupTable
        from tnd.search.lut_source import check_table, table_path  # it reads search configs: imported when used

        shape = cfg.target_shape()
        models: list[Any] = [NB201CountingCosts(shape)]
        if needed & {"latency", "energy"} or cfg.cost.lut:
            path = table_path(cfg)
            hint = ("build one over NB201's parts (tnd.space.nb201.space_parts) at this network's shape, or "
                    "reward params/flops (--reward acc,params)")
            if not path.is_file():
                raise TndError(f"--space nb201: latency needs a table measured with NB201 parts; there is none at "
                               f"{path}; {hint}")
            table = LookupTable.load(path)
            missing = sorted(set(nb201.space_parts(cfg.cost_shapes(), cfg.ops.cell)) - set(table.keys()))
            if missing:
                raise TndError(f"--space nb201: latency needs a table measured with NB201 parts; {table.name()} lacks "
                               f"{len(missing)} of them (e.g. {missing[0]}); {hint}")
            check_table(table, cfg, needs_energy="energy" in needed)
            models.append(LutCosts(table, shape, strict=cfg.cost.strict_lut, energy=cfg.reward.energy,
                                   parts=nb201.live_network_parts))
        return models

    def cost_ranges(self, cfg: Any, costs: Callable[[Any], Mapping[str, Any]], names: Sequence[str],
                    stated: bool = True) -> dict[str, CostRange]:
        """The stated range, else over the cells with one op on every edge. Every cost is a sum over parts
        (frame, one op per edge, the adds of nodes with several inputs; latency and energy count only the
        live edges and the adds the runtime keeps, and a disconnected cell only the call), each edge's op
        costs the same on every edge, and adds only grow with edges: so the cheapest and dearest cells are
        uniform ones (exactly for params and flops; for a table's latency up to its calibration; the uniform
        `none` cell is disconnected, one call, the least any network costs)."""
        given = stated_ranges(cfg.derive.hv_range if stated else None)
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise TndError(f"derive.hv_range names {', '.join(unknown)}, which is not an objective of this search "
                           f"({', '.join(names)}); drop it or add it to the reward")
        uniform = [nb201.NB201Arch((op,) * nb201.N_EDGES) for op in cfg.ops.cell]
        out = {}
        for n in names:
            if n in given:
                out[n] = CostRange(*given[n], FROM_CONFIG)
                continue
            get_objective(n)
            value = {a: cost_value(costs(a), n) for a in uniform}
            cheap, dear = min(uniform, key=value.__getitem__), max(uniform, key=value.__getitem__)
            if not value[dear] > value[cheap]:
                raise TndError(f"cost range: every derivable network has the same {n} ({value[cheap]:g}); state a "
                               f"range with derive.hv_range: {{{n}: [LOW, HIGH]}}")
            out[n] = CostRange(value[cheap], value[dear], "cheapest and dearest uniform NB201 cell over ops.cell "
                               "(the cost model; exact for additive costs)", cheap, dear)  # type: ignore[arg-type]
        return out


register_space(DartsSpace())
register_space(NB201Space())
