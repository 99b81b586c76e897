"""Recorder: device-side buffers of one training, copied to a numpy Run at frame boundaries."""

from __future__ import annotations

import math

import numpy as np
import torch

from lab import probes
from lab.config import Config
from lab.run import Histograms, Run

MAX_ROWS = 50  # per-layer rows per run: every k-th step (bounds memory and recording cost)
N_SNAPSHOTS = 10  # histogram snapshots besides step 0
N_EVAL_STATS = 4  # per evaluation: validation loss, accuracy; training-subset loss, accuracy


def recorded_steps(steps: int) -> np.ndarray:
    """Steps that get a per-layer row: every k-th so at most MAX_ROWS (+1), plus the last."""
    stride = max(1, math.ceil(steps / MAX_ROWS))
    rows = list(range(0, steps, stride))
    if rows[-1] != steps - 1:
        rows.append(steps - 1)
    return np.array(rows)


def snapshot_steps(steps: int) -> set[int]:
    """Steps with histograms: 0, N_SNAPSHOTS evenly spaced, and the last."""
    return {round(i * (steps - 1) / N_SNAPSHOTS) for i in range(N_SNAPSHOTS + 1)}


class UpdateTracker:
    """log10(std(applied update) / std(W)) per hidden weight, equal shapes batched into one op."""

    def __init__(self, weights: list[torch.Tensor]):
        self.groups: list[list[torch.Tensor]] = []
        for w in weights:
            if self.groups and self.groups[-1][0].shape == w.shape:
                self.groups[-1].append(w.detach())
            else:
                self.groups.append([w.detach()])
        self.before: list[torch.Tensor] = []

    def snapshot(self) -> None:
        """Copy the weights before the optimizer step."""
        self.before = [torch.stack(g) for g in self.groups]

    def ratio(self) -> torch.Tensor:
        """(depth,) log10 ratio for the step since snapshot()."""
        out = []
        for group, before in zip(self.groups, self.before, strict=True):
            flat_before = before.flatten(1)
            delta = torch.stack(group).flatten(1) - flat_before
            out.append(probes.mean_std(delta)[1] / probes.mean_std(flat_before)[1])
        return torch.log10(torch.cat(out))


class Recorder:
    """Buffers on the device for per-layer rows, per-step scalars, validation and histograms."""

    def __init__(self, cfg: Config, device: torch.device, steps: int):
        self.cfg = cfg
        self.rows = recorded_steps(steps)
        self.row_of = {int(s): i for i, s in enumerate(self.rows)}
        self.snaps = snapshot_steps(steps) | {steps - 1}
        self.layer = torch.full((probes.N_STATS + 1, len(self.rows), cfg.depth), math.nan,
                                device=device)  # (stats + update ratio, rows, depth)
        # per-step 0-d device tensors, appended each step (a list append costs no device op)
        self.loss: list[torch.Tensor] = []
        self.gnorm: list[torch.Tensor] = []  # global gradient norm before clipping
        self.applied: list[torch.Tensor] = []  # norm of the applied gradient (when clipping)
        self.clipped: list[torch.Tensor] = []  # bool: clipping acted (when clipping)
        self.lr = np.zeros(steps)
        self.n_rows = 0
        self.hist_steps: list[int] = []
        self.hist_act: list[torch.Tensor] = []
        self.hist_grad: list[torch.Tensor] = []
        self.act_edges: torch.Tensor | None = None
        self.grad_edges = torch.linspace(*probes.GRAD_LOG_RANGE, probes.HIST_BINS + 1)
        self.val_steps: list[int] = []
        # (evals, 4): validation loss, accuracy, then the same on the training subset
        self.val = torch.zeros((len(self.rows) + 64, N_EVAL_STATS), device=device)

    def layer_row(self, row: int, stats: torch.Tensor) -> None:
        """Store (N_STATS, depth) statistics as per-layer row `row`."""
        self.layer[: probes.N_STATS, row] = stats
        self.n_rows = row + 1

    def histogram(self, step: int, acts: list[torch.Tensor], act_grads: list[torch.Tensor]) -> None:
        """Record activation and gradient histograms for every layer at `step`."""
        if self.act_edges is None:  # fixed for the whole run, from step 0
            self.act_edges = probes.activation_edges(self.cfg.activation, self.layer[1, 0],
                                                     self.layer[0, 0])
        self.hist_steps.append(step)
        self.hist_act.append(probes.histograms(torch.stack(acts), self.act_edges))
        self.hist_grad.append(probes.grad_histograms(act_grads, self.grad_edges))

    def validation(self, step: int, loss_acc: torch.Tensor) -> None:
        """Store a (4,) tensor of validation loss and accuracy, then training-subset loss and
        accuracy, measured at `step` (after `step` updates)."""
        if len(self.val_steps) == len(self.val):
            self.val = torch.cat([self.val, torch.zeros_like(self.val)])
        self.val[len(self.val_steps)] = loss_acc
        self.val_steps.append(step)

    def last_val_loss(self) -> float:
        """The latest evaluation's validation loss, on the host (one sync)."""
        return float(self.val[len(self.val_steps) - 1, 0])

    def first_nonfinite(self, start: int, stop: int) -> int | None:
        """First step in [start, stop) whose loss or gradient norm is not finite (one host sync)."""
        if stop <= start:
            return None
        pair = torch.stack([torch.stack(self.loss[start:stop]),
                            torch.stack(self.gnorm[start:stop])])
        bad = (~torch.isfinite(pair).all(dim=0)).nonzero()
        return start + int(bad[0, 0]) if len(bad) else None

    def to_run(self, n_steps: int, device_name: str, seconds: float, **status) -> Run:
        """A numpy Run of everything recorded for steps < n_steps (one host copy per buffer)."""
        n_rows = min(int(np.searchsorted(self.rows, n_steps)), self.n_rows)
        layer = self.layer[:, :n_rows].cpu().double().numpy()
        keep = [i for i, s in enumerate(self.hist_steps) if s < n_steps]
        depth, bins = self.cfg.depth, probes.HIST_BINS
        if keep:
            act_h = torch.stack([self.hist_act[i] for i in keep]).cpu().double().numpy()
            grad_h = torch.stack([self.hist_grad[i] for i in keep]).cpu().double().numpy()
        else:
            act_h = grad_h = np.zeros((0, depth, bins))
        edges = self.act_edges if self.act_edges is not None else torch.linspace(0, 1, bins + 1)
        # an evaluation at step n sees the weights after n updates, so it belongs to a run of n
        # steps; after a divergence at step k = n_steps - 1 one at n saw the blown-up update:
        # left out (a run whose last update blew up has k = n_steps: its NaN evaluation stays)
        diverged = status.get("diverged_at")
        last = n_steps if diverged is None else min(n_steps, diverged)
        n_val = int(np.searchsorted(self.val_steps, last, side="right"))
        val = self.val[:n_val].cpu().double().numpy()
        loss, gnorm = _numpy(self.loss[:n_steps]), _numpy(self.gnorm[:n_steps])
        if self.cfg.clip == "none":
            applied, clipped = gnorm.copy(), np.zeros(len(gnorm), dtype=bool)
        else:
            applied = _numpy(self.applied[:n_steps])
            clipped = _numpy(self.clipped[:n_steps]) > 0.5
        return Run(
            config=self.cfg,
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
            lr=self.lr[:n_steps].copy(),
            global_grad_norm=gnorm,
            global_grad_norm_clipped=applied,
            clipped=clipped,
            val_steps=np.array(self.val_steps[:n_val], dtype=int),
            val_loss=val[:, 0].copy(),
            val_acc=val[:, 1].copy(),
            train_eval_loss=val[:, 2].copy(),
            train_acc=val[:, 3].copy(),
            seconds=seconds,
            **status,
        )


def _numpy(scalars: list[torch.Tensor]) -> np.ndarray:
    """Stack 0-d tensors into one float64 numpy array (one host copy)."""
    if not scalars:
        return np.zeros(0)
    return torch.stack(scalars).cpu().double().numpy()
