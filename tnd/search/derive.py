"""From policy probabilities to a DARTS-compatible genotype.

Per node keep the two incoming edges whose strongest non-`none` op is most probable (DARTS), or, for a
policy that samples in this form, the two edges it prefers (``edge_scores``), each with its strongest real
op. In the normal cell at most ``max_skip`` skip connections survive: while there are more, the weakest
chosen skip is struck from its edge and the cell is derived again (P-DARTS). Where striking one more would
leave a node with fewer than two usable edges, the cap is relaxed and a warning says so: a finished search
is never lost to its derivation.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from tnd.space.genotype import CANDIDATE_EDGES, N_NODES, Genotype


def derive_cell(probs: torch.Tensor, op_set: list[str], alive: torch.Tensor,
                edge_scores: torch.Tensor | None = None) -> list[tuple[str, int]]:
    """probs, alive: (14 edges x ops). Returns 2 (op, input) pairs per node, strongest edge first.
    ``edge_scores`` (one per edge) ranks the edges instead of their strongest op's probability."""
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
                score = float(masked[j]) if edge_scores is None else float(edge_scores[k])
                best.append((score, -k, op_set[j], CANDIDATE_EDGES[k][0]))
        if len(best) < 2:
            raise ValueError(f"node {node} has fewer than two edges with a real op alive; cannot derive")
        best.sort(reverse=True)
        pairs += [(op, src) for _, _, op, src in best[:2]]
    return pairs


def derive_genotype(probs: dict[str, torch.Tensor], op_sets: dict[str, list[str]],
                    alive: dict[str, torch.Tensor], max_skip: int = 2,
                    edge_scores: dict[str, torch.Tensor] | None = None,
                    warnings: list[str] | None = None) -> Genotype:
    """The genotype; ``warnings`` (if given) receives a line for every rule that had to be relaxed."""
    scores = edge_scores or {}
    normal_probs = probs["normal"].clone()
    normal_alive = alive["normal"].clone()
    normal = derive_cell(normal_probs, op_sets["normal"], normal_alive, scores.get("normal"))
    if "skip_connect" in op_sets["normal"]:
        j = op_sets["normal"].index("skip_connect")
        while sum(op == "skip_connect" for op, _ in normal) > max_skip:
            chosen = _chosen_edges(normal)
            weakest = min((k for k in chosen if normal_alive[k, j] and _op_of(normal, k) == "skip_connect"),
                          key=lambda k: float(normal_probs[k, j]))
            trial = normal_alive.clone()
            trial[weakest, j] = False
            try:
                normal = derive_cell(normal_probs, op_sets["normal"], trial, scores.get("normal"))
            except ValueError:
                kept = sum(op == "skip_connect" for op, _ in normal)
                if warnings is not None:
                    warnings.append(f"skip cap relaxed: {kept} skip connections kept in the normal cell (cap "
                                    f"{max_skip}); striking another would leave a node without two real inputs")
                break
            normal_alive = trial
    reduce = derive_cell(probs["reduce"], op_sets["reduce"], alive["reduce"], scores.get("reduce"))
    concat = tuple(range(2, N_NODES + 2))
    return Genotype(tuple(normal), concat, tuple(reduce), concat)


def node_edges() -> list[list[int]]:
    """The candidate edges entering each intermediate node of a DARTS cell (rows of alpha)."""
    return [[k for k, (_, dst) in enumerate(CANDIDATE_EDGES) if dst == node] for node in range(N_NODES)]


def _chosen_edges(pairs: list[tuple[str, int]]) -> list[int]:
    return [CANDIDATE_EDGES.index((src, i // 2)) for i, (_, src) in enumerate(pairs)]


def _op_of(pairs: list[tuple[str, int]], edge: int) -> str:
    src, node = CANDIDATE_EDGES[edge]
    return next(op for i, (op, s) in enumerate(pairs) if i // 2 == node and s == src)


def neighbour_genotypes(genotype: Genotype, alive_ops: dict[str, list[list[str]]],
                        max_skip: int = 2) -> list[Genotype]:
    """Every genotype one change from ``genotype`` that derivation could give: one node's input pair gets
    another real op alive on its edge, or another edge (input) into that node not already taken by the
    node's other pair, with the normal cell's skip connections still at most ``max_skip`` (when the
    genotype obeyed the cap). ``alive_ops``: per cell type, the alive op names of each of the 14 edges.
    In a fixed order (cell, pair, input, op), so a search over them is deterministic."""
    out = []
    for cell in ("normal", "reduce"):
        pairs = list(getattr(genotype, cell))
        skips = sum(op == "skip_connect" for op, _ in pairs)
        for i, (op, src) in enumerate(pairs):
            node, sibling = i // 2, pairs[i ^ 1][1]
            for new_src in range(node + 2):
                if new_src == sibling:
                    continue
                for new_op in alive_ops[cell][CANDIDATE_EDGES.index((new_src, node))]:
                    if new_op == "none" or (new_op, new_src) == (op, src):
                        continue
                    if cell == "normal" and new_op == "skip_connect" and op != "skip_connect" and skips >= max_skip:
                        continue
                    changed = tuple(pairs[:i] + [(new_op, new_src)] + pairs[i + 1:])
                    out.append(replace(genotype, **{cell: changed}))
    return out
