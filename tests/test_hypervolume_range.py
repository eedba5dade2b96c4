"""Comparable hypervolume: objectives normalised over stated ranges (the cheapest and dearest derivable
network, or the config's), reference (1, ..., 1); a dominated member changes nothing."""

import random

import pytest

from tnd.costs.base import CostSuite, CostValue
from tnd.costs.counting import CountingCosts
from tnd.errors import TndError
from tnd.search.cost_range import FROM_CONFIG, FROM_COST_MODEL, CostRange, cost_ranges, extreme_genotypes
from tnd.search.run import collapsed_front_warning, front_of, hypervolume_line, result_record
from tnd.space.genotype import N_NODES, Architecture, Genotype, random_genotype
from tnd.space.parts import network_parts
from tnd.space.plan import NetworkShape

pytestmark = pytest.mark.usefixtures("single_thread")

SHAPE = NetworkShape(channels=8, layers=5, in_channels=1, input_size=8)
OPS = {"normal": ["none", "skip_connect", "max_pool_3x3", "sep_conv_3x3", "sep_conv_5x5"],
       "reduce": ["none", "max_pool_3x3", "skip_connect", "dil_conv_3x3"]}


def uniform(op_normal, op_reduce):
    concat = tuple(range(2, N_NODES + 2))
    cell = lambda op: tuple((op, s) for _ in range(N_NODES) for s in (0, 1))  # noqa: E731
    return Genotype(cell(op_normal), concat, cell(op_reduce), concat)


class PartLatency:
    """A latency that is a sum over parts with per-op prices (a stand-in for a lookup table)."""

    provides = ("latency",)
    price = {"skip_connect": 0.3, "max_pool_3x3": 0.5, "sep_conv_3x3": 2.0, "sep_conv_5x5": 3.0,
             "dil_conv_3x3": 1.5, "factorized_reduce": 0.7}

    def __call__(self, arch):
        parts = network_parts(arch, SHAPE)
        return {"latency": CostValue(0.1 + sum(self.price.get(p.op, 0.05) * (1 + p.stride) for p in parts), "measured")}


def test_extremes_are_the_cheapest_and_dearest_derivable_networks():
    costs = CostSuite([CountingCosts(SHAPE), PartLatency()])
    ranges = cost_ranges(["params", "latency"], OPS, costs)
    params = lambda g: costs(Architecture.from_genotype(g))["params"].value  # noqa: E731
    # parameter-free ops everywhere is the fewest parameters; the 5x5 separable everywhere the most
    assert ranges["params"].lower == params(uniform("max_pool_3x3", "max_pool_3x3"))
    assert ranges["params"].upper == params(uniform("sep_conv_5x5", "dil_conv_3x3"))
    assert ranges["params"].source == FROM_COST_MODEL
    rng = random.Random(0)
    for _ in range(60):
        g = random_genotype(rng, OPS["normal"], OPS["reduce"])
        c = costs(Architecture.from_genotype(g))
        for name, r in ranges.items():
            assert r.lower <= c[name].value <= r.upper
    # the extremes are derivable: two distinct inputs per node, no `none`
    for cheap, dear in extreme_genotypes(OPS, costs, ["latency"]).values():
        for g in (cheap, dear):
            for cell in ("normal", "reduce"):
                pairs = getattr(g, cell)
                assert all(op != "none" for op, _ in pairs)
                assert all(pairs[2 * k][1] != pairs[2 * k + 1][1] for k in range(N_NODES))
    assert ranges["latency"].to_dict()["cheapest"] == ranges["latency"].cheapest.to_dict()


def test_stated_ranges_come_from_the_config_and_are_checked():
    costs = CostSuite([CountingCosts(SHAPE)])
    r = cost_ranges(["params"], OPS, costs, {"params": ["10k", "0.2M"]})
    assert (r["params"].lower, r["params"].upper, r["params"].source) == (1e4, 2e5, FROM_CONFIG)
    with pytest.raises(TndError, match="lowest < highest"):
        cost_ranges(["params"], OPS, costs, {"params": [5, 1]})
    with pytest.raises(TndError, match="not an objective of this search"):
        cost_ranges(["params"], OPS, costs, {"latency": ["1ms", "2ms"]})
    with pytest.raises(TndError, match=r"needs \[lowest, highest\]"):
        cost_ranges(["params"], OPS, costs, {"params": [1]})


def entry(name, acc, latency):
    return {"preference": {"name": name}, "objectives": {"accuracy": acc, "latency_ms": latency},
            "sources": {"accuracy": "supernet-validation", "latency_ms": "measured"}}


def test_a_dominated_member_does_not_change_the_normalised_hypervolume():
    ranges = {"latency": CostRange(1.0, 5.0, FROM_COST_MODEL)}
    front = [entry("fast", 0.80, 1.5), entry("accurate", 0.90, 3.0)]
    dominated = entry("slow", 0.70, 4.9)          # worse on both: before, it moved the reference point to 1.1 x 4.9
    a = front_of(front, ["latency"], ranges)
    b = front_of(front + [dominated], ["latency"], ranges)
    assert b["pareto"] == [0, 1]
    assert b["hypervolume"]["value"] == pytest.approx(a["hypervolume"]["value"])
    assert b["hypervolume"]["raw"]["value"] == pytest.approx(a["hypervolume"]["raw"]["value"])
    # by hand: normalised points (0.2, 0.125) and (0.1, 0.5), reference (1, 1)
    assert a["hypervolume"]["value"] == pytest.approx((0.2 - 0.1) * (1 - 0.5) + (1 - 0.2) * (1 - 0.125))
    hv = a["hypervolume"]
    assert hv["reference"] == [1.0, 1.0] and hv["range"] == {"error": [0.0, 1.0], "latency_ms": [1.0, 5.0]}
    assert hv["raw"]["reference"] == [1.0, 5.0]
    assert hv["raw"]["value"] == pytest.approx(hv["value"] * (1.0 - 0.0) * (5.0 - 1.0))
    assert "reference (1, ..., 1)" in hypervolume_line(hv)


def test_members_outside_the_range_are_named():
    ranges = {"latency": CostRange(1.0, 2.0, FROM_CONFIG)}
    r = front_of([entry("a", 0.9, 1.5), entry("b", 0.95, 3.0)], ["latency"], ranges)
    assert r["hypervolume"]["outside_range"] == [1]
    assert "outside the range" in hypervolume_line(r["hypervolume"])


def test_a_front_that_does_not_spread_is_flagged_in_the_result():
    """Members all on one cost (a conditioned policy that collapsed: here two networks of one latency) are a
    warning in result.json; members that spread, a single member, or a cost the members lack are not."""
    ranges = {"latency": CostRange(0.06, 0.37, FROM_COST_MODEL)}
    same = [entry("acc=1,latency=0", 0.92, 0.0940), entry("acc=0.5,latency=0.5", 0.94, 0.0940),
            entry("acc=0,latency=1", 0.94, 0.0942)]
    result = result_record({}, [], same, 1.0, ranges, warnings=["about the settings"])
    assert result["warnings"][0] == "about the settings"
    assert len(result["warnings"]) == 2 and "the 3 members" in result["warnings"][1]
    assert "do not spread: latency_ms 0.094-0.0942 of the range 0.06-0.37" in result["warnings"][1]
    spread = same[:2] + [entry("acc=0,latency=1", 0.90, 0.0900)]     # 4 us apart: 1.3% of the range
    assert collapsed_front_warning(spread, ranges) is None
    assert result_record({}, [], spread, 1.0, ranges)["warnings"] == []
    assert collapsed_front_warning(same[:1], ranges) is None
    # a cost-only end placed by the cost model (a conditioned run's climbed member) does not hide a collapse
    cheap = {**entry("acc=0,latency=1", 0.85, 0.0863), "local_search": {"steps": 4}}
    warning = collapsed_front_warning(same[:2] + [cheap], ranges)
    assert warning and "the 2 members" in warning and "not counting acc=0,latency=1" in warning
    assert collapsed_front_warning(same[:1] + [cheap], ranges) is None
    assert collapsed_front_warning(same, {"energy": CostRange(0.0, 1.0, FROM_COST_MODEL)}) is None
