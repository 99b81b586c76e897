"""Recorder: device-side buffers of one or more trainings, copied to numpy Runs at frame ends.

Every buffer has a members axis: a single training is a stack of one. Each member's Run is built
from its own slice, so runs trained together are recorded exactly as runs trained alone.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from lab import probes
from lab.config import Config
from lab.run import Histograms, Run
from lab.schedule import recorded_steps, snapshot_steps  # noqa: F401  (re-exported)

N_EVAL_STATS = 4  # per evaluation: validation loss, accuracy; training-subset loss, accuracy


@dataclass(frozen=True)
class Outcome:
    """How a training ended (or where a partial frame stands); the Run fields of the same names."""

    diverged_at: int | None = None
    stopped_early_at: int | None = None
    cancelled: bool = False
    time_limited_at: int | None = None
    time_limit: float | None = None
    restored_from: int | None = None
    finished: bool = False


class Recorder:
    """Buffers on the device, (members, ...) each: per-layer rows, per-step scalars, evaluations
    and histograms of `configs` (one architecture, equal steps) trained side by side."""

    def __init__(self, configs: list[Config], device: torch.device, steps: int):
        self.configs = configs
        self.n = n = len(configs)
        cfg = configs[0]
        self.rows = recorded_steps(steps)
        self.row_of = {int(s): i for i, s in enumerate(self.rows)}
        self.snaps = snapshot_steps(steps) | {steps - 1}
        self.layer = torch.full((n, probes.N_STATS + 1, len(self.rows), cfg.depth), math.nan,
                                device=device)  # (members, stats + update ratio, rows, depth)
        # per-step (members,) device tensors, appended each step (an append costs no device op)
        self.loss: list[torch.Tensor] = []
        self.gnorm: list[torch.Tensor] = []  # global gradient norm before clipping
        self.applied: list[torch.Tensor] = []  # norm of the applied gradient (when clipping)
        self.clipped: list[torch.Tensor] = []  # bool: clipping acted (when clipping)
        self.lr = np.zeros((steps, n))
        self.n_rows = 0
        self.hist_steps: list[int] = []
        self.hist_act: list[torch.Tensor] = []  # (members, depth, bins) per snapshot
        self.hist_grad: list[torch.Tensor] = []
        self.act_edges: list[torch.Tensor] | None = None  # each member's, from its step 0
        self.grad_edges = torch.linspace(*probes.GRAD_LOG_RANGE, probes.HIST_BINS + 1)
        self.val_steps: list[int] = []
        self.val = torch.zeros((len(self.rows) + 64, n, N_EVAL_STATS), device=device)

    def layer_row(self, row: int, acts: list[torch.Tensor], act_grads: list[torch.Tensor],
                  weight_grad_norms: torch.Tensor, weight_sqrt_numels: torch.Tensor) -> None:
        """Per-layer statistics of every member into row `row`, from (members, batch, ...)
        activations and dL/da per layer and (depth * members,) dL/dW norms, layer-major."""
        depth, n = len(acts), self.n
        rows = (torch.stack(acts).flatten(0, 1).flatten(2),
                torch.stack(act_grads).flatten(0, 1).flatten(2))
        stats = probes.row_stats(*rows, weight_grad_norms, weight_sqrt_numels,
                                 self.configs[0].activation)  # (N_STATS, depth * members)
        self.layer[:, :probes.N_STATS, row] = stats.view(probes.N_STATS, depth, n).permute(2, 0, 1)
        self.n_rows = row + 1

    def update_row(self, row: int, ratios: torch.Tensor) -> None:
        """Store the (members, depth) log10 update-to-weight ratios of the step of row `row`."""
        self.layer[:, probes.N_STATS, row] = ratios

    def histogram(self, step: int, acts: list[torch.Tensor], act_grads: list[torch.Tensor]) -> None:
        """Record every member's activation and log10 |dL/da| histograms of every layer."""
        if self.act_edges is None:  # fixed for the whole run, from step 0's statistics
            self.act_edges = [probes.activation_edges(self.configs[0].activation,
                                                      self.layer[m, 1, 0], self.layer[m, 0, 0])
                              for m in range(self.n)]
        act_h, grad_h = [], []
        for m, edges in enumerate(self.act_edges):
            act_h.append(probes.histograms(torch.stack([a[m] for a in acts]), edges))
            grad_h.append(probes.grad_histograms([g[m] for g in act_grads], self.grad_edges))
        self.hist_steps.append(step)
        self.hist_act.append(torch.stack(act_h))
        self.hist_grad.append(torch.stack(grad_h))

    def validation(self, step: int, loss_acc: torch.Tensor) -> None:
        """Store a (members, 4) tensor of validation loss and accuracy, then training-subset loss
        and accuracy, measured at `step` (after `step` updates)."""
        if len(self.val_steps) == len(self.val):
            self.val = torch.cat([self.val, torch.zeros_like(self.val)])
        self.val[len(self.val_steps)] = loss_acc
        self.val_steps.append(step)

    def last_val_loss(self) -> list[float]:
        """Each member's latest validation loss, on the host (one sync)."""
        return self.val[len(self.val_steps) - 1, :, 0].tolist()

    def first_nonfinite(self, start: int, stop: int) -> list[int | None]:
        """Each member's first step in [start, stop) with a non-finite loss or gradient norm
        (one host sync)."""
        if stop <= start:
            return [None] * self.n
        bad = ~(torch.isfinite(torch.stack(self.loss[start:stop]))
                & torch.isfinite(torch.stack(self.gnorm[start:stop])))  # (steps, members)
        steps = torch.arange(start, stop, device=bad.device)[:, None].expand_as(bad)
        first = torch.where(bad, steps, stop).amin(dim=0).tolist()
        return [f if f < stop else None for f in first]

    def to_run(self, m: int, n_steps: int, device_name: str, seconds: float,
               outcome: Outcome) -> Run:
        """Member m's numpy Run of everything recorded for steps < n_steps (one host copy per
        buffer)."""
        cfg = self.configs[m]
        n_rows = min(int(np.searchsorted(self.rows, n_steps)), self.n_rows)
        layer = self.layer[m, :, :n_rows].cpu().double().numpy()
        keep = [i for i, s in enumerate(self.hist_steps) if s < n_steps]
        bins = probes.HIST_BINS
        if keep:
            act_h = torch.stack([self.hist_act[i][m] for i in keep]).cpu().double().numpy()
            grad_h = torch.stack([self.hist_grad[i][m] for i in keep]).cpu().double().numpy()
        else:
            act_h = grad_h = np.zeros((0, cfg.depth, bins))
        edges = self.act_edges[m] if self.act_edges is not None else torch.linspace(0, 1,
                                                                                    bins + 1)
        # an evaluation at step n sees the weights after n updates, so it belongs to a run of n
        # steps; after a divergence at step k = n_steps - 1 one at n saw the blown-up update:
        # left out (a run whose last update blew up has k = n_steps: its NaN evaluation stays)
        diverged = outcome.diverged_at
        last = n_steps if diverged is None else min(n_steps, diverged)
        n_val = int(np.searchsorted(self.val_steps, last, side="right"))
        val = self.val[:n_val, m].cpu().double().numpy()
        loss, gnorm = _numpy(self.loss[:n_steps], m), _numpy(self.gnorm[:n_steps], m)
        if cfg.clip == "none":
            applied, clipped = gnorm.copy(), np.zeros(len(gnorm), dtype=bool)
        else:
            applied = _numpy(self.applied[:n_steps], m)
            clipped = _numpy(self.clipped[:n_steps], m) > 0.5
        return Run(
            config=cfg,
            device=device_name,
            recorded_steps=self.rows[:n_rows].copy(),
            act_mean=layer[0], act_std=layer[1], act_saturated=layer[2], act_dead=layer[3],
            act_grad_std=layer[4], grad_norm=layer[5], grad_rms=layer[6], update_ratio=layer[7],
            hist=Histograms(
                steps=np.array([self.hist_steps[i] for i in keep], dtype=int),
                act_edges=edges.cpu().double().numpy(), act=act_h,
                grad_edges=self.grad_edges.double().numpy(), grad=grad_h,
            ),
            loss=loss,
            lr=self.lr[:n_steps, m].copy(),
            global_grad_norm=gnorm,
            global_grad_norm_clipped=applied,
            clipped=clipped,
            val_steps=np.array(self.val_steps[:n_val], dtype=int),
            val_loss=val[:, 0].copy(),
            val_acc=val[:, 1].copy(),
            train_eval_loss=val[:, 2].copy(),
            train_acc=val[:, 3].copy(),
            seconds=seconds,
            **dataclasses.asdict(outcome),
        )


def _numpy(values: list[torch.Tensor], m: int) -> np.ndarray:
    """Member m's column of stacked (members,) tensors as float64 numpy (one host copy)."""
    if not values:
        return np.zeros(0)
    return torch.stack(values)[:, m].cpu().double().numpy()
