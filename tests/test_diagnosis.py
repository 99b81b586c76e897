"""The verdict: what it says follows from the Run's own numbers, stage and architecture.

Each test builds a Run whose numbers it sets (from a real inspection, so every array has its real
shape) and checks the verdict against a computation of its own; tests/test_presets.py checks every
preset's final verdict on real training.
"""

import dataclasses

import numpy as np
import pytest

import lab
from lab import diagnosis, diagnosis_text
from lab.config import CLASSES, Config
from lab.diagnosis import Diagnosis, diagnose, number, per_layer_gain

CFG = Config(depth=6, width=8, n_samples=120, steps=60)


@pytest.fixture(scope="module")
def at_init() -> lab.Run:
    return lab.inspect(CFG)


def finished(run: lab.Run, acc: float, **arrays) -> lab.Run:
    """`run` as a finished training whose last evaluation scored `acc`, with `arrays` replaced."""
    rows = {k: np.vstack([run.__dict__[k][0], v]) for k, v in arrays.items()}
    for k in ("act_mean", "act_std", "act_saturated", "act_dead", "act_grad_std"):
        rows.setdefault(k, np.vstack([run.__dict__[k][0], run.__dict__[k][0]]))
    return dataclasses.replace(
        run, at_init=False, finished=True, recorded_steps=np.array([0, CFG.steps - 1]),
        loss=np.full(CFG.steps, 1.0), val_steps=np.array([0, 20, 40, CFG.steps]),
        val_acc=np.array([1 / 3, acc, acc, acc]), val_loss=np.array([1.1, 1.0, 1.0, 1.0]),
        train_acc=np.array([1 / 3, acc, acc, acc]), **rows)


def flat(value: float, depth: int = CFG.depth) -> np.ndarray:
    return np.full(depth, value, dtype=float)


def test_a_net_at_chance_is_never_healthy(at_init):
    chance = 1 / CLASSES[CFG.dataset]
    for acc in (chance - 0.05, chance, chance + 0.05):
        verdict = diagnose(finished(at_init, acc))
        assert verdict.severity == "problem" and verdict.kind != "healthy", verdict.text
        assert f"{acc:.0%}" in verdict.text and f"chance {chance:.0%}" in verdict.text


def test_learning_well_with_a_fair_gradient_is_healthy(at_init):
    verdict = diagnose(finished(at_init, 0.97, act_grad_std=np.geomspace(2.0, 1.0, CFG.depth)))
    assert (verdict.kind, verdict.severity) == ("healthy", "fine")
    assert "accuracy 97%" in verdict.text and f"receives 2x layer {CFG.depth}'s" in verdict.text


def test_partial_learning_is_watched_and_says_why(at_init):
    sat = flat(0.8)
    sat[0] = 0.1  # layer 1 is not saturated: the text must name layers 2-6 only
    tanh = dataclasses.replace(at_init, config=CFG.replace(activation="tanh"))
    run = finished(tanh, 0.6, act_saturated=sat)
    verdict = diagnose(run)
    assert (verdict.kind, verdict.severity) == ("saturated", "watch")
    assert verdict.layers == (2, 3, 4, 5, 6) and "layers 2-6" in verdict.text
    assert f"{sat[1:].mean():.0%} of the tanh units" in verdict.text
    assert verdict.remedy and verdict.remedy in verdict.text


def test_vanishing_names_the_layers_below_one_hundredth(at_init):
    g = np.geomspace(1e-5, 1.0, CFG.depth)  # layer 1 gets 1e-5 of layer 6's gradient
    verdict = diagnose(finished(at_init, 0.3, act_grad_std=g))
    want = tuple(int(i) + 1 for i in np.flatnonzero(g / g[-1] < 1e-2))
    assert verdict.kind == "vanishing" and verdict.layers == want
    assert f"{number(g[0] / g[-1])}x layer {CFG.depth}'s" in verdict.text


def test_only_relu_can_be_dead():
    for act in ("leaky_relu", "gelu", "tanh"):
        assert np.isnan(lab.inspect(CFG.replace(activation=act)).act_dead).all(), act
    assert np.isfinite(lab.inspect(CFG).act_dead).all()


def test_dead_units_stuck_near_chance(at_init):
    dead = flat(0.0)
    dead[2:] = 1.0
    verdict = diagnose(finished(at_init, 0.3, act_dead=dead))
    assert (verdict.kind, verdict.severity, verdict.layers) == ("dead", "problem", (3, 4, 5, 6))
    assert "100% of the ReLUs in layers 3-6 are dead (0 for every input" in verdict.text


def test_stage_at_init_then_early_then_finished(at_init):
    assert diagnose(at_init).text.startswith("At init:")
    early = dataclasses.replace(at_init, at_init=False, finished=False,
                                loss=np.ones(CFG.steps // 10))
    assert diagnose(early).text.startswith(f"Step {CFG.steps // 10} of {CFG.steps}:")
    later = dataclasses.replace(finished(at_init, 0.99), finished=False)
    assert "validation accuracy 99% so far" in diagnose(later).text


def test_batch_norm_growth_is_not_an_alarm(at_init):
    g = np.geomspace(300.0, 1.0, CFG.depth)  # 300x: an alarm in a plain net, design with BN
    plain = dataclasses.replace(at_init, act_grad_std=g[None])
    bn = dataclasses.replace(plain, config=CFG.replace(batchnorm="before"))
    assert (diagnose(plain).kind, diagnose(plain).severity) == ("exploding", "problem")
    assert (diagnose(bn).kind, diagnose(bn).severity) == ("healthy", "fine")
    assert "batch norm" in diagnose(bn).text


def test_zero_weights_are_symmetric_whatever_the_accuracy(at_init):
    sym = dataclasses.replace(at_init, act_std=np.zeros_like(at_init.act_std))
    assert diagnose(sym).kind == "symmetric" and diagnose(sym).severity == "problem"
    lucky = finished(sym, 0.5, act_std=flat(0.1))  # learns a little, units still identical
    assert (diagnose(lucky).kind, diagnose(lucky).severity) == ("symmetric", "problem")


def test_one_dip_is_not_the_verdict_but_is_said(at_init):
    run = finished(at_init, 0.95)
    run.val_acc[-1] = 0.78  # a dip at the last evaluation (batch norm's stale running averages)
    verdict = diagnose(run)
    assert (verdict.kind, verdict.severity) == ("healthy", "fine")
    assert "validation accuracy 78-95% lately" in verdict.text
    restored = dataclasses.replace(run, restored_from=40)  # best weights shown: judged alone
    assert "validation accuracy 95% (" in diagnose(restored).text


def test_divergence_is_a_problem_with_its_step(at_init):
    run = dataclasses.replace(finished(at_init, 0.3), diverged_at=17)
    verdict = diagnose(run)
    assert (verdict.kind, verdict.severity) == ("diverged", "problem")
    assert verdict.text.startswith("Diverged at step 17:")


@pytest.mark.parametrize("name", ["spirals", "moons", "circles", "xor", "digits"])
def test_the_chance_level_is_the_dataset_s_own(name):
    cfg = Config(dataset=name, n_samples=200)
    assert diagnosis.chance(cfg) == 1 / lab.data.load(cfg).n_classes


def test_numbers_in_words():
    assert number(0.0) == "0" and "0e0" not in number(0.0)
    assert [number(x) for x in (0.5, 31.0, 2e-13, 3.6e4, 1e-6)] == [
        "0.5", "31", "2e-13", "3.6e4", "1e-6"]


def test_where_groups_layers_into_spans():
    assert diagnosis_text.where((3,)) == "layer 3"
    assert diagnosis_text.where((2, 3, 4, 7)) == "4 of layers 2-7"
    assert diagnosis_text.where((1, 2, 5)) == "layers 1-2, 5"
    assert diagnosis_text.where(tuple(range(2, 11))) == "layers 2-10"


def test_per_layer_gain_is_the_geometric_mean_of_layer_to_layer_factors():
    run = lab.inspect(CFG.replace(activation="sigmoid", init="xavier_normal"))
    g = run.act_grad_std[0]
    factors = g[:-1] / g[1:]  # layer l over layer l+1, one factor per layer boundary
    assert per_layer_gain(run) == pytest.approx(np.exp(np.log(factors).mean()), rel=1e-12)
    assert per_layer_gain(run, first=2) == pytest.approx(np.exp(np.log(factors[1:]).mean()))
    assert per_layer_gain(run) < 0.25 * 1.05  # a sigmoid passes back at most 1/4 (Xavier)
    assert np.isnan(per_layer_gain(lab.inspect(CFG.replace(depth=1))))  # nothing to compare


def test_severity_must_be_known():
    with pytest.raises(ValueError, match="severity='red'"):
        Diagnosis("healthy", "x", 1.0, "red")


@pytest.mark.parametrize("init_ratio, severity", [(1e-6, "problem"), (0.005, "watch")])
def test_partial_learning_after_a_crippled_start_is_a_problem(at_init, init_ratio, severity):
    """Layer 1 now gets 1/200 of the last layer's gradient (mild); what the net started from
    decides: a start beyond 1/EXTREME cripples it whatever the optimizer has since done."""
    run = finished(at_init, 0.55, act_grad_std=np.geomspace(0.005, 1.0, CFG.depth))
    grads = run.act_grad_std.copy()
    grads[0] = np.geomspace(init_ratio, 1.0, CFG.depth)
    verdict = diagnose(dataclasses.replace(run, act_grad_std=grads))
    assert (verdict.kind, verdict.severity) == ("vanishing", severity), verdict.text
    assert "layer 1 gets 0.005x" in verdict.text
