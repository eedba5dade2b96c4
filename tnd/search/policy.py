"""The architecture policy: one categorical per edge, softmax(alpha_e) over the ops still alive.

The maths are pure functions on tensors (so the bandit test and the search loop share them);
``Policy`` only holds alpha, the alive masks and the baseline.
"""

from __future__ import annotations

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
                 generator: torch.Generator | None = None, n_edges: int = N_EDGES):
        super().__init__()
        self.op_sets = {cell: list(ops) for cell, ops in op_sets.items()}
        self.cells = tuple(self.op_sets)
        self.alpha = torch.nn.ParameterDict({
            cell: torch.nn.Parameter(init_std * torch.randn(n_edges, len(ops), generator=generator))
            for cell, ops in self.op_sets.items()})
        for cell, ops in self.op_sets.items():
            self.register_buffer(f"alive_{cell}", torch.ones(n_edges, len(ops), dtype=torch.bool))

    def alive(self, cell: str) -> torch.Tensor:
        return getattr(self, f"alive_{cell}")

    def probs(self, cell: str) -> torch.Tensor:
        return masked_log_softmax(self.alpha[cell].detach(), self.alive(cell)).exp()

    def sample(self, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        return {cell: sample_ops(self.alpha[cell], self.alive(cell), generator) for cell in self.cells}

    def log_prob(self, choice: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(log_prob(self.alpha[c], self.alive(c), choice[c]) for c in self.cells)

    def entropy(self) -> torch.Tensor:
        return sum(entropy(self.alpha[c], self.alive(c)) for c in self.cells)

    def op_names(self, choice: dict[str, torch.Tensor]) -> dict[str, list[str]]:
        return {c: [self.op_sets[c][int(i)] for i in choice[c]] for c in self.cells}

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
