"""The benchmark's baselines do the same training as lab.train, and its sections run.

A benchmark that compares different work measures nothing, so the bare loop and the naive
notebook loop are checked against lab.train's own loss curve. No timing is asserted here.
"""

import io

import numpy as np
from PIL import Image

import lab
from lab import bench
from lab.baselines import bare_train, naive_train
from lab.config import Config

TINY = Config(depth=3, width=16, steps=40)


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


def test_batched_section_trains_every_size():
    result = bench.bench_batched(TINY, [2, 3], 1)
    assert set(result) == {"2", "3"}
    assert all(r["batched_seconds"]["n"] == 1 for r in result.values())


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
