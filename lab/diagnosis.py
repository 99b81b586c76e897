"""Diagnosis: the verdict on a Run in plain words (shared by the figure, the dashboard and the CLI).

A verdict weighs what the run shows: whether the net learns (validation accuracy against chance),
the gradient profile at init and now, saturated and dead units per layer, the architecture (batch
norm and skip connections make gradients grow toward the input by design) and the stage (at init,
early in training, later or finished). Early on, and at init, only the gradients can be judged.
Each verdict is written in English (`text`) and Chinese (`zh`, from lab/i18n.py's templates).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from lab.config import CLASSES, Config
from lab.i18n import check_lang
from lab.i18n import text as _t
from lab.run import Run

VANISHING = 1e-2  # layer 1 gets less than this fraction of the last layer's dL/da
EXPLODING = 1e2  # layer 1 gets more than this multiple (plain nets)
EXPLODING_BY_DESIGN = 1e3  # the same for nets with batch norm or skips, whose gradient grows
EXTREME = 1e3  # a net that learns is still watched when layer 1 gets 1/EXTREME or EXTREME x
SATURATED = 0.5  # mean fraction of saturated sigmoid/tanh outputs over the layers
DEAD = 0.5  # fraction of a layer's ReLUs that output 0 for every example
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


@dataclass(frozen=True)
class _Cause:
    """What is wrong inside the net, where, and what would help."""

    kind: str
    text: str  # a clause: "72% of the tanh units in layers 2-10 sit on its flat ends"
    layers: tuple[int, ...]
    remedy: str
    ratio: float = float("nan")  # the gradient ratio the text quotes (vanishing, exploding)
    zh: str = ""  # `text` in Chinese


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
        return _by_gradients(run, _cause(run))
    return _by_outcome(run, _cause(run))


def _by_gradients(run: Run, cause: _Cause | None) -> Diagnosis:
    """At init or early in training: what the gradient profile and the units predict."""
    ratio, depth = gradient_ratio(run), run.depth
    at_init = run.at_init or run.steps_done <= 1
    where = "At init" if at_init else f"Step {run.steps_done} of {run.config.steps}"
    where_zh = (_t("diag.at_init", "zh") if at_init
                else _t("diag.step", "zh", step=run.steps_done, steps=run.config.steps))
    if cause is None or cause.kind == "linear":
        flow = f"layer 1 receives {number(ratio)}x layer {depth}'s gradient, " + (
            f"growth that {_grower(run.config)} bring by design" if ratio > EXPLODING
            else "neither vanishing nor exploding")
        why = (_t("diag.by_design", "zh", grower=_t(f"diag.grower.{_grower_key(run.config)}",
                                                       "zh"))
               if ratio > EXPLODING else _t("diag.neither", "zh"))
        flow_zh = _t("diag.flow", "zh", depth=depth, ratio=number(ratio), why=why)
        if depth == 1:
            flow = "one hidden layer has nothing to vanish through"
            flow_zh = _t("diag.one_layer", "zh")
        return Diagnosis("healthy", f"{where}: {flow}.", ratio,
                         zh=_t("diag.sentence", "zh", where=where_zh, flow=flow_zh))
    mild = cause.kind == "dead" or (cause.kind == "exploding" and _grows_by_design(run.config))
    return Diagnosis(cause.kind, f"{where}: {cause.text}. Try {cause.remedy}.", ratio,
                     "watch" if mild else "problem", cause.layers, cause.remedy,
                     zh=_t("diag.try", "zh", head=where_zh, cause=cause.zh,
                           remedy=_remedy_zh(cause.remedy)))


def _by_outcome(run: Run, cause: _Cause | None) -> Diagnosis:
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
                                   cause=cause.zh, remedy=_remedy_zh(cause.remedy)))
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
                         zh=_t("diag.slow", "zh", head=head_zh, remedy=_remedy_zh(remedy)))
    return Diagnosis(cause.kind, f"{head}: {cause.text}. Try {cause.remedy}.", ratio, severity,
                     cause.layers, cause.remedy,
                     zh=_t("diag.try", "zh", head=head_zh, cause=cause.zh,
                           remedy=_remedy_zh(cause.remedy)))


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


def _extreme(cause: _Cause | None) -> bool:
    """Layer 1 gets under 1/EXTREME or over EXTREME times the last layer's gradient."""
    return (cause is not None and cause.kind in ("vanishing", "exploding")
            and not 1 / EXTREME < cause.ratio < EXTREME)


def _extreme_at_init(run: Run, cause: _Cause) -> bool:
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
                           remedy=_remedy_zh(remedy)))


def _cause(run: Run) -> _Cause | None:
    """The first of: symmetric, dead, saturated, vanishing, exploding, linear; None if none."""
    cfg, depth = run.config, run.depth
    act = cfg.activation
    if np.all(run.act_std[0] < 1e-7):
        return _Cause("symmetric", "zero init gives a layer's units equal gradients, so they "
                      "stay identical", tuple(range(1, depth + 1)),
                      "a random init (He or Xavier)", zh=_t("diag.symmetric", "zh"))
    dead = run.act_dead[-1]
    if np.any(dead > DEAD):
        layers = _layers(dead > DEAD)
        share = f"{_mean(dead[dead > DEAD]):.0%}"
        return _Cause("dead", f"{share} of the ReLUs in "
                      f"{_where(layers)} are dead (0 for every input, no gradient)",
                      layers, "a lower learning rate or leaky ReLU",
                      zh=_t("diag.dead", "zh", where=_where_zh(layers), share=share))
    saturated = run.act_saturated[-1]
    if _mean(saturated) > SATURATED:
        layers = _layers(saturated > SATURATED)
        gentler = cfg.init in ("normal", "uniform") or cfg.init_gain > 1
        share = f"{_mean(saturated[saturated > SATURATED]):.0%}"
        return _Cause("saturated", f"{share} of the {act} "
                      f"units in {_where(layers)} sit on its flat ends", layers,
                      "Xavier init or a smaller init gain" if gentler
                      else "batch norm before the activation",
                      zh=_t("diag.saturated", "zh", where=_where_zh(layers), share=share, act=act))
    if depth > 1:
        found = _gradient_cause(run)
        if found is not None:
            return found
    if act == "linear":
        return _Cause("linear", "linear layers make one linear map, whose class boundaries "
                      "are straight", (), "a nonlinear activation", zh=_t("diag.linear", "zh"))
    return None


def _gradient_cause(run: Run) -> _Cause | None:
    """Vanishing or exploding, now if so, else at init."""
    cfg, depth = run.config, run.depth
    high = EXPLODING_BY_DESIGN if _grows_by_design(cfg) else EXPLODING
    for row, when, when_zh in ((-1, "layer 1 gets", _t("diag.when.now", "zh")),
                               (0, "at init layer 1 got", _t("diag.when.init", "zh"))):
        ratio = gradient_ratio(run, row)
        if not np.isfinite(ratio):
            continue
        g = run.act_grad_std[row] / run.act_grad_std[row][-1]  # relative to the last layer
        if ratio < VANISHING:
            layers = _layers(g < VANISHING)
            return _Cause("vanishing", f"{when} {number(ratio)}x layer {depth}'s gradient "
                          f"({_where(layers)} under 1/100)", layers, _vanishing_remedy(cfg),
                          ratio, zh=_t("diag.vanishing", "zh", when=when_zh, depth=depth,
                                       ratio=number(ratio), where=_where_zh(layers)))
        if ratio > high:
            layers = _layers(g > high)
            why = " (batch norm makes it grow)" if cfg.batchnorm != "none" else ""
            remedy = ("a smaller init gain or gradient clipping" if cfg.init_gain > 1
                      else "fewer layers or skip connections" if cfg.batchnorm != "none"
                      else "a lower learning rate or gradient clipping")
            why_zh = _t("diag.exploding_bn", "zh") if why else ""
            return _Cause("exploding", f"{when} {number(ratio)}x layer {depth}'s gradient{why}",
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


def _grower(cfg: Config) -> str:
    return "skip connections" if cfg.residual else "batch norm layers"


def _grower_key(cfg: Config) -> str:
    return "residual" if cfg.residual else "batchnorm"


def _remedy_zh(remedy: str) -> str:
    return _t(f"remedy.{remedy}", "zh", en=remedy)


def _grows_by_design(cfg: Config) -> bool:
    return cfg.batchnorm != "none" or cfg.residual


def _layers(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) + 1 for i in np.flatnonzero(mask))


def _where(layers: tuple[int, ...]) -> str:
    """Layers in words: "layer 3", "layers 2-10", "layers 1-3, 7", "8 of layers 2-29"."""
    if len(layers) == 1:
        return f"layer {layers[0]}"
    if len(layers) != layers[-1] - layers[0] + 1 and len(layers) > 3:  # scattered: no list
        return f"{len(layers)} of layers {layers[0]}-{layers[-1]}"
    spans, start = [], layers[0]
    for prev, cur in zip(layers, [*layers[1:], None], strict=True):
        if cur is None or cur != prev + 1:  # a span ends at prev
            spans.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = cur
    return "layers " + ", ".join(spans)


def _where_zh(layers: tuple[int, ...]) -> str:
    """_where in Chinese: "第 3 层", "第 2-10 层", "第 1-3, 7 层", "第 2-29 层中的 8 层"."""
    english = _where(layers)
    if len(layers) == 1:
        return _t("diag.layer", "zh", layer=layers[0])
    if english.startswith("layers "):
        return _t("diag.layers", "zh", spans=english.removeprefix("layers "))
    return _t("diag.some_layers", "zh", first=layers[0], last=layers[-1], count=len(layers))


def number(x: float) -> str:
    """A ratio in plain words: 0.56, 31, 2e-13, 3.6e4; exactly 0 is "0", never "0e0"."""
    if not np.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e4:
        return f"{x:.2g}" if abs(x) < 100 else f"{x:.0f}"
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa.removesuffix('.0')}e{int(exponent)}"


def _mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else 0.0
