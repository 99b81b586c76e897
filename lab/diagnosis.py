"""Diagnosis: the plain-words verdict on a Run (shared by the figure, the dashboard and the CLI)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lab.run import Run

VANISHING = 1e-2  # layer 1 gets less than this fraction of the last layer's dL/da
EXPLODING = 1e2  # layer 1 gets more than this multiple
SATURATED = 0.5  # mean fraction of saturated sigmoid/tanh outputs
DEAD = 0.3  # mean fraction of dead relu units
SEVERITIES = ("fine", "watch", "problem")


@dataclass(frozen=True)
class Diagnosis:
    """One verdict: `kind` is a keyword, `text` one plain sentence."""

    kind: str  # "diverged", "vanishing", "exploding", "saturated", "dead", "healthy", "empty"
    text: str
    ratio: float  # dL/da std of layer 1 over the last hidden layer (NaN if unknown)
    severity: str = "fine"  # one of SEVERITIES: drives the verdict's colour
    layers: tuple[int, ...] = ()  # the hidden layers concerned (1 = input side)
    remedy: str = ""  # the control that would help, where the lab knows one

    def __post_init__(self):
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity={self.severity!r}: allowed {SEVERITIES}")


def gradient_ratio(run: Run, row: int = -1) -> float:
    """Std of dL/da at layer 1 divided by that at the last hidden layer, at recorded row `row`."""
    if len(run.act_grad_std) == 0:
        return float("nan")
    g = run.act_grad_std[row]
    if not np.isfinite(g[0]) or not np.isfinite(g[-1]) or g[-1] <= 0:
        return float("nan")
    return float(g[0] / g[-1])


def diagnose(run: Run) -> Diagnosis:
    """What is wrong with `run`'s gradients now (its last recorded row), or that nothing is."""
    depth = run.depth
    if run.diverged_at is not None:
        return Diagnosis("diverged", f"diverged at step {run.diverged_at}: loss or gradients "
                         "became inf/NaN", float("nan"), "problem")
    if len(run.act_grad_std) == 0:
        return Diagnosis("empty", "nothing recorded yet", float("nan"))
    ratio = gradient_ratio(run)
    if depth > 1 and ratio < VANISHING:
        return Diagnosis("vanishing", f"vanishing: layer 1 receives {number(ratio)} of layer "
                         f"{depth}'s gradient", ratio, "problem")
    if depth > 1 and ratio > EXPLODING:
        return Diagnosis("exploding", f"exploding: layer 1 receives {number(ratio)}x layer "
                         f"{depth}'s gradient", ratio, "problem")
    saturated = _mean(run.act_saturated[-1])
    if saturated > SATURATED:
        return Diagnosis("saturated", f"saturated: {saturated:.0%} of activations sit at the "
                         "flat ends of the nonlinearity", ratio, "watch")
    dead = _mean(run.act_dead[-1])
    if dead > DEAD:
        return Diagnosis("dead", f"dead units: {dead:.0%} of ReLUs output zero for every "
                         "example", ratio, "watch")
    if depth == 1:
        return Diagnosis("healthy", "healthy: one hidden layer has nothing to vanish through",
                         ratio)
    return Diagnosis("healthy", f"healthy: layer 1 receives {number(ratio)}x layer {depth}'s "
                     "gradient", ratio)


def number(x: float) -> str:
    """A ratio in plain words: 0.56, 31, 2e-13, 3e4."""
    if not np.isfinite(x):
        return str(x)
    if 1e-3 <= abs(x) < 1e4:
        return f"{x:.2g}" if abs(x) < 100 else f"{x:.0f}"
    mantissa, exponent = f"{x:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else 0.0
