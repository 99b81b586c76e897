"""Limits for public servers: the work cap, the time limit, and how the dashboard applies them."""

import re
import time

import pytest

import lab
import lab.cache
import lab.relay
import lab.ui
from lab import presets
from lab.limits import DEFAULT_MAX_SECONDS, DEFAULT_MAX_WORK, LimitError, Limits, work
from lab.ui import Dashboard

FAST = lab.Config(steps=30, n_samples=300, width=16, depth=4)


def test_defaults_and_every_preset_fit_under_the_default_caps():
    limits = Limits()
    assert limits.refusal(lab.Config()) is None
    for name, preset in presets.PRESETS.items():
        assert limits.refusal(preset.config) is None, name
    # the default run is an eighth of the cap; a 100-layer net fits with 250 steps
    assert work(lab.Config()) < DEFAULT_MAX_WORK / 8
    assert limits.refusal(lab.Config(depth=100, steps=250)) is None


@pytest.mark.parametrize("big", [
    lab.Config(width=1024),
    lab.Config(depth=100),
    lab.Config(depth=100, width=256),
    lab.Config(steps=20000),
    lab.Config(depth=50, batchnorm="before", dropout=0.5, steps=1000),
    lab.Config(arch="cnn", dataset="digits", width=128, depth=8),
])
def test_big_runs_are_refused_naming_the_limit(big):
    message = Limits().refusal(big)
    assert message and "LAB_MAX_WORK" in message and f"{DEFAULT_MAX_WORK:,.0f}" in message
    assert f"depth {big.depth} x width {big.width} x {big.steps} steps" in message
    with pytest.raises(LimitError, match="LAB_MAX_WORK"):
        Limits().check(big)
    assert Limits(max_work=None).refusal(big) is None  # a private machine: no cap


def test_work_grows_with_every_dimension_of_cost():
    base = lab.Config()
    w = work(base)
    for bigger in (base.replace(depth=20), base.replace(width=128), base.replace(steps=600),
                   base.replace(batch_size=512), base.replace(batchnorm="before"),
                   base.replace(dropout=0.1), base.replace(n_samples=6000)):
        assert work(bigger) > w, bigger
    # per-op overhead: 100 narrow layers cost far more than their multiply-adds alone
    assert work(base.replace(depth=100, width=4)) > 0.9 * 100 * base.steps
    # a batch beyond the dataset is capped at the dataset (as lab.train does)
    assert work(base.replace(batch_size=4096)) == work(base.replace(batch_size=1500))
    # a 3x3 convolution over 8x8 images costs 9 x 64 a dense layer of the same width
    cnn = base.replace(arch="cnn", dataset="digits", depth=2, width=8)
    assert work(cnn) > work(cnn.replace(arch="mlp"))


def test_limits_come_from_the_environment():
    assert Limits.from_env({}) == Limits(DEFAULT_MAX_WORK, DEFAULT_MAX_SECONDS)
    env = {"LAB_MAX_WORK": "20000", "LAB_MAX_SECONDS": "2.5"}
    assert Limits.from_env(env) == Limits(20000.0, 2.5)
    for off in ("0", "off", "", "none"):
        assert Limits.from_env({"LAB_MAX_WORK": off, "LAB_MAX_SECONDS": off}) == Limits(None, None)
    for bad in ("lots", "-5", "nan", "inf"):
        with pytest.raises(ValueError, match="LAB_MAX_SECONDS"):
            Limits.from_env({"LAB_MAX_SECONDS": bad})


# ---------------------------------------------------------------- the time limit in training


def test_time_limit_stops_training_and_keeps_what_it_has():
    frames = []
    run = lab.train(FAST, on_frame=frames.append, max_seconds=1e-6)  # over as soon as it starts
    assert run.time_limited_at == 1 and run.time_limit == 1e-6
    assert run.finished and not run.cancelled and run.steps_done == 1
    assert run.status() == "stopped at the 1e-06 s CPU time limit at step 1"
    assert list(run.hist.steps) == [0]  # the last step done is drawn
    assert run.model_state is not None and frames[-1] is run


def test_the_limit_counts_cpu_time_not_time_spent_waiting():
    # Frames that wait (as a kernel waits for the cores others use) make the run take longer
    # on the clock than its limit, but use no CPU: the run is not the one to stop.
    limit = 1.0
    wall, cpu = time.perf_counter(), time.process_time()
    run = lab.train(FAST, on_frame=lambda r: time.sleep(0.05), frame_every=1, max_seconds=limit)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert wall > limit + 0.4 and cpu < limit  # 30 frames x 50 ms asleep
    assert run.time_limited_at is None and run.status() == "finished 30 steps"


def test_a_limit_that_is_not_reached_changes_nothing():
    free = lab.train(FAST)
    limited = lab.train(FAST, max_seconds=600)
    assert limited.time_limited_at is None and limited.time_limit is None
    assert limited.status() == free.status() == "finished 30 steps"
    assert (limited.loss == free.loss).all()


# ---------------------------------------------------------------- the dashboard


@pytest.fixture
def counted(monkeypatch):
    calls = []
    real = lab.relay.train
    monkeypatch.setattr(lab.relay, "train",
                        lambda *a, **kw: calls.append(a[0]) or real(*a, **kw))
    return calls


def test_dashboard_refuses_a_control_over_the_cap(counted):
    d = Dashboard(FAST, limits=Limits(max_work=2 * work(FAST)), cache=None)
    try:
        assert d.wait(120) and len(counted) == 1
        d.controls["depth"].value = 40
        assert d.wait(120)
        assert "LAB_MAX_WORK" in d.message.value and "Traceback" not in d.message.value
        assert d.config == FAST and d.controls["depth"].value == FAST.depth
        assert len(counted) == 1  # nothing trained
        d.controls["depth"].value = 5  # within the cap: trains, and the message goes
        assert d.wait(120) and len(counted) == 2 and d.message.value == ""
        d.presets.value = "he-relu"  # a preset over this server's cap: refused, said why
        assert d.wait(120)
        assert "LAB_MAX_WORK" in d.message.value and d.presets.value == ""
        assert d.config.depth == 5 and len(counted) == 2
    finally:
        d.close()


def test_dashboard_opened_over_the_cap_shows_the_defaults():
    d = Dashboard.from_query("depth=100&width=1024", autostart=False, cache=None)
    try:
        assert d.config == lab.Config() and d.controls["width"].value == lab.Config().width
        assert "LAB_MAX_WORK" in d.message.value and "defaults" in d.message.value
    finally:
        d.close()


def test_dashboard_stops_a_run_at_the_time_limit_and_shows_it():
    d = Dashboard(FAST, limits=Limits(max_seconds=1e-6), cache=None)
    try:
        assert d.wait(120)
        assert re.search(r"stopped at the 1e-06 s CPU time limit at step 1\b", d.status.value)
        assert d.run.time_limited_at == 1 and d.image.value[:4] == b"\x89PNG"
        assert d.message.value == ""
    finally:
        d.close()
