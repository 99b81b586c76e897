"""Diagnosis: the verdict on a Run in plain words (shared by the figure, the dashboard and the CLI).

A verdict weighs what the run shows: whether the net learns (validation accuracy against chance),
the gradient profile at init and now, saturated and dead units per layer, the architecture (batch
norm and skip connections make gradients grow toward the input by design) and the stage (at init,
early in training, later or finished). Early on, and at init, only the gradients can be judged.
Each verdict is written in English (`text`) and Chinese (`zh`, from lab/i18n_strings.py's
templates).

This module weighs the stage and the outcome; lab/diagnosis_causes.py finds what is wrong inside
the net, lab/diagnosis_measures.py computes the numbers (gradient ratio, per-layer gain, chance)
and lab/diagnosis_text.py says layers and numbers in words. Their public names are importable
from here too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from lab.diagnosis_causes import (
    DEAD,
    EXPLODING,
    EXPLODING_BY_DESIGN,
    SATURATED,
    VANISHING,
    Cause,
    find_cause,
    grows_by_design,
)
from lab.diagnosis_measures import chance, gradient_ratio, per_layer_gain
from lab.diagnosis_text import grower, grower_key, number, remedy_zh
from lab.i18n import check_lang
from lab.i18n import text as _t
from lab.run import Run

__all__ = ["DEAD", "EARLY", "EXPLODING", "EXPLODING_BY_DESIGN", "EXTREME", "LAST_EVALS", "LEARNS",
           "SATURATED", "SEVERITIES", "STUCK", "SWING", "VANISHING", "Diagnosis", "chance",
           "diagnose", "gradient_ratio", "number", "per_layer_gain"]

EXTREME = 1e3  # a net that learns is still watched when layer 1 gets 1/EXTREME or EXTREME x
STUCK = 0.15  # accuracy's progress from chance toward 100% below which a net is stuck
LEARNS = 0.6  # progress from which a net learns well (spirals: 73%, digits: 64%)
LAST_EVALS = 3  # evaluations whose median a verdict judges (one evaluation can be a dip)
SWING = 0.05  # their spread from which the verdict quotes the range, not the last one
EARLY = 1 / 3  # share of the steps before which a training run is judged by its gradients only
SEVERITIES = ("fine", "watch", "problem")


@dataclass(frozen=True)
class Diagnosis:
    """One verdict: `kind` a keyword, `text` one plain sentence, `severity` its colour."""

    kind: str  # diverged, symmetric, dead, saturated, vanishing, exploding, linear, stuck, slow,
    #            healthy, empty
    text: str
    ratio: float  # dL/da std of layer 1 over the last hidden layer now (NaN if unknown)
    severity: str = "fine"  # one of SEVERITIES: drives the verdict's colour
    layers: tuple[int, ...] = ()  # the hidden layers concerned (1 = input side)
    remedy: str = ""  # the control that would help, where the lab knows one
    zh: str = ""  # `text` in Chinese

    def __post_init__(self):
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity={self.severity!r}: allowed {SEVERITIES}")

    def say(self, lang: str = "en") -> str:
        """The sentence in `lang` ("en" or "zh"; English where no Chinese was written)."""
        return self.zh if lang == "zh" and self.zh else self.text


def diagnose(run: Run, lang: str = "en") -> Diagnosis:
    """What is wrong with `run` now (its last recorded row and evaluation), or that nothing is.

    `text` is in `lang` ("en" or "zh"); `say(lang)` gives either language.
    """
    verdict = _diagnose(run)
    return verdict if check_lang(lang) == "en" else replace(verdict, text=verdict.say(lang))


def _diagnose(run: Run) -> Diagnosis:
    if run.diverged_at is not None:
        return _diverged(run)
    if len(run.act_grad_std) == 0:
        return Diagnosis("empty", "Nothing recorded yet.", float("nan"), zh=_t("diag.empty", "zh"))
    cfg = run.config
    early = not run.finished and run.steps_done < EARLY * cfg.steps
    if run.at_init or early or len(run.val_acc) == 0:
        return _by_gradients(run, find_cause(run))
    return _by_outcome(run, find_cause(run))


def _by_gradients(run: Run, cause: Cause | None) -> Diagnosis:
    """At init or early in training: what the gradient profile and the units predict."""
    ratio, depth = gradient_ratio(run), run.depth
    at_init = run.at_init or run.steps_done <= 1
    where = "At init" if at_init else f"Step {run.steps_done} of {run.config.steps}"
    where_zh = (_t("diag.at_init", "zh") if at_init
                else _t("diag.step", "zh", step=run.steps_done, steps=run.config.steps))
    if cause is None or cause.kind == "linear":
        flow = f"layer 1 receives {number(ratio)}x layer {depth}'s gradient, " + (
            f"growth that {grower(run.config)} bring by design" if ratio > EXPLODING
            else "neither vanishing nor exploding")
        why = (_t("diag.by_design", "zh", grower=_t(f"diag.grower.{grower_key(run.config)}",
                                                       "zh"))
               if ratio > EXPLODING else _t("diag.neither", "zh"))
        flow_zh = _t("diag.flow", "zh", depth=depth, ratio=number(ratio), why=why)
        if depth == 1:
            flow = "one hidden layer has nothing to vanish through"
            flow_zh = _t("diag.one_layer", "zh")
        return Diagnosis("healthy", f"{where}: {flow}.", ratio,
                         zh=_t("diag.sentence", "zh", where=where_zh, flow=flow_zh))
    mild = cause.kind == "dead" or (cause.kind == "exploding" and grows_by_design(run.config))
    return Diagnosis(cause.kind, f"{where}: {cause.text}. Try {cause.remedy}.", ratio,
                     "watch" if mild else "problem", cause.layers, cause.remedy,
                     zh=_t("diag.try", "zh", head=where_zh, cause=cause.zh,
                           remedy=remedy_zh(cause.remedy)))


def _by_outcome(run: Run, cause: Cause | None) -> Diagnosis:
    """Later in training or finished: how far above chance the net got, and why not further."""
    acc, words = _accuracy(run)
    words_zh = _accuracy_zh(run)
    base = chance(run.config)
    progress = (acc - base) / (1.0 - base) if np.isfinite(acc) else 0.0
    ratio, depth = gradient_ratio(run), run.depth
    so_far = "" if run.finished else " so far"

    def said(words_zh: str) -> str:
        return words_zh if run.finished else _t("diag.so_far", "zh", words=words_zh)

    if progress >= LEARNS:
        if _extreme(cause) and not (cause.kind == "exploding" and run.config.residual):
            return Diagnosis(cause.kind, f"Learns ({words}{so_far}), but {cause.text}. "
                             f"Try {cause.remedy}.", ratio, "watch", cause.layers, cause.remedy,
                             zh=_t("diag.learns_but", "zh", words=said(words_zh),
                                   cause=cause.zh, remedy=remedy_zh(cause.remedy)))
        flow = ("" if depth == 1 or not np.isfinite(ratio) else
                f"; layer 1 receives {number(ratio)}x layer {depth}'s gradient")
        flow_zh = ("" if not flow else
                   _t("diag.healthy_flow", "zh", depth=depth, ratio=number(ratio)))
        return Diagnosis("healthy", f"Healthy: validation accuracy {words}{so_far} (chance "
                         f"{base:.0%}){flow}.", ratio,
                         zh=_t("diag.healthy", "zh", words=said(words_zh), chance=f"{base:.0%}",
                               flow=flow_zh))
    stuck = progress < STUCK
    if stuck:  # near chance a range says nothing more
        words = words_zh = f"{acc:.0%}"
    head = (f"{'Stuck near chance' if stuck else 'Learns only partly'} ({words}{so_far}, "
            f"chance {base:.0%})")
    head_zh = _t("diag.stuck" if stuck else "diag.partly", "zh", words=said(words_zh),
                 chance=f"{base:.0%}")
    severity = "problem" if stuck else "watch"
    if cause is not None and (cause.kind == "symmetric" or _extreme(cause)
                              or _extreme_at_init(run, cause)):
        severity = "problem"  # the cause alone cripples the net, whatever accuracy luck gives
    if cause is None:
        remedy = "a larger learning rate or more steps"
        return Diagnosis("stuck" if stuck else "slow", f"{head}; the loss falls slowly. Try "
                         f"{remedy}.", ratio, severity, (), remedy,
                         zh=_t("diag.slow", "zh", head=head_zh, remedy=remedy_zh(remedy)))
    return Diagnosis(cause.kind, f"{head}: {cause.text}. Try {cause.remedy}.", ratio, severity,
                     cause.layers, cause.remedy,
                     zh=_t("diag.try", "zh", head=head_zh, cause=cause.zh,
                           remedy=remedy_zh(cause.remedy)))


def _accuracy(run: Run) -> tuple[float, str]:
    """The validation accuracy a verdict judges, and how to say it.

    One evaluation of a net whose accuracy swings from one evaluation to the next (batch norm's
    running averages, a large rate) is luck; the median of the last LAST_EVALS is not, and a
    swing of SWING or more is said as a range ("78-93% lately"). Restored best weights are
    judged by their own evaluation.
    """
    if run.restored_from is not None:
        acc = float(run.val_acc[run.final_eval])
        return acc, f"{acc:.0%}"
    last = run.val_acc[-LAST_EVALS:]
    acc = float(np.median(last))
    if not np.all(np.isfinite(last)) or np.ptp(last) < SWING:
        return float(last[-1]), f"{last[-1]:.0%}"
    return acc, f"{100 * last.min():.0f}-{last.max():.0%} lately"


def _accuracy_zh(run: Run) -> str:
    """_accuracy's words in Chinese ("最近在 78-93% 之间")."""
    acc, words = _accuracy(run)
    if not words.endswith(" lately"):
        return words
    low, high = words.removesuffix(" lately").split("-")
    return _t("diag.lately", "zh", low=low, high=high)


def _extreme(cause: Cause | None) -> bool:
    """Layer 1 gets under 1/EXTREME or over EXTREME times the last layer's gradient."""
    return (cause is not None and cause.kind in ("vanishing", "exploding")
            and not 1 / EXTREME < cause.ratio < EXTREME)


def _extreme_at_init(run: Run, cause: Cause) -> bool:
    """The cause's gradient ratio was beyond EXTREME at init: where training has since moved
    it (Adam can lift layer 1's gradient back toward 1) is chance, the crippled start is not."""
    if cause.kind not in ("vanishing", "exploding") or run.depth < 2:
        return False
    init = gradient_ratio(run, 0)
    return bool(init < 1 / EXTREME if cause.kind == "vanishing" else init > EXTREME)


def _diverged(run: Run) -> Diagnosis:
    cfg, init = run.config, gradient_ratio(run, 0)
    detail = detail_zh = ""
    if run.depth > 1 and init > EXPLODING:
        detail = f" (at init layer 1 got {number(init)}x layer {run.depth}'s gradient)"
        detail_zh = _t("diag.diverged_detail", "zh", depth=run.depth, ratio=number(init))
    remedy = ("a smaller init gain or gradient clipping" if detail and cfg.init_gain > 1
              else "a lower learning rate or gradient clipping")
    return Diagnosis("diverged", f"Diverged at step {run.diverged_at}: the loss or a gradient "
                     f"became inf/NaN{detail}. Try {remedy}.", float("nan"), "problem", (), remedy,
                     zh=_t("diag.diverged", "zh", step=run.diverged_at, detail=detail_zh,
                           remedy=remedy_zh(remedy)))
