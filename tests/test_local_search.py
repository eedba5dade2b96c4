"""The hill climb a cost-only conditioned member gets (``tnd.search.local_search``) and the spaces' moves."""

from __future__ import annotations

import random

import pytest
import torch

from tnd.search.derive import neighbour_genotypes
from tnd.search.local_search import hill_climb
from tnd.search.policy import Policy
from tnd.search.spaces import get_space
from tnd.space import nb201
from tnd.space.genotype import CANDIDATE_EDGES, Genotype, random_genotype
from tnd.space.ops import PRIMITIVES


def test_the_climb_reaches_a_local_optimum_and_records_how():
    # a line of integers, moves +-1: the reward's peak at 7 is reached from 0 in 7 moves
    climb = hill_climb(0, lambda x: [x - 1, x + 1], lambda x: -abs(x - 7))
    assert (climb.arch, climb.steps, climb.reward, climb.start_reward) == (7, 7, 0, -7)
    assert climb.scored == 1 + 2 * 8      # the start, then both neighbours of each of the 8 points visited
    # a local optimum stops it: from 0 the peak at 10 is behind the dip at 3
    bumpy = {x: v for x, v in zip(range(-1, 12), [0, 1, 2, 3, 1, 2, 3, 4, 5, 6, 7, 8, 0])}
    assert hill_climb(0, lambda x: [x - 1, x + 1] if 0 <= x <= 10 else [], bumpy.__getitem__).arch == 2
    # ties go to the first neighbour, and a move must improve
    assert hill_climb("a", lambda x: ["b", "c"] if x == "a" else [], {"a": 0, "b": 1, "c": 1}.__getitem__).arch == "b"
    assert hill_climb("a", lambda x: ["b"], {"a": 1, "b": 1}.__getitem__).steps == 0


def _pairs_changed(a: Genotype, b: Genotype) -> int:
    return sum(x != y for cell in ("normal", "reduce") for x, y in zip(getattr(a, cell), getattr(b, cell)))


def test_darts_neighbours_change_one_pair_within_alive_ops_and_the_skip_cap():
    rng = random.Random(0)
    ops = [op for op in PRIMITIVES if op != "none"]
    alive = {c: [rng.sample(ops, 3) for _ in CANDIDATE_EDGES] for c in ("normal", "reduce")}
    start = Genotype(tuple((alive["normal"][CANDIDATE_EDGES.index((s, i // 2))][0], s)
                           for i, s in enumerate([0, 1, 0, 1, 0, 1, 0, 1])), (2, 3, 4, 5),
                     tuple((alive["reduce"][CANDIDATE_EDGES.index((s, i // 2))][0], s)
                           for i, s in enumerate([0, 1, 0, 1, 0, 1, 0, 1])), (2, 3, 4, 5))
    for cap in (0, 1, 2):
        moves = neighbour_genotypes(start, alive, cap)
        assert moves and len(set(moves)) == len(moves) and start not in moves
        for g in moves:
            assert _pairs_changed(start, g) == 1
            for cell in ("normal", "reduce"):
                pairs = getattr(g, cell)
                for i, (op, src) in enumerate(pairs):
                    assert op in alive[cell][CANDIDATE_EDGES.index((src, i // 2))]
                    assert src != pairs[i ^ 1][1]          # a node's two inputs differ
            before = sum(op == "skip_connect" for op, _ in start.normal)
            assert sum(op == "skip_connect" for op, _ in g.normal) <= max(cap, before)
    # every single change is listed: on one pair, each other input and each alive op on it
    first = [g for g in neighbour_genotypes(start, alive, 8)
             if g.normal[1:] == start.normal[1:] and g.reduce == start.reduce]
    expected = sum(len(alive["normal"][CANDIDATE_EDGES.index((s, 0))]) for s in (0,)) - 1
    assert len(first) == expected    # node 0 has inputs 0 and 1 only; 1 is the sibling's


def test_darts_neighbours_of_a_random_genotype_are_valid_genotypes():
    rng = random.Random(3)
    all_ops = [op for op in PRIMITIVES if op != "none"]
    alive = {c: [list(all_ops) for _ in CANDIDATE_EDGES] for c in ("normal", "reduce")}
    g = random_genotype(rng)
    moves = neighbour_genotypes(g, alive, 2)
    # 16 pairs, each: (inputs into its node but the sibling's) x 7 ops, minus the pair itself
    assert len(moves) == sum(((i // 2) + 1) * len(all_ops) - 1 for i in range(8)) * 2


def test_nb201_neighbours_change_one_edge_to_another_alive_op():
    space = get_space("nb201")
    ops = list(nb201.NB201_OPS)
    policy = Policy({"cell": ops}, n_edges=nb201.N_EDGES, generator=torch.Generator().manual_seed(0))
    policy.alive("cell")[0, ops.index("nor_conv_3x3")] = False
    arch = nb201.NB201Arch(("avg_pool_3x3",) * nb201.N_EDGES)
    moves = space.neighbours(None, policy, arch)
    assert len(moves) == nb201.N_EDGES * (len(ops) - 1) - 1
    assert all(sum(a != b for a, b in zip(m.ops, arch.ops)) == 1 for m in moves)
    assert not any(m.ops[0] == "nor_conv_3x3" for m in moves)


@pytest.mark.parametrize("cap", [0, 2])
def test_a_genotype_over_the_cap_gets_no_further_skip(cap):
    alive = {c: [["skip_connect", "max_pool_3x3"] for _ in CANDIDATE_EDGES] for c in ("normal", "reduce")}
    normal = tuple(("skip_connect" if i < 3 else "max_pool_3x3", i % 2) for i in range(8))   # 3 skips
    g = Genotype(normal, (2, 3, 4, 5), tuple(("max_pool_3x3", i % 2) for i in range(8)), (2, 3, 4, 5))
    for m in neighbour_genotypes(g, alive, cap):
        assert sum(op == "skip_connect" for op, _ in m.normal) <= 3
