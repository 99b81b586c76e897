"""Sweep: train every combination of a few varied Config fields (cs231n's weight-scale sweep)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lab.batched import train_many
from lab.config import Config
from lab.diagnosis import gradient_ratio
from lab.run import Run
from lab.trainer import train


@dataclass(frozen=True)
class SweepPoint:
    """One trained combination: the varied values, its Run, and the numbers a sweep plots."""

    values: dict[str, Any]  # varied field -> value
    run: Run
    ratio_init: float  # layer-1 dL/da std over the last layer's, at initialization
    ratio_end: float  # the same at the last recorded step
    val_acc: float  # the model's validation accuracy (restored weights' if restored; NaN if the
    # run diverged)


def combinations(vary: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the varied values, first field varying slowest."""
    names = list(vary)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*vary.values())]


def sweep(base: Config, vary: dict[str, list[Any]],
          progress: Callable[[int, int, dict[str, Any]], None] | None = None,
          batched: bool = False) -> list[SweepPoint]:
    """Train `base` with each combination of `vary` applied; `progress(i, n, values)` as they go.

    Each combination trains as lab.train would, so its numbers are the dashboard's. With
    `batched=True` those that share an architecture (seeds, init scales, learning rates...)
    train together as one stacked model (lab.batched): 2-4x faster, equal to lab.train up to
    float rounding, which chaotic training can grow into different final accuracies (a
    clipping sweep of lesson 06: 74% batched against 60% alone at threshold 0.5).
    """
    combos = combinations(vary)
    configs = [base.replace(**values) for values in combos]  # validate all before training any

    def report(done: int, total: int) -> None:
        if progress is not None:
            progress(done, total, combos[done] if done < total else {})

    if batched:
        runs = train_many(configs, progress=report)
    else:
        runs = []
        for i, cfg in enumerate(configs):
            report(i, len(configs))
            runs.append(train(cfg))
        report(len(configs), len(configs))
    points = []
    for values, run in zip(combos, runs, strict=True):
        ok = len(run.val_acc) and run.diverged_at is None
        acc = float(run.val_acc[run.final_eval]) if ok else np.nan
        points.append(SweepPoint(values, run, gradient_ratio(run, 0), gradient_ratio(run, -1),
                                 acc))
    return points
