"""Run by tests/test_distributed.py under `torchrun --standalone --nproc_per_node=2` (gloo, CPU).

Each rank checks the distributed helpers against what it can compute alone, then writes
OUT/rank<R>.ok; the main rank alone writes OUT/result.json. Any failed check exits non-zero.
"""

import json
import sys
from pathlib import Path

import torch

from tnd import distributed as D
from tnd.errors import TndError


def batch(r: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(100 + r)
    return torch.randn(8, 5, generator=g), torch.randint(0, 3, (8,), generator=g)


def main(out: Path) -> None:
    torch.set_num_threads(1)
    device = torch.device("cpu")
    with D.process_group(device) as env:
        assert env.launched and env.world_size == 2 and env.rank == D.rank() and D.world_size() == 2
        assert D.is_main() == (env.rank == 0) == env.is_main

        # different initial weights on each rank, then rank 0's everywhere
        torch.manual_seed(env.rank)
        net = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 3))
        assert not D.all_ranks_equal(net[0].weight)
        D.broadcast_module(net)
        assert all(D.all_ranks_equal(t) for t in net.state_dict().values())

        # averaged gradients = the mean of every rank's gradient, computed here for both ranks
        expected = []
        for r in range(2):
            net.zero_grad()
            x, y = batch(r)
            torch.nn.functional.cross_entropy(net(x), y).backward()
            expected.append([p.grad.clone() for p in net.parameters()])
        net.zero_grad()
        x, y = batch(env.rank)
        torch.nn.functional.cross_entropy(net(x), y).backward()
        D.average_gradients(net.parameters(), check=True)
        for p, a, b in zip(net.parameters(), *expected):
            assert torch.allclose(p.grad, (a + b) / 2, atol=1e-6)
        # a rank whose gradients cover other parameters is caught, on every rank
        net.zero_grad()
        net(x).sum().backward()
        if env.rank == 1:
            net[0].weight.grad = None
        try:
            D.average_gradients(net.parameters(), check=True)
            raise AssertionError("mismatched gradients were not refused")
        except RuntimeError as e:
            assert "same path" in str(e)

        # reward samples split across ranks and gathered back in order on every rank
        items = list(range(7))
        mine = D.split_work(items)
        assert mine == items[env.rank::2]
        scores = torch.tensor([10.0 * i for i in mine])
        assert torch.equal(D.gather_work(scores, 7), torch.arange(7) * 10.0)
        assert D.gather_objects([f"s{i}" for i in mine], 7) == [f"s{i}" for i in items]

        # the same stream on every rank; a drawn seed is shared; different seeds are refused everywhere
        g = D.shared_generator(1234)
        assert D.all_ranks_equal(torch.rand(16, generator=g))
        assert D.all_ranks_equal(torch.tensor([float(D.shared_seed(None))]))
        try:
            D.shared_seed(env.rank)
            raise AssertionError("different seeds were not refused")
        except TndError as e:
            assert "different seeds" in str(e)

        assert D.any_rank(env.rank == 1) and not D.any_rank(False)
        assert D.broadcast_object({"rank": env.rank}) == {"rank": 0}
        D.barrier()
        if D.is_main():
            (out / "result.json").write_text(json.dumps({"world_size": D.world_size(),
                                                         "weights": net[0].weight.tolist()}))
        (out / f"rank{env.rank}.ok").write_text("ok")
    assert D.world_size() == 1 and D.rank() == 0  # the group is left


if __name__ == "__main__":
    main(Path(sys.argv[1]))
