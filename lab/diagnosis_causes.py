"""What is wrong inside a net, where, and what would help: the causes a verdict names.

Checked in order: symmetric (zero init), dead ReLUs, saturated sigmoid/tanh, vanishing or
exploding gradients (now, else at init), a linear net. lab/diagnosis.py weighs the cause found
against the stage and the accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lab.config import Config
from lab.diagnosis_measures import gradient_ratio
from lab.diagnosis_text import number, where, where_zh
from lab.i18n import text as _t
from lab.run import Run

VANISHING = 1e-2  # layer 1 gets less than this fraction of the last layer's dL/da
EXPLODING = 1e2  # layer 1 gets more than this multiple (plain nets)
EXPLODING_BY_DESIGN = 1e3  # the same for nets with batch norm or skips, whose gradient grows
SATURATED = 0.5  # mean fraction of saturated sigmoid/tanh outputs over the layers
DEAD = 0.5  # fraction of a layer's ReLUs that output 0 for every example


@dataclass(frozen=True)
class Cause:
    """What is wrong inside the net, where, and what would help."""

    kind: str
    text: str  # a clause: "72% of the tanh units in layers 2-10 sit on its flat ends"
    layers: tuple[int, ...]
    remedy: str
    ratio: float = float("nan")  # the gradient ratio the text quotes (vanishing, exploding)
    zh: str = ""  # `text` in Chinese


def find_cause(run: Run) -> Cause | None:
    """The first of: symmetric, dead, saturated, vanishing, exploding, linear; None if none."""
    cfg, depth = run.config, run.depth
    act = cfg.activation
    if np.all(run.act_std[0] < 1e-7):
        return Cause("symmetric", "zero init gives a layer's units equal gradients, so they "
                     "stay identical", tuple(range(1, depth + 1)),
                     "a random init (He or Xavier)", zh=_t("diag.symmetric", "zh"))
    dead = run.act_dead[-1]
    if np.any(dead > DEAD):
        layers = _layers(dead > DEAD)
        share = f"{_mean(dead[dead > DEAD]):.0%}"
        return Cause("dead", f"{share} of the ReLUs in "
                     f"{where(layers)} are dead (0 for every input, no gradient)",
                     layers, "a lower learning rate or leaky ReLU",
                     zh=_t("diag.dead", "zh", where=where_zh(layers), share=share))
    saturated = run.act_saturated[-1]
    if _mean(saturated) > SATURATED:
        layers = _layers(saturated > SATURATED)
        gentler = cfg.init in ("normal", "uniform") or cfg.init_gain > 1
        share = f"{_mean(saturated[saturated > SATURATED]):.0%}"
        return Cause("saturated", f"{share} of the {act} "
                     f"units in {where(layers)} sit on its flat ends", layers,
                     "Xavier init or a smaller init gain" if gentler
                     else "batch norm before the activation",
                     zh=_t("diag.saturated", "zh", where=where_zh(layers), share=share, act=act))
    if depth > 1:
        found = _gradient_cause(run)
        if found is not None:
            return found
    if act == "linear":
        return Cause("linear", "linear layers make one linear map, whose class boundaries "
                     "are straight", (), "a nonlinear activation", zh=_t("diag.linear", "zh"))
    return None


def grows_by_design(cfg: Config) -> bool:
    """Batch norm and skip connections make the gradient grow toward the input by design."""
    return cfg.batchnorm != "none" or cfg.residual


def _gradient_cause(run: Run) -> Cause | None:
    """Vanishing or exploding, now if so, else at init."""
    cfg, depth = run.config, run.depth
    high = EXPLODING_BY_DESIGN if grows_by_design(cfg) else EXPLODING
    for row, when, when_zh in ((-1, "layer 1 gets", _t("diag.when.now", "zh")),
                               (0, "at init layer 1 got", _t("diag.when.init", "zh"))):
        ratio = gradient_ratio(run, row)
        if not np.isfinite(ratio):
            continue
        g = run.act_grad_std[row] / run.act_grad_std[row][-1]  # relative to the last layer
        if ratio < VANISHING:
            layers = _layers(g < VANISHING)
            return Cause("vanishing", f"{when} {number(ratio)}x layer {depth}'s gradient "
                         f"({where(layers)} under 1/100)", layers, _vanishing_remedy(cfg),
                         ratio, zh=_t("diag.vanishing", "zh", when=when_zh, depth=depth,
                                      ratio=number(ratio), where=where_zh(layers)))
        if ratio > high:
            layers = _layers(g > high)
            why = " (batch norm makes it grow)" if cfg.batchnorm != "none" else ""
            remedy = ("a smaller init gain or gradient clipping" if cfg.init_gain > 1
                      else "fewer layers or skip connections" if cfg.batchnorm != "none"
                      else "a lower learning rate or gradient clipping")
            why_zh = _t("diag.exploding_bn", "zh") if why else ""
            return Cause("exploding", f"{when} {number(ratio)}x layer {depth}'s gradient{why}",
                         layers, remedy, ratio,
                         zh=_t("diag.exploding", "zh", when=when_zh, depth=depth,
                               ratio=number(ratio), why=why_zh))
    return None


def _vanishing_remedy(cfg: Config) -> str:
    if cfg.init_gain < 1:
        return "a larger init gain"
    if cfg.activation in ("relu", "leaky_relu") and cfg.init.startswith("xavier"):
        return "He init"
    if cfg.activation in ("sigmoid", "tanh"):
        return "batch norm, or ReLU with He init"
    return "batch norm or skip connections"


def _layers(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) + 1 for i in np.flatnonzero(mask))


def _mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else 0.0
