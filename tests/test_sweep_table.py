"""Sweep tables: points found by the values they varied, checked against what each run trained."""

import math

import pytest

import lab
from lab.sweep import sweep
from lab.sweep_table import by_values, pick, quantity, table

BASE = lab.Config(steps=12, n_samples=200, width=16, depth=3, optimizer="sgd", init="normal")
VARY = {"init_gain": [0.5, 1.0, 30.0], "lr": [0.01, 50.0]}


@pytest.fixture(scope="module")
def points():
    return sweep(BASE, VARY)


def test_pick_finds_the_run_trained_with_those_values_in_any_order(points):
    for shuffled in (points, points[::-1], points[1::2] + points[::2]):
        for gain in VARY["init_gain"]:
            for lr in VARY["lr"]:
                cfg = pick(shuffled, init_gain=gain, lr=lr).run.config  # what was trained
                assert (cfg.init_gain, cfg.lr) == (gain, lr)


def test_pick_refuses_what_does_not_single_out_one_point(points):
    with pytest.raises(KeyError, match="2 sweep points"):
        pick(points, init_gain=1.0)  # two learning rates
    with pytest.raises(KeyError, match="0 sweep points"):
        pick(points, init_gain=2.0, lr=0.01)
    with pytest.raises(KeyError, match="0 sweep points"):
        pick(points, depth=3, init_gain=1.0, lr=0.01)  # depth was not varied


def test_table_rows_and_columns_hold_each_runs_own_numbers(points):
    acc = table(points, row="lr", col="init_gain")
    assert list(acc) == VARY["lr"] and all(list(r) == VARY["init_gain"] for r in acc.values())
    for p in points:
        run = p.run
        expected = run.val_acc[-1] if run.diverged_at is None else math.nan
        got = acc[run.config.lr][run.config.init_gain]
        assert got == expected or (math.isnan(got) and math.isnan(expected))
    steps = table(points, row="init_gain", col="lr", of="steps_done")  # a Run attribute
    assert steps[30.0][50.0] < BASE.steps <= steps[0.5][0.01]  # lr 50 on N(0, 1) diverges
    with pytest.raises(KeyError, match="one point per cell"):
        table(points + points[:1], row="lr", col="init_gain")


def test_by_values_keys_by_the_tuple_or_the_bare_value(points):
    diverged = by_values(points, of="diverged_at")
    assert len(diverged) == len(points)
    for (gain, lr), at in diverged.items():
        assert at == pick(points, init_gain=gain, lr=lr).run.diverged_at
    one_field = [p for p in points if p.values["lr"] == 0.01]
    ratios = by_values(one_field, of="ratio_init")
    assert set(ratios) == {(g, 0.01) for g in VARY["init_gain"]}  # both fields still varied
    single = sweep(BASE, {"seed": [0, 1]})
    seeds = by_values(single, of="val_acc")
    assert list(seeds) == [0, 1]
    assert seeds[1] == single[1].run.val_acc[-1] == quantity(single[1], "val_acc")
    with pytest.raises(ValueError):
        quantity(single[0], "run")
