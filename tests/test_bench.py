"""The benchmark's baselines do the same training as lab.train, and its sections run.

A benchmark that compares different work measures nothing, so the bare loop and the naive
notebook loop are checked against lab.train's own loss curve. No speed is asserted here (the
machine decides it), but every reported number must be a time that was measured: positive,
counted as often as asked, and each ratio the quotient of the two timings it reports.
"""

import io

import numpy as np
import pytest
from PIL import Image

import lab
from lab import bench
from lab.baselines import bare_train, naive_train
from lab.config import Config

TINY = Config(depth=3, width=16, steps=40)


def assert_timings(stats: dict, n: int) -> None:
    """`stats` summarises n measured durations: positive, min <= median <= max."""
    assert stats["n"] == n
    assert 0 < stats["min"] <= stats["median"] <= stats["max"]


def test_bare_loop_trains_exactly_what_lab_train_trains():
    for cfg in (TINY, TINY.replace(optimizer="momentum", lr=0.05, clip="norm", clip_threshold=0.1,
                                   lr_schedule="cosine", batchnorm="before")):
        _, last_loss = bare_train(cfg)
        np.testing.assert_allclose(last_loss, lab.train(cfg).loss[-1], rtol=1e-5)


def test_naive_loop_trains_the_same_and_draws_the_frames_asked_for():
    seconds, pngs, losses = naive_train(TINY, 5)
    np.testing.assert_allclose(losses, lab.train(TINY).loss, rtol=1e-5)
    assert seconds > 0 and len(pngs) == 5
    assert Image.open(io.BytesIO(pngs[-1])).size == (1280, 800)


def test_end_to_end_compares_equal_numbers_of_frames():
    result = bench.bench_end_to_end(TINY, 1)
    lab_frames, naive_frames = result["frames"]
    assert lab_frames == naive_frames >= bench.N_FRAMES
    for name in ("lab_seconds", "naive_seconds", "ratio"):
        assert_timings(result[name], 1)
    # one repeat: the ratio is exactly the quotient of the two timings reported
    assert result["ratio"]["median"] == result["naive_seconds"]["median"] / result[
        "lab_seconds"]["median"]


def test_inspect_and_default_run_report_what_they_timed():
    assert_timings(bench.bench_inspect(TINY, 2), 2)
    run = bench.bench_default_run(TINY, 1)
    assert_timings(run["seconds"], 1)
    assert_timings(run["first_frame"], 1)
    assert run["steps_per_second"] == TINY.steps / run["seconds"]["median"]
    # the first frame arrives while the run goes on (one clock started before the other)
    assert run["first_frame"]["median"] < run["seconds"]["median"] + 0.05


def test_overhead_ratio_is_lab_over_the_fastest_bare_loop():
    result = bench.bench_overhead(TINY, 1)
    assert_timings(result["lab_seconds"], 1)
    bare = {int(k): v for k, v in result["bare_seconds"].items()}
    assert 1 in bare and result["best_threads"] in bare
    for stats in bare.values():
        assert_timings(stats, 1)
    best = min(stats["median"] for stats in bare.values())
    assert result["ratio"]["median"] == result["lab_seconds"]["median"] / best
    assert result["best_threads"] == min(bare, key=lambda k: bare[k]["median"])
    assert result["lab_threads"] == 1  # width 16: lab.train runs small MLPs on one thread


def test_frame_ratio_is_rebuild_over_update():
    result = bench.bench_frame(TINY, 1)
    for name in ("update_render", "rebuild_render", "inspect_and_frame"):
        assert_timings(result[name], 1)
    assert_timings(result["slider_inspect_and_frame"], 2)  # at least two slider moves
    assert result["ratio"] == result["rebuild_render"]["median"] / result["update_render"][
        "median"]
    assert result["png_bytes"] > 10_000  # a drawn 1280 x 800 dashboard, not an empty canvas
    stream = result["stream_frame"]
    assert stream["min"] <= stream["mean"] <= stream["max"] and stream["n"] >= 2


def test_batched_section_trains_every_size():
    result = bench.bench_batched(TINY, [2, 3], 1)
    assert set(result) == {"2", "3"}
    for r in result.values():
        for name in ("sequential_seconds", "batched_seconds", "ratio"):
            assert_timings(r[name], 1)
        assert r["ratio"]["median"] == r["sequential_seconds"]["median"] / r[
            "batched_seconds"]["median"]


def test_scaling_points_count_parameters_and_memory_in_a_fresh_process():
    result = bench.bench_scaling(TINY, [1, 4], [16, 512], (2, 4))
    params = {p["width"]: p["params"] for p in result["width"]}
    n_in, n_out = 2, 3  # spirals: 2 features, 3 classes
    expected = (n_in * 512 + 512) + 2 * (512 * 512 + 512) + (512 * n_out + n_out)
    assert params[512] == expected
    # width 512 holds ~0.5M parameters more (x4 with gradients and Adam's two moments): ~8 MiB
    peaks = {p["width"]: p["peak_mib"] for p in result["width"]}
    assert peaks[512] - peaks[16] > 4 * 4 * (expected - params[16]) / 2 ** 20 * 0.5
    assert np.isfinite(result["depth_fit"]["r2"])
    # depth points: TINY's width 16, one hidden layer more each; the fit is of those points
    assert [p["params"] for p in result["depth"]] == [
        (n_in * 16 + 16) + (d - 1) * (16 * 16 + 16) + (16 * n_out + n_out) for d in (1, 4)]
    slope, intercept = np.polyfit([1, 4], [p["seconds_per_step"] for p in result["depth"]], 1)
    assert result["depth_fit"]["seconds_per_layer_step"] == pytest.approx(slope, abs=1e-12)
    assert result["depth_fit"]["intercept"] == pytest.approx(intercept, abs=1e-12)


def test_budget_lines_compare_in_the_right_direction():
    fake = {"machine": {"device": "cpu"}, "inspect": {"median": 0.040},
            "frame": {"inspect_and_frame": {"median": 0.25}, "ratio": 3.5},
            "default_run": {"seconds": {"median": 1.0}},
            "recording_overhead": {"ratio": {"median": 1.2}},
            "end_to_end": {"ratio": {"median": 6.0}}, "batched": {"8": {"ratio": {"median": 2.0}}}}
    met = {line["what"]: line["met"] for line in bench.budget(fake)}
    assert met == {"inspect latency": True, "inspect + frame drawn": False, "default run": True,
                   "recording overhead": False, "frame: rebuild / update": True,
                   "naive / lab, end to end": True, "sequential / batched, N=8": False}


def test_dashboard_split_counts_every_frame_the_dashboard_draws(monkeypatch):
    from lab.bench_dashboard import PHASES, bench_dashboard_split
    from lab.ui import DashboardScreen

    monkeypatch.setattr("lab.session.DRAW_EVERY", 0.0)  # intermediate frames: drawing's share
    monkeypatch.setattr("lab.session.DRAW_SHARE", 0.5)  # alone paces them
    drawn = []  # an independent count: the Dashboard's draw, called once per frame
    real = DashboardScreen.draw
    monkeypatch.setattr(DashboardScreen, "draw",
                        lambda self, view: drawn.append(view.run) or real(self, view))
    both = bench_dashboard_split(TINY.replace(steps=300), 1, long_steps=400)
    # warm-up, cold, warm, long, another depth, new depth
    starts = [i for i, run in enumerate(drawn) if run.at_init]
    assert len(starts) == 6
    result = both["warm"]
    runs = drawn[starts[2]:starts[3]]
    assert result["frames"]["median"] == len(runs)
    assert both["cold"]["frames"]["median"] == starts[2] - starts[1]
    assert both["long"]["frames"]["median"] == starts[4] - starts[3]
    assert drawn[starts[4] - 1].config.steps == both["long"]["steps"] == 400
    assert drawn[starts[4]].config.depth != drawn[starts[5]].config.depth == TINY.depth
    assert both["new depth"]["frames"]["median"] == len(drawn) - starts[5]
    assert runs[0].at_init and runs[-1].finished and len(runs) > 2
    assert not any(r.finished or r.at_init for r in runs[1:-1])  # intermediate frames
    for name in ("train", "draw", "share"):
        assert_timings(result[name], 1)
    draw, train = result["draw"]["median"], result["train"]["median"]
    assert result["share"]["median"] == pytest.approx(draw / (draw + train))
    per_frame = result["per_frame"]
    assert set(per_frame) == set(PHASES) and all(v > 0 for v in per_frame.values())
    assert sum(per_frame.values()) * len(runs) == pytest.approx(draw)
    assert result["frame_bytes"] > 10_000  # a drawn 1280 x 800 dashboard, not an empty canvas
