"""Stacked runs: N networks of one architecture as one lab.models.Net over a members axis.

Each member's parameters are one row of a (members, P) tensor, and the Net's own blocks run with
stacked layers: a linear layer is one batched matmul over members and BatchNorm normalizes each
member's units over its own batch. Members never mix, so each equals the network trained alone
up to float rounding, while N small runs cost a few larger operations per step instead of N
times as many small ones (small models are bound by per-operation overhead, not arithmetic).
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from lab.models import Net
from lab.probes import mean_std

BN_MOMENTUM, BN_EPS = 0.1, 1e-5  # nn.BatchNorm1d's defaults, as the single network uses


class StackedLinear(nn.Module):
    """A linear layer per member: x (members, batch, in) -> (members, batch, out)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor):
        super().__init__()
        self.weight, self.bias = weight, bias  # (members, in, out), (members, out): views

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight)


class StackedBatchNorm(nn.Module):
    """BatchNorm1d of each member over its own batch: members x units channels at once."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, running: tuple[torch.Tensor,
                                                                                   torch.Tensor]):
        super().__init__()
        self.weight, self.bias = weight, bias  # (members, units) views
        self.running_mean, self.running_var = running  # (members * units,) as F.batch_norm wants

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        n, batch, units = z.shape
        out = F.batch_norm(z.transpose(0, 1).reshape(batch, n * units), self.running_mean,
                           self.running_var, self.weight.reshape(-1), self.bias.reshape(-1),
                           training=self.training, momentum=BN_MOMENTUM, eps=BN_EPS)
        return out.view(batch, n, units).transpose(0, 1)


class Stack:
    """The members' parameters as rows of one (members, P) tensor, and the stacked Net."""

    def __init__(self, nets: list[Net], device: torch.device):
        self.n = n = len(nets)
        named = list(nets[0].named_parameters())
        self.depth = depth = len(nets[0].blocks)
        hidden = [f"blocks.{i}.layer.weight" for i in range(depth)]
        # hidden weights first and contiguous, so per-layer slices are cheap to reach
        order = hidden + [name for name, _ in named if name not in hidden]
        # linear weights are kept transposed, (in, out): x @ W is then a plain batched matmul
        # and autograd hands back contiguous gradients (no copy to flatten them)
        self.transposed = {name for name, p in named if p.dim() == 2}
        shapes = {name: (p.t() if name in self.transposed else p).shape for name, p in named}
        self.slices: dict[str, tuple[int, int, torch.Size]] = {}
        start = 0
        for name in order:
            size = math.prod(shapes[name])
            self.slices[name] = (start, start + size, shapes[name])
            start += size
        self.hidden_end = self.slices[hidden[-1]][1]
        self.hidden_groups = self._hidden_groups(hidden)
        rows = []
        for net in nets:
            params = dict(net.named_parameters())
            rows.append(torch.cat([(params[name].t() if name in self.transposed
                                    else params[name]).detach().flatten() for name in order]))
        self.flat = torch.stack(rows).to(device)  # (members, P): all parameters, one row each
        # leaves that view the flat rows: autograd gives each its own gradient (a gradient
        # through views of one leaf would add a zero-filled (members, P) copy per view)
        self.leaves = {name: self.flat[:, a:b].view(n, *shape).requires_grad_(True)
                       for name, (a, b, shape) in self.slices.items()}
        self.net = self._stacked_net(nets[0], device)
        sqrt_numel = torch.tensor([math.prod(shapes[h]) ** 0.5 for h in hidden], device=device)
        self.weight_sqrt_numels = sqrt_numel[:, None].expand(depth, n).reshape(-1)

    def _hidden_groups(self, hidden: list[str]) -> list[tuple[int, int, int]]:
        """Runs of consecutive equal-size hidden weights: (start, stop, layers)."""
        groups: list[tuple[int, int, int]] = []
        for name in hidden:
            a, b, _ = self.slices[name]
            last = groups[-1] if groups else None
            if last is not None and (last[1] - last[0]) // last[2] == b - a:
                groups[-1] = (last[0], b, last[2] + 1)
            else:
                groups.append((a, b, 1))
        return groups

    def _stacked_net(self, template: Net, device: torch.device) -> Net:
        """The template's Net, its layers and BatchNorms swapped for stacked ones."""
        net = copy.deepcopy(template)
        leaf = self.leaves
        self.batchnorms: dict[str, StackedBatchNorm] = {}
        for i, block in enumerate(net.blocks):
            block.layer = StackedLinear(leaf[f"blocks.{i}.layer.weight"],
                                        leaf[f"blocks.{i}.layer.bias"])
            for place in ("bn_before", "bn_after"):
                if getattr(block, place) is not None:
                    units = leaf[f"blocks.{i}.{place}.weight"].shape[1]
                    running = (torch.zeros(self.n * units, device=device),
                               torch.ones(self.n * units, device=device))
                    bn = StackedBatchNorm(leaf[f"blocks.{i}.{place}.weight"],
                                          leaf[f"blocks.{i}.{place}.bias"], running)
                    setattr(block, place, bn)
                    self.batchnorms[f"blocks.{i}.{place}"] = bn
        net.head = StackedLinear(leaf["head.weight"], leaf["head.bias"])
        return net

    def grads_flat(self, grads: list[torch.Tensor]) -> torch.Tensor:
        """The leaves' gradients as one (members, P) tensor in the flat layout."""
        return torch.cat([g.view(self.n, -1) for g in grads], dim=1)

    def layer_grad_norms(self, g: torch.Tensor) -> torch.Tensor:
        """(depth * members,) norm of each hidden weight's gradient, layer-major."""
        names = list(self.slices)[:self.depth]
        return torch.stack([torch.linalg.vector_norm(g[:, a:b], dim=1)
                            for a, b, _ in (self.slices[k] for k in names)]).reshape(-1)

    def update_ratio(self, before: torch.Tensor) -> torch.Tensor:
        """(members, depth) log10(std(update) / std(W)) of each hidden weight since `before`."""
        delta, n = self.flat[:, :self.hidden_end] - before, self.n
        out = []
        for a, b, count in self.hidden_groups:  # equal-size layers are one op
            rows = (delta[:, a:b].reshape(n * count, -1), before[:, a:b].reshape(n * count, -1))
            ratio = mean_std(rows[0])[1] / mean_std(rows[1])[1]
            out.append(ratio.view(n, count))
        return torch.log10(torch.cat(out, dim=1))

    @torch.no_grad()
    def member_net(self, m: int, net: Net, bn_updates: int) -> Net:
        """Copy member m's weights and BatchNorm statistics into `net` (its own CPU Net)."""
        params = dict(net.named_parameters())
        row = self.flat[m].cpu()
        for name, (a, b, shape) in self.slices.items():
            value = row[a:b].view(shape)
            params[name].copy_(value.t() if name in self.transposed else value)
        for key, stacked in self.batchnorms.items():
            block, i, place = key.split(".")
            bn = getattr(net.blocks[int(i)], place)
            units = bn.running_mean.numel()
            bn.running_mean.copy_(stacked.running_mean[m * units:(m + 1) * units].cpu())
            bn.running_var.copy_(stacked.running_var[m * units:(m + 1) * units].cpu())
            bn.num_batches_tracked.fill_(bn_updates)
        return net
