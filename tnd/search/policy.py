"""The architecture policy: softmax(alpha_e) over the ops still alive on each edge.

Two ways to draw an architecture from alpha:
  ``edges``    one op per candidate edge, `none` included (14 edges per DARTS cell, nodes with 0-5 inputs);
  ``derived``  the form derivation outputs (DARTS genotypes): per node two distinct incoming edges, drawn
               without replacement from softmax over edge logits l_e = logsumexp of alpha_e over the real
               (non-`none`) alive ops, and on each chosen edge one real op from softmax over those ops.
               A row's level moves its edge's chance of being chosen; differences within the row move the
               op, so reward, costs and the derived genotype all describe the same kind of network.

The maths are pure functions on tensors (so the bandit test and the search loop share them);
``Policy`` only holds alpha and the alive masks. In a ``derived`` choice an unchosen edge has index -1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tnd.space.genotype import N_EDGES, Architecture

NEG_INF = float("-inf")


# ---- pure maths -------------------------------------------------------------------------------

def masked_log_softmax(alpha: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
    """log softmax over each row's alive entries; dead entries get -inf (probability 0)."""
    return torch.log_softmax(alpha.masked_fill(~alive, NEG_INF), dim=-1)


def sample_ops(alpha: torch.Tensor, alive: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One op index per edge, drawn from softmax(alpha_e) over alive ops."""
    probs = masked_log_softmax(alpha.detach(), alive).exp()
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def log_prob(alpha: torch.Tensor, alive: torch.Tensor, choice: torch.Tensor) -> torch.Tensor:
    """log pi(a) = sum over edges of log softmax(alpha_e)[a_e] (differentiable in alpha)."""
    return masked_log_softmax(alpha, alive).gather(-1, choice.unsqueeze(-1)).sum()


def grad_log_prob(alpha: torch.Tensor, alive: torch.Tensor, choice: torch.Tensor) -> torch.Tensor:
    """Closed form of d log pi(a) / d alpha: onehot(a_e) - softmax(alpha_e), zero on dead ops."""
    probs = masked_log_softmax(alpha.detach(), alive).exp()
    onehot = torch.zeros_like(probs).scatter_(-1, choice.unsqueeze(-1), 1.0)
    return (onehot - probs) * alive


def entropy(alpha: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
    """Summed per-edge entropy of the policy (nats); falls towards 0 as the policy collapses."""
    logp = masked_log_softmax(alpha, alive)
    p = logp.exp()
    return -(p * logp.masked_fill(~alive, 0.0)).sum()


def reinforce_loss(log_probs: torch.Tensor, rewards: torch.Tensor, baseline: float) -> torch.Tensor:
    """REINFORCE with a baseline, as a loss to descend: -mean((R - b) * log pi(a))."""
    return -((rewards - baseline) * log_probs).mean()


def update_baseline(baseline: float | None, mean_reward: float, decay: float) -> float:
    """Exponential moving average b <- b + decay * (mean R - b); the first step takes mean R."""
    return mean_reward if baseline is None else baseline + decay * (mean_reward - baseline)


def edge_logits(alpha: torch.Tensor, usable: torch.Tensor) -> torch.Tensor:
    """l_e = logsumexp of alpha_e over the usable (alive, real) ops; -inf where an edge has none."""
    return torch.logsumexp(alpha.masked_fill(~usable, NEG_INF), dim=-1)


@dataclass(frozen=True)
class OpCap:
    """At most ``most`` edges of a cell take op column ``op`` (DARTS derivation's cap on skip connections,
    ``derive.max_skip``), so that samples are of the form derivation outputs. In sampling order (node by
    node, each node's two edges by index) an edge met once the cap is reached draws among its other usable
    ops; an edge with no other usable op keeps it (as derivation relaxes the cap)."""

    op: int
    most: int


def _capped(usable: torch.Tensor, e: int, cap: OpCap | None, count: int) -> bool:
    """Whether edge ``e`` may not take the cap's op, ``count`` edges having taken it before."""
    return (cap is not None and count >= cap.most and bool(usable[e, cap.op])
            and int(usable[e].sum()) > 1)


def sample_derived(alpha: torch.Tensor, usable: torch.Tensor, nodes: list[list[int]],
                   generator: torch.Generator | None = None, uniform: bool = False,
                   cap: OpCap | None = None) -> torch.Tensor:
    """Two distinct edges per node and a real op on each (-1 on the other edges). ``uniform``: every
    usable edge pair and op equally likely (warm-up). ``cap``: at most so many edges take its op."""
    a = torch.zeros_like(alpha) if uniform else alpha.detach()
    logits = edge_logits(a, usable)
    op_probs = masked_log_softmax(a, usable).exp()
    choice = torch.full((alpha.shape[0],), -1, dtype=torch.long)
    count = 0
    for edges in nodes:
        idx = torch.tensor(edges)
        picked = idx[torch.multinomial(torch.softmax(logits[idx], -1), 2, replacement=False, generator=generator)]
        for e in (picked.tolist() if cap is None else sorted(picked.tolist())):
            probs = op_probs[e]
            if _capped(usable, e, cap, count):
                probs = probs.clone()
                probs[cap.op] = 0.0
            choice[e] = int(torch.multinomial(probs, 1, generator=generator))
            count += cap is not None and int(choice[e]) == cap.op
    return choice


def log_prob_derived(alpha: torch.Tensor, usable: torch.Tensor, nodes: list[list[int]],
                     choice: torch.Tensor, cap: OpCap | None = None) -> torch.Tensor:
    """log pi of a ``derived`` choice: per node the unordered pair {a, b} drawn without replacement,
    p_a p_b / (1 - p_a) + p_b p_a / (1 - p_b), times the op probabilities on the chosen edges (under
    ``cap``, an edge met once the cap is reached: over its usable ops but the capped one, as drawn)."""
    logits = edge_logits(alpha, usable)
    op_logp = masked_log_softmax(alpha, usable)
    total = alpha.new_zeros(())
    count = 0
    for edges in nodes:
        idx = torch.tensor(edges)
        logp = torch.log_softmax(logits[idx], -1)
        chosen = [k for k, e in enumerate(edges) if int(choice[e]) >= 0]
        la, lb = logp[chosen[0]], logp[chosen[1]]
        # log(p_a p_b) + log(1/(1-p_a) + 1/(1-p_b)), with log(1 - p_k) the logsumexp of the node's other
        # edges: log1p(-exp(l_k)) is -inf (and its gradient NaN) once p_k rounds to 1 in float32, which a
        # policy whose edge logits differ by ~17 or more reaches
        rest = lambda k: torch.logsumexp(logp[[j for j in range(len(edges)) if j != k]], -1)  # noqa: E731
        total = total + la + lb + torch.logaddexp(-rest(chosen[0]), -rest(chosen[1]))
        for k in chosen:
            e = edges[k]
            if _capped(usable, e, cap, count):
                other = usable[e].clone()
                other[cap.op] = False
                total = total + masked_log_softmax(alpha[e], other)[choice[e]]
            else:
                total = total + op_logp[e, choice[e]]
            count += cap is not None and int(choice[e]) == cap.op
    return total


def shrink_alive(alpha: torch.Tensor, alive: torch.Tensor, keep: int) -> torch.Tensor:
    """Keep each edge's ``keep`` strongest alive ops (by alpha); ties go to the lower op index."""
    scores = alpha.detach().masked_fill(~alive, NEG_INF)
    # Stable ordering: subtract a tiny index-proportional amount so equal alphas keep DARTS order.
    order = torch.argsort(scores - 1e-9 * torch.arange(scores.shape[-1]), dim=-1, descending=True)
    new = torch.zeros_like(alive)
    n_alive = alive.sum(-1)
    for e in range(alive.shape[0]):
        k = min(keep, int(n_alive[e]))
        new[e, order[e, :k]] = True
    return new


# ---- the policy object ------------------------------------------------------------------------

class Policy(torch.nn.Module):
    """alpha[cell]: (edges x ops of that cell type); alive[cell]: which ops survive on each edge.

    The cell types are the keys of ``op_sets`` (DARTS: normal and reduce, 14 edges each; NAS-Bench-201:
    one cell of 6 edges), so the same policy serves every search space."""

    def __init__(self, op_sets: dict[str, list[str]], init_std: float = 1e-3,
                 generator: torch.Generator | None = None, n_edges: int = N_EDGES,
                 nodes: list[list[int]] | None = None, sampling: str = "edges"):
        super().__init__()
        if sampling not in ("edges", "derived") or (sampling == "derived" and not nodes):
            raise ValueError(f"unknown sampling {sampling!r} (derived sampling needs the cell's nodes)")
        self.op_sets = {cell: list(ops) for cell, ops in op_sets.items()}
        self.cells = tuple(self.op_sets)
        self.nodes, self.sampling = nodes, sampling
        self.caps: dict[str, OpCap] = {}   # per cell type, an op derivation caps (``derived`` sampling only)
        self.alpha = torch.nn.ParameterDict({
            cell: torch.nn.Parameter(init_std * torch.randn(n_edges, len(ops), generator=generator))
            for cell, ops in self.op_sets.items()})
        for cell, ops in self.op_sets.items():
            self.register_buffer(f"alive_{cell}", torch.ones(n_edges, len(ops), dtype=torch.bool))

    def alive(self, cell: str) -> torch.Tensor:
        return getattr(self, f"alive_{cell}")

    def probs(self, cell: str) -> torch.Tensor:
        return masked_log_softmax(self.alpha[cell].detach(), self.alive(cell)).exp()

    def usable(self, cell: str) -> torch.Tensor:
        """Alive ops that are real (not `none`): what a ``derived`` sample may put on an edge."""
        real = torch.tensor([op != "none" for op in self.op_sets[cell]])
        return self.alive(cell) & real

    def sample(self, generator: torch.Generator | None = None, uniform: bool = False) -> dict[str, torch.Tensor]:
        """One architecture; ``uniform`` ignores alpha (every alive choice equally likely)."""
        if self.sampling == "derived":
            return {c: sample_derived(self.alpha[c], self.usable(c), self.nodes, generator, uniform,
                                      self.caps.get(c)) for c in self.cells}
        return {c: sample_ops(torch.zeros_like(self.alpha[c]) if uniform else self.alpha[c], self.alive(c),
                              generator) for c in self.cells}

    def log_prob(self, choice: dict[str, torch.Tensor],
                 alpha: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """log pi(choice) under this policy's alpha, or under ``alpha`` given per cell (differentiable in
        it: a conditioned policy's f(z) for one z), with this policy's alive masks and sampling form."""
        a = self.alpha if alpha is None else alpha
        if self.sampling == "derived":
            return sum(log_prob_derived(a[c], self.usable(c), self.nodes, choice[c], self.caps.get(c))
                       for c in self.cells)
        return sum(log_prob(a[c], self.alive(c), choice[c]) for c in self.cells)

    def edge_scores(self, cell: str) -> torch.Tensor:
        """How strongly each edge is preferred as a node's input under ``derived`` sampling."""
        return edge_logits(self.alpha[cell].detach(), self.usable(cell))

    def entropy(self) -> torch.Tensor:
        return sum(entropy(self.alpha[c], self.alive(c)) for c in self.cells)

    def op_names(self, choice: dict[str, torch.Tensor]) -> dict[str, list[str]]:
        return {c: [self.op_sets[c][int(i)] if int(i) >= 0 else "none" for i in choice[c]] for c in self.cells}

    def architecture(self, choice: dict[str, torch.Tensor]) -> Architecture:
        names = self.op_names(choice)
        return Architecture.from_sample(names["normal"], names["reduce"])

    def shrink(self, keep: int | dict[str, int]) -> dict[str, list[list[str]]]:
        """Drop all but the ``keep`` strongest ops per edge (one count, or one per cell type); returns the
        dropped op names per edge."""
        dropped = {}
        for cell in self.cells:
            alive = self.alive(cell)
            new = shrink_alive(self.alpha[cell], alive, keep if isinstance(keep, int) else keep[cell])
            ops = self.op_sets[cell]
            dropped[cell] = [[ops[j] for j, (was, now) in enumerate(zip(was_row, now_row)) if was and not now]
                             for was_row, now_row in zip(alive.tolist(), new.tolist())]
            alive.copy_(new)
        return dropped

    def reset_alpha(self, init_std: float = 1e-3, generator: torch.Generator | None = None) -> None:
        with torch.no_grad():
            for p in self.alpha.values():
                p.copy_(init_std * torch.randn(p.shape, generator=generator))

    def alive_ops(self, cell: str) -> list[list[str]]:
        ops = self.op_sets[cell]
        return [[ops[j] for j, a in enumerate(row) if a] for row in self.alive(cell).tolist()]


def one_hot_weights(policy: Policy, choice: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A sampled architecture as mixture weights: 1 on each edge's chosen op, 0 elsewhere (unchosen edges: 0)."""
    out = {}
    for cell in policy.cells:
        w = torch.zeros_like(policy.alive(cell), dtype=torch.float32)
        for e, j in enumerate(choice[cell].tolist()):
            if j >= 0:
                w[e, j] = 1.0
        out[cell] = w
    return out


def reinforce_step(policy: Policy, optimiser: torch.optim.Optimizer, choices: list[dict[str, torch.Tensor]],
                   rewards: torch.Tensor, baseline: float | None, entropy_weight: float, grad_clip: float,
                   baseline_decay: float) -> tuple[float, float]:
    """One REINFORCE step on alpha: descend -mean((R - b) log pi(a)) - entropy_weight * H(pi).

    ``b`` is the baseline before this step (the first step uses its own mean reward). Returns (b used,
    the baseline moved towards this step's mean reward)."""
    b = baseline if baseline is not None else float(rewards.mean())
    log_probs = torch.stack([policy.log_prob(c) for c in choices])
    loss = reinforce_loss(log_probs, rewards, b)
    if entropy_weight > 0:
        loss = loss - entropy_weight * policy.entropy()
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(policy.parameters(), grad_clip)
    optimiser.step()
    return b, update_baseline(baseline, float(rewards.mean()), baseline_decay)
