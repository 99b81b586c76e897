"""lab.optim: the one optimizer implementation, against torch.optim's own.

A single run's steps must be torch.optim's bit for bit (same operations, same order); a stack's
per-member rates must give each member the steps torch.optim takes at that member's rate alone.
"""

import pytest
import torch

from lab.baselines import make_optimizer
from lab.config import Config
from lab.optim import KINDS, Optimizer


def _tensors(seed: int, shapes=((6, 4), (6,), (3, 6))) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=g) for s in shapes]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_one_run_steps_equal_torch_optim_bit_for_bit(kind, weight_decay):
    cfg = Config(optimizer=kind, lr=0.05, weight_decay=weight_decay)
    ours = [p.clone() for p in _tensors(0)]
    theirs = [torch.nn.Parameter(p.clone()) for p in _tensors(0)]
    opt, ref = Optimizer(kind, ours), make_optimizer(cfg, theirs)
    for step in range(6):
        grads = _tensors(100 + step)
        lr = 0.05 * 0.7 ** step  # a schedule: the rate changes between steps
        for p, g in zip(theirs, grads, strict=True):
            p.grad = g.clone()
        for group in ref.param_groups:
            group["lr"] = lr
        ref.step()
        opt.step(grads, lr, weight_decay)
        for a, b in zip(ours, theirs, strict=True):
            assert torch.equal(a, b.detach()), (kind, step)
        assert all(torch.equal(g, h) for g, h in zip(grads, _tensors(100 + step), strict=True))


@pytest.mark.parametrize("kind", KINDS)
def test_stacked_members_each_take_torch_optims_steps_at_their_own_rate(kind):
    rates, decays = [0.1, 0.01, 0.003], [0.0, 1e-2, 1e-3]
    start = torch.randn(3, 20, generator=torch.Generator().manual_seed(1))
    stacked = start.clone()
    opt = Optimizer(kind, [stacked])
    alone = [torch.nn.Parameter(start[m].clone()) for m in range(3)]
    refs = [make_optimizer(Config(optimizer=kind, lr=r, weight_decay=d), [p])
            for p, r, d in zip(alone, rates, decays, strict=True)]
    for step in range(8):
        g = torch.randn(3, 20, generator=torch.Generator().manual_seed(50 + step))
        opt.step([g], torch.tensor(rates)[:, None], torch.tensor(decays)[:, None])
        for m, (p, ref) in enumerate(zip(alone, refs, strict=True)):
            p.grad = g[m].clone()
            ref.step()
            # the same formulas per row; a fused op here and there rounds differently
            torch.testing.assert_close(stacked[m], p.detach(), rtol=1e-5, atol=1e-7)
    assert not torch.equal(stacked, start)


def test_unknown_kind_names_the_field_and_the_choices():
    with pytest.raises(ValueError, match="optimizer='lbfgs'.*sgd, momentum, adam, rmsprop"):
        Optimizer("lbfgs", [torch.zeros(2)])
