"""Optimizers: SGD, momentum, Adam and RMSprop written once, for one run or a stack of runs.

One run passes its parameter tensors and a float learning rate: every operation is then the one
torch.optim's foreach implementation performs, in the same order, so the weights are bit-for-bit
torch's (tests/test_optim.py). A stack of runs passes its (members, P) parameter rows and
per-member learning rates and weight decays as (members, 1) tensors: the same formulas, per row.
"""

from __future__ import annotations

import torch

MOMENTUM = 0.9  # Config's "momentum": SGD with momentum 0.9
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam's defaults
RMSPROP_ALPHA, RMSPROP_EPS = 0.99, 1e-8  # torch.optim.RMSprop's defaults
KINDS = ("sgd", "momentum", "adam", "rmsprop")

Rate = float | torch.Tensor  # one run: a float; a stack: (members, 1)


class Optimizer:
    """The state and step of one of KINDS over a fixed list of parameter tensors."""

    def __init__(self, kind: str, params: list[torch.Tensor]):
        if kind not in KINDS:
            raise ValueError(f"optimizer={kind!r}: must be one of {', '.join(KINDS)}")
        self.kind = kind
        self.params = params
        self.state: list[list[torch.Tensor]] = []  # per kind: momentum / Adam moments / RMS
        self.steps = 0

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor], lr: Rate, weight_decay: Rate = 0.0) -> None:
        """Update the parameters in place from `grads` (left unchanged) at rate `lr`.

        A tensor `weight_decay` is always applied (a stack passes one only when some member
        decays: deciding per step would cost a host sync)."""
        params = self.params
        if isinstance(weight_decay, torch.Tensor):  # L2 penalty on the gradient, as torch.optim
            grads = [torch.addcmul(g, p, weight_decay) for g, p in zip(grads, params, strict=True)]
        elif weight_decay != 0:
            grads = torch._foreach_add(grads, params, alpha=weight_decay)
        self.steps += 1
        if self.kind == "adam":
            self._adam(grads, lr)
        elif self.kind == "rmsprop":
            self._rmsprop(grads, lr)
        elif self.kind == "momentum":
            if not self.state:  # the first step's buffer is the gradient itself
                self.state = [[g.detach().clone() for g in grads]]
            else:
                torch._foreach_mul_(self.state[0], MOMENTUM)
                torch._foreach_add_(self.state[0], grads)
            _descend(params, self.state[0], lr)
        else:
            _descend(params, grads, lr)

    def _adam(self, grads: list[torch.Tensor], lr: Rate) -> None:
        (beta1, beta2), k = ADAM_BETAS, float(self.steps)
        if not self.state:
            self.state = [[torch.zeros_like(p) for p in self.params] for _ in range(2)]
        avg, avg_sq = self.state[:2]
        torch._foreach_lerp_(avg, grads, 1 - beta1)
        torch._foreach_mul_(avg_sq, beta2)
        torch._foreach_addcmul_(avg_sq, grads, grads, 1 - beta2)
        correction1, correction2 = 1 - beta1 ** k, 1 - beta2 ** k
        if isinstance(lr, float):
            denom = torch._foreach_sqrt(avg_sq)
            torch._foreach_div_(denom, [correction2 ** 0.5] * len(denom))
            torch._foreach_add_(denom, ADAM_EPS)
            torch._foreach_addcdiv_(self.params, avg, denom, [(lr / correction1) * -1] * len(avg))
            return
        if len(self.state) == 2:  # a stack's rows are large: its buffers are kept, not remade
            self.state.append([torch.empty_like(p) for p in self.params])
        for p, a, s, d in zip(self.params, avg, avg_sq, self.state[2], strict=True):
            torch.sqrt(s, out=d).div_(correction2 ** 0.5).add_(ADAM_EPS)
            p.sub_(torch.div(a, d, out=d).mul_(lr / correction1))

    def _rmsprop(self, grads: list[torch.Tensor], lr: Rate) -> None:
        if not self.state:
            self.state = [[torch.zeros_like(p) for p in self.params]]
        square = self.state[0]
        torch._foreach_mul_(square, RMSPROP_ALPHA)
        torch._foreach_addcmul_(square, grads, grads, value=1 - RMSPROP_ALPHA)
        avg = torch._foreach_sqrt(square)
        torch._foreach_add_(avg, RMSPROP_EPS)
        if isinstance(lr, float):
            torch._foreach_addcdiv_(self.params, grads, avg, value=-lr)
        else:
            for p, g, a in zip(self.params, grads, avg, strict=True):
                p.sub_(g.div(a).mul_(lr))


def _descend(params: list[torch.Tensor], direction: list[torch.Tensor], lr: Rate) -> None:
    """params -= lr * direction."""
    if isinstance(lr, float):
        torch._foreach_add_(params, direction, alpha=-lr)
    else:
        for p, d in zip(params, direction, strict=True):
            p.sub_(d * lr)

