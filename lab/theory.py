"""Theory: mean-field signal propagation at initialization for a plain MLP.

The infinitely-wide picture of Poole et al. (2016), Schoenholz et al. (2017) and He et al. (2015):
each hidden pre-activation is N(0, q_l) across units, with

    q_1 = sigma_w1^2 * m0,   q_{l+1} = sigma_w(l+1)^2 * E[phi(sqrt(q_l) z)^2] / (1 - p),

sigma_w(l)^2 = Var(W_l) * fan_in_l, sigma_b^2 = 0 (biases start at zero), m0 = mean of x^2 over
training examples and features, p = dropout, z ~ N(0, 1). Gaussian expectations use closed forms
for linear, relu and leaky_relu and quadrature otherwise. The quadrature is Gauss-Legendre on
panels of each half-line (split at 0, where relu/selu have kinks, and refined near 0 on the scale
1/sqrt(q), where tanh and sigmoid turn into steps). Plain Gauss-Hermite (hermegauss, 100 points)
was measured too inaccurate here: 0.4% off for E[relu] and E[selu], 88% for E[tanh'^2] at q=100.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lab.config import Config
from lab.data import load
from lab.registry import INITS, LEAKY_SLOPE

SELU_ALPHA = 1.6732632423543772848170429916717  # torch.nn.SELU's constants
SELU_SCALE = 1.0507009873554804934193349852946
CLOSED_FORMS = ("linear", "relu", "leaky_relu")
_Z_MAX = 12.0  # the standard normal beyond 12 sigma holds < 1e-32 of the mass
_LEG_X, _LEG_W = np.polynomial.legendre.leggauss(24)  # nodes per panel
_BIG = 1e300  # stands in for +-infinity when q itself overflowed
_erf = np.vectorize(math.erf, otypes=[float])

Fn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Prediction:
    """Mean-field quantities per hidden layer (index l-1 = hidden layer l), float64.

    q: variance of the pre-activations of layer l.
    act_std: std of layer l's activation output phi(h), h ~ N(0, q_l) (before dropout).
    chi: sigma_w(l)^2 * E[phi'(sqrt(q_l) z)^2] / (1 - p). For l >= 2 (width x width layers, so
        fan_out / fan_in = 1) it is the predicted Var(dL/da_{l-1}) / Var(dL/da_l); chi[0] uses layer
        1's own sigma_w^2 (input fan-in) and maps to no hidden layer.
    act_grad_std_rel: std of dL/da_l relative to the last hidden layer,
        prod_{k=l+1..L} sqrt(chi_k); the last entry is 1.
    depth_scale: xi = -1/ln(chi_L), layers per e-fold of the gradient variance (negative: grows
        toward the input). chi_L, the last layer's, equals every hidden chi when they are constant
        and approximates the fixed point's when they vary. None for depth 1, chi_L == 1 (critical)
        or a non-finite/non-positive chi_L.
    """

    q: np.ndarray
    act_std: np.ndarray
    chi: np.ndarray
    act_grad_std_rel: np.ndarray
    depth_scale: float | None


def activation_fns(name: str) -> tuple[Fn, Fn]:
    """(phi, phi') as numpy functions for an activation name of Config (torch's definitions)."""
    a, s, al = LEAKY_SLOPE, SELU_SCALE, SELU_ALPHA

    def sigmoid(x: np.ndarray) -> np.ndarray:
        return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow for large |x|

    def gauss_cdf(x: np.ndarray) -> np.ndarray:
        return 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))

    def gauss_pdf(x: np.ndarray) -> np.ndarray:
        return np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)

    return {
        "linear": (lambda x: x, np.ones_like),
        "sigmoid": (sigmoid, lambda x: sigmoid(x) * sigmoid(-x)),
        "tanh": (np.tanh, lambda x: 1.0 / np.cosh(x) ** 2),
        "relu": (lambda x: np.maximum(x, 0.0), lambda x: (x > 0).astype(float)),
        "leaky_relu": (lambda x: np.where(x > 0, x, a * x), lambda x: np.where(x > 0, 1.0, a)),
        "gelu": (lambda x: x * gauss_cdf(x), lambda x: gauss_cdf(x) + x * gauss_pdf(x)),
        "selu": (lambda x: s * np.where(x > 0, x, al * np.expm1(np.minimum(x, 0.0))),
                 lambda x: s * np.where(x > 0, 1.0, al * np.exp(np.minimum(x, 0.0)))),
    }[name]


def gaussian_nodes(q: float) -> tuple[np.ndarray, np.ndarray]:
    """Points u and weights w (summing to 1) with sum(w * f(u)) ~ E[f(u)], u ~ N(0, q)."""
    s = math.sqrt(q)
    edges = [0.0, 1.0, 2.5, 5.0, 8.0, _Z_MAX]  # the Gaussian's own scale
    fine = 1.0 / s if s > 0 else math.inf  # the activation's scale 1 in units of z
    while fine < 1.0:
        edges.append(fine)
        fine *= 4.0
    edges = np.unique(edges)
    lo, hi = edges[:-1, None], edges[1:, None]
    t = (lo + (hi - lo) * (_LEG_X + 1.0) / 2.0).ravel()
    w = ((hi - lo) / 2.0 * _LEG_W).ravel() * np.exp(-0.5 * t * t) / math.sqrt(2.0 * math.pi)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.concatenate([-s * t, s * t]), np.concatenate([w, w])


def moments(name: str, q: float, closed_form: bool = True) -> tuple[float, float, float]:
    """(E[phi(u)^2], Var[phi(u)], E[phi'(u)^2]) for u ~ N(0, q); quadrature if not closed_form."""
    q = float(q)
    if closed_form and name in CLOSED_FORMS:
        a = 0.0 if name == "relu" else LEAKY_SLOPE
        if name == "linear":
            return q, q, 1.0
        half = (1.0 + a * a) / 2.0  # E[phi^2] = half * q, E[phi'^2] = half
        mean2 = (1.0 - a) ** 2 / (2.0 * math.pi)  # E[phi] = (1 - a) sqrt(q / (2 pi))
        return half * q, q * (half - mean2), half
    phi, dphi = activation_fns(name)
    with np.errstate(all="ignore"):
        if math.isinf(q):  # the z -> +-inf limits, each with mass 1/2
            u, w = np.array([_BIG, -_BIG]), np.array([0.5, 0.5])
        else:
            u, w = gaussian_nodes(q)
        v, c = phi(u), float(phi(np.zeros(1))[0])
        m2 = float(w @ (v * v))
        centred = v - c  # centring on phi(0) avoids cancellation (sigmoid's mean is 1/2)
        m1 = w @ centred  # numpy scalars: inf/0 on overflow/underflow, never an exception
        var = float(w @ (centred * centred) - m1 * m1)
        d2 = float(w @ dphi(u) ** 2)
    if not math.isfinite(m2):
        var = math.inf
    return m2, max(var, 0.0), d2


def weight_variance(cfg: Config, fan_in: int, fan_out: int) -> float:
    """Var(W) of one layer under cfg.init and cfg.init_gain, as lab.models initializes it."""
    return INITS[cfg.init].weight_variance(cfg.init_gain, fan_in, fan_out, cfg.activation)


def applies(cfg: Config) -> bool:
    """Whether the plain-MLP theory describes cfg (no BN, skips, zeros/orthogonal init or CNN)."""
    return (cfg.arch == "mlp" and cfg.batchnorm == "none" and not (cfg.residual and cfg.depth > 1)
            and cfg.init not in ("zeros", "orthogonal"))


def predict(cfg: Config) -> Prediction | None:
    """Mean-field q, activation std, chi and relative gradient std per hidden layer, or None."""
    if not applies(cfg):
        return None

    x = load(cfg).x_train.numpy().astype(np.float64)
    m0 = float(np.mean(x * x))
    keep = 1.0 - cfg.dropout
    fans = [(x.shape[1] if i == 0 else cfg.width, cfg.width) for i in range(cfg.depth)]
    sw2 = np.array([weight_variance(cfg, fi, fo) * fi for fi, fo in fans])
    q, var, d2 = (np.zeros(cfg.depth) for _ in range(3))
    m2 = 0.0  # E[phi^2] of the previous layer
    with np.errstate(over="ignore", invalid="ignore"):
        for i in range(cfg.depth):
            q[i] = sw2[0] * m0 if i == 0 else sw2[i] * m2 / keep
            m2, var[i], d2[i] = moments(cfg.activation, q[i])
        chi = sw2 * d2 / keep
        # entry l: prod_{k=l+1..L} sqrt(chi_k); reverse cumulative product of chi[1:]
        rel = np.append(np.sqrt(np.cumprod(chi[1:][::-1])[::-1]), 1.0)
    return Prediction(q=q, act_std=np.sqrt(var), chi=chi, act_grad_std_rel=rel,
                      depth_scale=_depth_scale(chi))


def _depth_scale(chi: np.ndarray) -> float | None:
    """-1/ln(chi_L) from the last hidden->hidden chi; None where undefined (see Prediction)."""
    if len(chi) < 2 or not (math.isfinite(chi[-1]) and chi[-1] > 0):
        return None
    log = math.log(chi[-1])
    return None if abs(log) < 1e-12 else -1.0 / log
