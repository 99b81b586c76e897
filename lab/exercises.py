"""Checks for the lessons' coding exercises: each compares a student's answer with the lab's own.

A lesson's exercise cell (tagged `exercise`) is self-contained: it builds what it needs, holds
one placeholder line `name = ...  # your code`, and ends with a call to a check below. Left as
`...`, the check prints what to do (the same text on every machine, so nbval can compare it);
with the folded solution in place it prints "Correct". tests/test_exercises.py runs every
lesson's exercise both ways.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from lab.diagnosis import gradient_ratio, per_layer_gain
from lab.run import Run

if TYPE_CHECKING:  # lab.exercises stays importable without torch
    from torch import Tensor

NOT_YET = "Not answered yet:"
CORRECT = "Correct:"
WRONG = "Not quite:"


def report(answer: object, expected: float, what: str, task: str, rel: float = 1e-3,
           hint: str = "") -> bool:
    """Print whether `answer` matches `expected` within relative tolerance `rel`; True if so.

    `what` names the quantity ("the per-layer gain"), `task` says what to do while the answer is
    still the placeholder `...`, `hint` what to check when it is wrong. The printed text never
    contains a trained number, so that the saved output is the same on every machine.
    """
    if answer is Ellipsis:
        print(f"{NOT_YET} {task}")
        return False
    try:
        value = float(answer)
    except (TypeError, ValueError):
        print(f"{WRONG} {what} should be a number, got {type(answer).__name__}.")
        return False
    ok = math.isclose(value, expected, rel_tol=rel, abs_tol=0.0) or (
        math.isnan(value) and math.isnan(expected))
    if ok:
        print(f"{CORRECT} that is {what}.")
    else:
        print(f"{WRONG} that is not {what}. {hint}".rstrip())
    return ok


def check_gain(answer: object, run: Run) -> bool:
    """Lesson 01: the per-layer gain of dL/da at init, from the last hidden layer to layer 1."""
    return report(
        answer, per_layer_gain(run), "the per-layer gain",
        "replace ... with the geometric-mean factor per layer, from run.act_grad_std[0].",
        hint="Divide layer 1's gradient std by the last layer's, then take the "
             "(depth - 1)-th root.")



def check_variance_shift(answer: object, h: Tensor, dropped: Tensor) -> bool:
    """Lesson 05: how many times larger the mean square of a layer's output is with dropout on."""
    expected = float((dropped.double() ** 2).mean() / (h.double() ** 2).mean())
    return report(
        answer, expected, "the mean square with dropout over the mean square without",
        "replace ... with the ratio of the two mean squares, as a float.",
        hint="Square first, then average: the mean of dropped ** 2 divided by the mean of "
             "h ** 2. Compare it with 1 / (1 - p).")


def check_largest_threshold(answer: object, runs: dict[float, Run], floor: float) -> bool:
    """Lesson 06: the largest clip threshold whose run ends with validation accuracy >= floor."""
    good = [c for c, run in runs.items() if len(run.val_acc) and run.val_acc[-1] >= floor]
    return report(
        answer, max(good) if good else math.nan, "the largest threshold that still trains",
        "replace ... with the largest threshold whose final validation accuracy reaches floor.",
        hint="Keep the thresholds c whose runs[c].val_acc[-1] >= floor, then take the largest.")


def check_skip_gain(answer: object, res: Run, plain: Run) -> bool:
    """Lesson 09: how many times more gradient layer 1 gets at init with skips than without."""
    expected = float(res.act_grad_std[0][0] / plain.act_grad_std[0][0])
    return report(
        answer, expected, "layer 1's gradient with skips over layer 1's gradient without",
        "replace ... with layer 1's gradient std with skips over that without, at init.",
        hint="Row 0 is initialization and column 0 is layer 1: divide the residual net's value "
             "by the plain net's.")


def check_deepest(answer: object, runs: dict[int, Run], floor: float) -> bool:
    """Lesson 10: the largest depth whose layer-1/last gradient ratio at init is >= floor."""
    good = [depth for depth, run in runs.items() if gradient_ratio(run, 0) >= floor]
    return report(
        answer, max(good) if good else math.nan, "the deepest net that keeps the ratio",
        "replace ... with the largest depth whose layer-1/last ratio at init is at least floor.",
        hint="Keep the depths whose ratio at row 0 is >= floor (not the ratio itself), then "
             "take the largest.")
