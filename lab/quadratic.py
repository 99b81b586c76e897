"""An ill-conditioned quadratic, f(x) = 1/2 x^T A x, and the lab's optimizers stepping on it.

A is diagonal with eigenvalues from 1 (mu) to kappa (L), so kappa is its condition number and
the minimum is x = 0. Every method here is the update torch.optim applies ("momentum" is
torch's SGD with momentum, which is Polyak's heavy ball with step size lr), in float64 numpy,
so that measured convergence rates can be checked against the textbook ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

METHODS = ("gd", "momentum", "rmsprop", "adam", "article_adam")
ADAM_BETAS, EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam's defaults
RMSPROP_ALPHA = 0.99  # torch.optim.RMSprop's default


@dataclass(frozen=True)
class Descent:
    """One optimizer's path on the quadratic: points (steps + 1, dim) and f at each."""

    method: str
    lr: float
    momentum: float
    points: np.ndarray
    loss: np.ndarray

    @property
    def distance(self) -> np.ndarray:
        """|x_k - x*| at each step (the minimum x* is 0)."""
        return np.linalg.norm(self.points, axis=1)


def eigenvalues(kappa: float, dim: int = 2) -> np.ndarray:
    """The diagonal of A: dim values spread geometrically from 1 to kappa."""
    return np.geomspace(1.0, kappa, dim)


def loss(lam: np.ndarray, x: np.ndarray) -> np.ndarray:
    """f(x) = 1/2 sum lam_i x_i^2 for one point or rows of points."""
    return 0.5 * np.sum(lam * np.asarray(x) ** 2, axis=-1)


def gd_optimum(kappa: float) -> tuple[float, float]:
    """(lr, rate): plain gradient descent's best step size 2/(mu+L) and its rate per step,
    (kappa-1)/(kappa+1) (with mu = 1, L = kappa)."""
    return 2.0 / (1.0 + kappa), (kappa - 1.0) / (kappa + 1.0)


def heavy_ball_optimum(kappa: float) -> tuple[float, float, float]:
    """(lr, momentum, rate): Polyak's best heavy-ball step 4/(sqrt(L)+sqrt(mu))^2, momentum
    ((sqrt(kappa)-1)/(sqrt(kappa)+1))^2 and its rate per step (sqrt(kappa)-1)/(sqrt(kappa)+1)."""
    root = math.sqrt(kappa)
    rate = (root - 1.0) / (root + 1.0)
    return 4.0 / (root + 1.0) ** 2, rate ** 2, rate


def descend(kappa: float, method: str, lr: float, steps: int, momentum: float = 0.0,
            start: tuple[float, ...] = (1.0, 1.0)) -> Descent:
    """Run `method` for `steps` steps from `start` on the quadratic with condition number kappa.

    "gd": x -= lr g. "momentum": v = momentum v + g; x -= lr v (torch's SGD). "rmsprop":
    s = 0.99 s + 0.01 g^2; x -= lr g / (sqrt(s) + eps). "adam": torch's Adam. "article_adam":
    the update one source article gives as Adam: Adam's bias-corrected first moment alone,
    x -= lr m / (1 - beta1^t), the second moment computed but never used.
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r}: must be one of {', '.join(METHODS)}")
    x = np.array(start, dtype=np.float64)
    lam = eigenvalues(kappa, len(x))
    (b1, b2), m, s = ADAM_BETAS, np.zeros_like(x), np.zeros_like(x)
    points = [x.copy()]
    for t in range(1, steps + 1):
        g = lam * x
        if method == "gd":
            x = x - lr * g
        elif method == "momentum":
            m = momentum * m + g if t > 1 else g.copy()
            x = x - lr * m
        elif method == "rmsprop":
            s = RMSPROP_ALPHA * s + (1 - RMSPROP_ALPHA) * g * g
            x = x - lr * g / (np.sqrt(s) + EPS)
        else:
            m = b1 * m + (1 - b1) * g
            s = b2 * s + (1 - b2) * g * g
            if method == "adam":
                x = x - lr / (1 - b1 ** t) * m / (np.sqrt(s / (1 - b2 ** t)) + EPS)
            else:
                x = x - lr * m / (1 - b1 ** t)
        points.append(x.copy())
    pts = np.array(points)
    return Descent(method, lr, momentum, pts, loss(lam, pts))


def measured_rate(distance: np.ndarray, first: int, last: int) -> float:
    """The mean factor per step by which the distance shrank from step `first` to `last`."""
    return float((distance[last] / distance[first]) ** (1.0 / (last - first)))


def steps_to(distance: np.ndarray, fraction: float) -> int | None:
    """The first step at which the distance is below `fraction` of the start's, or None."""
    below = np.nonzero(distance <= fraction * distance[0])[0]
    return int(below[0]) if len(below) else None


def gd_rate(kappa: float, lr: float) -> float:
    """Plain gradient descent's rate per step at step size lr: max over eigenvalues |1 - lr lam|."""
    return float(np.max(np.abs(1.0 - lr * eigenvalues(kappa))))


def heavy_ball_rate(kappa: float, lr: float, momentum: float) -> float:
    """Heavy ball's rate per step: the largest root modulus of z^2 - (1 + b - lr lam) z + b over
    the eigenvalues lam (b = momentum)."""
    roots = [np.roots([1.0, -(1.0 + momentum - lr * lam), momentum])
             for lam in eigenvalues(kappa)]
    return float(max(np.abs(r).max() for r in roots))


def compare(kappa: float = 100.0, steps: int = 100, lr: float | None = None,
            momentum: float = 0.9) -> dict[str, Descent]:
    """Plain GD and torch-style momentum at the same step size (default 1/kappa, half the
    largest stable one for plain GD) on one quadratic."""
    lr = 1.0 / kappa if lr is None else lr
    return {"gradient descent": descend(kappa, "gd", lr, steps),
            f"momentum {momentum:g}": descend(kappa, "momentum", lr, steps, momentum=momentum)}
