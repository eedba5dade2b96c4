"""From policy probabilities to a DARTS-compatible genotype.

Per node keep the two incoming edges whose strongest non-`none` op is most probable, each with that
op (DARTS). In the normal cell at most ``max_skip`` skip connections survive: while there are more,
the weakest chosen skip is struck from its edge and the cell is derived again (P-DARTS).
"""

from __future__ import annotations

import torch

from tnd.space.genotype import CANDIDATE_EDGES, N_NODES, Genotype


def derive_cell(probs: torch.Tensor, op_set: list[str], alive: torch.Tensor) -> list[tuple[str, int]]:
    """probs, alive: (14 edges x ops). Returns 2 (op, input) pairs per node, strongest edge first."""
    usable = alive.clone()
    if "none" in op_set:
        usable[:, op_set.index("none")] = False
    pairs: list[tuple[str, int]] = []
    for node in range(N_NODES):
        edges = [k for k, (_, dst) in enumerate(CANDIDATE_EDGES) if dst == node]
        best = []
        for k in edges:
            masked = probs[k].masked_fill(~usable[k], -1.0)
            j = int(masked.argmax())
            if usable[k, j]:
                best.append((float(masked[j]), -k, op_set[j], CANDIDATE_EDGES[k][0]))
        if len(best) < 2:
            raise ValueError(f"node {node} has fewer than two edges with a real op alive; cannot derive")
        best.sort(reverse=True)
        pairs += [(op, src) for _, _, op, src in best[:2]]
    return pairs


def derive_genotype(probs: dict[str, torch.Tensor], op_sets: dict[str, list[str]],
                    alive: dict[str, torch.Tensor], max_skip: int = 2) -> Genotype:
    normal_probs = probs["normal"].clone()
    normal_alive = alive["normal"].clone()
    normal = derive_cell(normal_probs, op_sets["normal"], normal_alive)
    if "skip_connect" in op_sets["normal"]:
        j = op_sets["normal"].index("skip_connect")
        while sum(op == "skip_connect" for op, _ in normal) > max_skip:
            chosen = _chosen_edges(normal)
            weakest = min((k for k in chosen if normal_alive[k, j] and _op_of(normal, k) == "skip_connect"),
                          key=lambda k: float(normal_probs[k, j]))
            normal_alive[weakest, j] = False
            normal = derive_cell(normal_probs, op_sets["normal"], normal_alive)
    reduce = derive_cell(probs["reduce"], op_sets["reduce"], alive["reduce"])
    concat = tuple(range(2, N_NODES + 2))
    return Genotype(tuple(normal), concat, tuple(reduce), concat)


def _chosen_edges(pairs: list[tuple[str, int]]) -> list[int]:
    return [CANDIDATE_EDGES.index((src, i // 2)) for i, (_, src) in enumerate(pairs)]


def _op_of(pairs: list[tuple[str, int]], edge: int) -> str:
    src, node = CANDIDATE_EDGES[edge]
    return next(op for i, (op, s) in enumerate(pairs) if i // 2 == node and s == src)
