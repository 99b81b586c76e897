"""Schedule: when a training evaluates, checks and hands over frames, and its learning rate.

Torch-free, so that the limits a dashboard checks before any training need no torch import.
"""

from __future__ import annotations

import math

import numpy as np

from lab.config import Config

FRAME_SECONDS = 0.15  # on_frame cadence
N_EVALS = 20  # validation points per run
CHECK_EVERY = 25  # steps between checks for non-finite values (no per-step host sync)
MAX_VAL = 2048  # validation examples evaluated (and at most as many training examples)
VAL_FRACTION = 0.2  # of a dataset's examples held out for validation
MAX_ROWS = 50  # per-layer rows per run: every k-th step (bounds memory and recording cost)
N_SNAPSHOTS = 10  # histogram snapshots besides step 0


def eval_every(steps: int) -> int:
    """Steps between evaluations: N_EVALS per run (the final weights get one more)."""
    return max(1, steps // N_EVALS)


def lr_at(cfg: Config, step: int) -> float:
    """Learning rate at `step` under cfg.lr_schedule ("plateau": before any reduction, which
    depends on the validation losses; lab.evaluation.Plateau)."""
    if cfg.lr_schedule == "step":
        return cfg.lr * 0.1 ** ((step >= cfg.steps // 2) + (step >= (3 * cfg.steps) // 4))
    if cfg.lr_schedule == "cosine":
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * step / cfg.steps))
    return cfg.lr


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
