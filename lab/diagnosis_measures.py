"""The numbers a verdict reads off a Run: the gradient ratio, the per-layer gain and chance.

Notebooks and tests quote them too (imported from lab.diagnosis, which re-exports them).
"""

from __future__ import annotations

import numpy as np

from lab.config import CLASSES, Config
from lab.run import Run


def gradient_ratio(run: Run, row: int = -1) -> float:
    """Std of dL/da at layer 1 divided by that at the last hidden layer, at recorded row `row`."""
    if len(run.act_grad_std) == 0:
        return float("nan")
    g = run.act_grad_std[row]
    if not np.isfinite(g[0]) or not np.isfinite(g[-1]) or g[-1] <= 0:
        return float("nan")
    return float(g[0] / g[-1])


def per_layer_gain(run: Run, row: int = 0, first: int = 1) -> float:
    """Geometric-mean factor by which dL/da grows per layer toward the input, from the last
    hidden layer back to layer `first` (1 = input side), at recorded row `row` (0 = init).

    Below 1 the gradient vanishes layer by layer, above 1 it explodes; NaN if not known.
    """
    if len(run.act_grad_std) == 0 or run.depth - first < 1:
        return float("nan")
    g = run.act_grad_std[row]
    top, bottom = g[first - 1], g[-1]
    if not (np.isfinite(top) and np.isfinite(bottom) and top > 0 and bottom > 0):
        return float("nan")
    return float((top / bottom) ** (1 / (run.depth - first)))


def chance(cfg: Config) -> float:
    """Accuracy of guessing one class: 1 / number of classes of cfg's dataset."""
    return 1.0 / CLASSES[cfg.dataset]
