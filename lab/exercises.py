"""Checks for the lessons' coding exercises: each compares a student's answer with the lab's own.

A lesson's exercise cell (tagged `exercise`) is self-contained: it builds what it needs, holds
one placeholder line `name = ...  # your code`, and ends with a call to a check below. Left as
`...`, the check prints what to do (the same text on every machine, so nbval can compare it);
with the folded solution in place it prints "Correct". tests/test_exercises.py runs every
lesson's exercise both ways.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from lab.batchnorm import gamma_beta
from lab.diagnosis import gradient_ratio, per_layer_gain
from lab.quadratic import Descent, measured_rate
from lab.run import Run

NOT_YET = "Not answered yet:"
CORRECT = "Correct:"
WRONG = "Not quite:"
# How each verdict begins, in each language the lessons are written in (notebooks/zh/: "zh")
MARKS = {"en": (NOT_YET, CORRECT, WRONG), "zh": ("还没有作答：", "正确：", "还不对：")}
SAY = {
    "en": {"not_yet": NOT_YET + " {task}", "correct": CORRECT + " that is {what}.",
           "wrong": WRONG + " that is not {what}. {hint}",
           "not_number": WRONG + " {what} should be a number, got {kind}."},
    "zh": {"not_yet": "还没有作答：{task}", "correct": "正确：这就是{what}。",
           "wrong": "还不对：这不是{what}。{hint}",
           "not_number": "还不对：{what}应该是一个数，现在是 {kind}。"},
}


def report(answer: object, expected: float, what: str, task: str, rel: float = 1e-3,
           hint: str = "", lang: str = "en") -> bool:
    """Print whether `answer` matches `expected` within relative tolerance `rel`; True if so.

    `what` names the quantity ("the per-layer gain"), `task` says what to do while the answer is
    still the placeholder `...`, `hint` what to check when it is wrong, all in `lang`. The
    printed text never contains a trained number, so that the saved output is the same on every
    machine.
    """
    say = SAY[lang]
    if answer is Ellipsis:
        print(say["not_yet"].format(task=task))
        return False
    try:
        value = float(answer)
    except (TypeError, ValueError):
        print(say["not_number"].format(what=what, kind=type(answer).__name__))
        return False
    ok = math.isclose(value, expected, rel_tol=rel, abs_tol=0.0) or (
        math.isnan(value) and math.isnan(expected))
    print(say["correct" if ok else "wrong"].format(what=what, hint=hint).rstrip())
    return ok


def check_gain(answer: object, run: Run, lang: str = "en") -> None:
    """Lesson 01: the per-layer gain of dL/da at init, from the last hidden layer to layer 1."""
    if lang == "zh":
        report(answer, per_layer_gain(run), "每层的增益因子",
               "把 ... 换成每层的几何平均因子（由 run.act_grad_std[0] 算出）。",
               hint="用第 1 层的梯度标准差除以最后一层的，再开 (depth - 1) 次方根。", lang=lang)
        return
    report(
        answer, per_layer_gain(run), "the per-layer gain",
        "replace ... with the geometric-mean factor per layer, from run.act_grad_std[0].",
        hint="Divide layer 1's gradient std by the last layer's, then take the "
             "(depth - 1)-th root.")



def check_diverged_at(answer: object, run: Run) -> None:
    """Lesson 02: the first step whose loss or gradient norm is not finite (run.diverged_at)."""
    expected = float("nan") if run.diverged_at is None else float(run.diverged_at)
    report(
        answer, expected, "the step the run diverged at",
        "replace ... with the first step whose loss or gradient norm is inf or NaN.",
        hint="Look for the first False of np.isfinite in run.loss or run.global_grad_norm; "
             "steps count from 0.")


def he_std(weight: torch.Tensor) -> float:
    """He (Kaiming) initialization's weight std for `weight`'s fan-in: sqrt(2 / fan_in)."""
    fan_in = weight[0].numel()  # inputs per unit: in_features (x kernel size for a conv)
    return math.sqrt(2.0 / fan_in)


def check_he_std(answer: object, weight: torch.Tensor) -> None:
    """Lesson 03: the std He initialization draws `weight` with (from its fan-in, not sampled)."""
    report(
        answer, he_std(weight), "He's weight std for this layer",
        "replace ... with the std He initialization uses for this layer's fan-in.",
        hint="He's variance is 2 / fan_in; fan_in is the number of inputs per unit "
             "(weight.shape[1]). weight.std() is only an estimate from a sample.")


def check_rate(answer: object, path: Descent, first: int, last: int) -> None:
    """Lesson 07: the mean factor per step by which a quadratic path's distance shrank."""
    report(
        answer, measured_rate(path.distance, first, last), "the convergence rate per step",
        f"replace ... with the factor per step from step {first} to step {last}, "
        "from path.distance.",
        hint=f"Divide path.distance[{last}] by path.distance[{first}] and take the "
             f"{last - first}-th root.")


def check_best_step(answer: object, run: Run) -> None:
    """Lesson 08: the step of the lowest validation loss (the weights restore_best keeps)."""
    best = int(run.val_steps[int(np.argmin(run.val_loss))])
    report(
        answer, best, "the step restore_best would go back to",
        "replace ... with the step of the lowest validation loss, from run.val_steps and "
        "run.val_loss.",
        rel=1e-9, hint="np.argmin(run.val_loss) gives the position; run.val_steps at that "
                       "position gives the step.")


def check_batchnorm(answer: object, z: torch.Tensor,
                    bn: torch.nn.modules.batchnorm._BatchNorm, lang: str = "en") -> None:
    """Lesson 04: `answer` is `z` normalized by hand as `bn` does in training mode (gamma, beta
    at their initial 1 and 0). Compared with torch's own batch norm on the same batch."""
    zh = lang == "zh"
    task = ("把 ... 换成按单元在批次上归一化的 z：减去批次均值，"
            "再除以 sqrt(批次方差 + 1e-5)。" if zh else
            "replace ... with z normalized per unit over the batch: subtract the batch mean, "
            "divide by sqrt(batch variance + 1e-5).")
    if answer is Ellipsis:
        report(answer, 0.0, "", task, lang=lang)
        return
    with torch.no_grad():
        expected = F.batch_norm(z, None, None, bn.weight, bn.bias, training=True, eps=bn.eps)
        try:
            mine = torch.as_tensor(answer, dtype=expected.dtype)
        except (TypeError, ValueError, RuntimeError):
            mine = torch.full((), float("nan"))
        if mine.shape != expected.shape:
            shape = tuple(z.shape)
            print(MARKS[lang][2] + (f"答案的形状应与 z 相同 {shape}：每个样本、每个单元一个值。"
                                    if zh else f" the answer should have z's shape {shape}, one "
                                    "value per example and unit."))
            return
        worst = float((mine - expected).abs().max())
    hint = ("对每个单元用批次上的均值和方差（dim=0），方差除以 B 而不是 B - 1（unbiased=False），"
            "根号里加 eps = 1e-5。" if zh else
            "Use each unit's mean and variance over the batch (dim=0), the variance divided by "
            "B, not B - 1 (unbiased=False), and eps = 1e-5 under the root.")
    what = "BN 在训练模式下算出的结果" if zh else "what BN computes in training mode"
    report(1.0 + worst, 1.0, what, task, rel=1e-4, hint=hint, lang=lang)


def check_gamma_moved(answer: object, run: Run) -> None:
    """Lesson 11: the largest |gamma - 1| over every BatchNorm layer and channel of `run`."""
    gammas, _ = gamma_beta(run)
    report(answer, max(float(np.abs(g - 1).max()) for g in gammas),
                  "the largest distance of a gamma from its initial 1",
                  "replace ... with the largest |gamma - 1| over both layers' channels, from "
                  "run.model_state.", rel=1e-4,
                  hint="gamma is the BatchNorm layer's 'weight'; take |gamma - 1| for every "
                       "channel of every layer, then the maximum.")


def check_variance_shift(answer: object, h: torch.Tensor, dropped: torch.Tensor) -> None:
    """Lesson 05: how many times larger the mean square of a layer's output is with dropout on."""
    expected = float((dropped.double() ** 2).mean() / (h.double() ** 2).mean())
    report(
        answer, expected, "the mean square with dropout over the mean square without",
        "replace ... with the ratio of the two mean squares, as a float.",
        hint="Square first, then average: the mean of dropped ** 2 divided by the mean of "
             "h ** 2. Compare it with 1 / (1 - p).")


def check_largest_threshold(answer: object, runs: dict[float, Run], floor: float) -> None:
    """Lesson 06: the largest clip threshold whose run ends with validation accuracy >= floor."""
    good = [c for c, run in runs.items() if len(run.val_acc) and run.val_acc[-1] >= floor]
    report(
        answer, max(good, default=math.nan), "the largest threshold that still trains",
        "replace ... with the largest threshold whose final validation accuracy reaches floor.",
        hint="Keep the thresholds c whose runs[c].val_acc[-1] >= floor, then take the largest.")


def check_skip_gain(answer: object, res: Run, plain: Run) -> None:
    """Lesson 09: how many times more gradient layer 1 gets at init with skips than without."""
    expected = float(res.act_grad_std[0][0] / plain.act_grad_std[0][0])
    report(
        answer, expected, "layer 1's gradient with skips over layer 1's gradient without",
        "replace ... with layer 1's gradient std with skips over that without, at init.",
        hint="Row 0 is initialization and column 0 is layer 1: divide the residual net's value "
             "by the plain net's.")


def check_deepest(answer: object, runs: dict[int, Run], floor: float) -> None:
    """Lesson 10: the largest depth whose layer-1/last gradient ratio at init is >= floor."""
    good = [depth for depth, run in runs.items() if gradient_ratio(run, 0) >= floor]
    report(
        answer, max(good, default=math.nan), "the deepest net that keeps the ratio",
        "replace ... with the largest depth whose layer-1/last ratio at init is at least floor.",
        hint="Keep the depths whose ratio at row 0 is >= floor (not the ratio itself), then "
             "take the largest.")
