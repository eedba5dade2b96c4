"""The network families a lookup table can describe, one record per search space (DARTS's and NB201's).

What `tnd lut validate` needs to judge a table on whole networks of either space: read the table's shape
records, draw random networks over the ops it measured, list their costed parts, build them to export and
time. Each family recognises its own shape records by a field only they have (``shape_field``), so a table
built for NB201 shapes is validated on NB201 networks without a flag.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from torch import nn

from tnd.errors import TndError
from tnd.space import nb201
from tnd.space.genotype import Architecture, Genotype, random_genotype
from tnd.space.network import build_network
from tnd.space.ops import PRIMITIVES
from tnd.space.parts import PartKey
from tnd.space.parts import network_parts as darts_parts
from tnd.space.plan import NetworkShape


@dataclass(frozen=True)
class NetworkFamily:
    name: str
    ops: tuple[str, ...]                                   # every op of the space's edges
    parts_free_ops: tuple[str, ...]                        # ops with no costed part (NB201's none): never in a table
    shape_field: str                                       # a field only this family's shape records have
    shape_from_dict: Callable[[Mapping[str, Any], str], Any]
    describe_shape: Callable[[Any], str]
    random_arch: Callable[[random.Random, tuple[str, ...]], Any]   # the networks a table is judged on
    parts: Callable[[Any, Any], list[PartKey]]             # the parts a runtime executes: what latency sums
    build: Callable[[Any, Any], nn.Module]
    arch_record: Callable[[Any], dict[str, Any]]           # how a report names one network's architecture

    def sampled_ops(self, measured: Iterable[str]) -> tuple[str, ...]:
        """The ops random networks may use given the ops a table measured (plus those that cost nothing)."""
        measured = set(measured)
        return tuple(o for o in self.ops if o in measured or o in self.parts_free_ops)


def _darts_random(rng: random.Random, ops: tuple[str, ...]) -> Genotype:
    return random_genotype(rng, ops, ops)


def _nb201_shape(record: Mapping[str, Any], where: str) -> nb201.NB201Shape:
    try:
        return nb201.NB201Shape.from_dict(dict(record))
    except TndError as e:
        raise TndError(f"{where}: {e}") from None


FAMILIES: dict[str, NetworkFamily] = {
    "darts": NetworkFamily(
        name="darts", ops=tuple(PRIMITIVES), parts_free_ops=(), shape_field="layers",
        shape_from_dict=lambda r, where: NetworkShape.from_dict(dict(r), where=where),
        describe_shape=lambda s: f"C={s.channels}, {s.layers} cells, {s.input_size}px",
        random_arch=_darts_random,
        parts=lambda g, shape: darts_parts(Architecture.from_genotype(g), shape),
        build=lambda g, shape: build_network(g, shape=shape),
        arch_record=lambda g: {"genotype": g.to_dict()}),
    "nb201": NetworkFamily(
        name="nb201", ops=tuple(nb201.NB201_OPS), parts_free_ops=("none",), shape_field="cells_per_stage",
        shape_from_dict=_nb201_shape,
        describe_shape=lambda s: f"NB201 C={s.channels}, N={s.cells_per_stage}, {s.input_size}px",
        random_arch=nb201.random_connected_arch,   # a disconnected cell is a constant network no search derives
        parts=nb201.live_network_parts,            # what the runtime executes (parameters still count dead edges)
        build=nb201.build_nb201_network,
        arch_record=lambda a: {"arch": str(a)}),
}


def family_of_shape(record: Any, where: str = "network shape") -> NetworkFamily:
    """The family whose shape records look like ``record`` (a table's settings.shapes entry)."""
    if isinstance(record, Mapping):
        for family in FAMILIES.values():
            if family.shape_field in record:
                return family
    fields = ", ".join(f"'{f.shape_field}' ({f.name})" for f in FAMILIES.values())
    raise TndError(f"{where}: not a network shape of a known space (it has none of {fields}); rebuild the table "
                   "with tools/build_lut.py")
