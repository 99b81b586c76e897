"""tools/live_feel.py without a browser: how one move's events become stage times."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
E = 1.7e12  # an epoch time in ms; the page's events are in ms, the kernel's records in s


@pytest.fixture(scope="module")
def live():
    sys.path.insert(0, str(ROOT / "tools"))  # it imports its siblings loadtest, load_clients
    try:
        spec = importlib.util.spec_from_file_location("live_feel", ROOT / "tools" / "live_feel.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(ROOT / "tools"))


def _kernel(event: str, ms: float, cpu: float, thread: str = "lab-trainer", **fields) -> dict:
    return {"t": (E + ms) / 1000, "cpu": cpu, "thread": thread, "event": event, "pid": 1,
            **fields}


# one move at ms offsets from the key press: the step-0 frame, then the trained run's frame
PAGE = [["status", E - 900, "depth 10 · ... · finished 300 steps"],
        ["enter", E + 0], ["ws_out", E + 2, 180], ["ws_in", E + 300, 200_000],
        ["src", E + 305, "blob:a"], ["decoded", E + 320, "blob:old"],
        ["decoded", E + 325, "blob:a"], ["status", E + 330, "depth 9 · at initialization"],
        ["painted", E + 335, "blob:a"], ["ws_in", E + 1005, 210_000],
        ["src", E + 1010, "blob:b"], ["status", E + 1400, "depth 9 · finished 300 steps"]]
KERNEL = [_kernel("control", 8, 5.0, "MainThread", field="depth", value=9),
          _kernel("handled", 9, 5.001, "MainThread"),
          _kernel("inspect", 10, 1.0), _kernel("inspected", 25, 1.012),
          _kernel("draw", 26, 1.013, at_init=True), _kernel("drawn", 120, 1.1),
          _kernel("encoded", 290, 1.25, bytes=200_000), _kernel("sent", 292, 1.251),
          _kernel("draw", 800, 1.8, at_init=False), _kernel("drawn", 810, 1.81),
          _kernel("encoded", 1000, 2.0, bytes=210_000)]


def test_stages_add_up_to_the_first_figure_and_the_run(live):
    move = live.analyse(9, PAGE, KERNEL)
    assert "error" not in move, move
    expected = {"page_send": 2, "to_kernel": 6, "handler": 2, "inspect": 15, "view": 1,
                "draw": 94, "encode": 170, "to_page": 10, "widget": 5, "decode": 20,
                "paint": 10, "train": 510, "final_frame": 200, "final_to_page": 400,
                "inspect_cpu": 12, "view_cpu": 1, "draw_cpu": 87, "encode_cpu": 150,
                "final_frame_cpu": 200, "first_figure": 325, "first_painted": 335,
                "finished": 1400, "frames": 2, "drawing_during_run": 264 + 200,
                "png_bytes": 200_000, "bytes_received": 410_000}
    for key, value in expected.items():
        assert move[key] == pytest.approx(value, abs=0.15), key
    stages = [move[name] for name, _ in live.STAGES]
    assert sum(stages) == pytest.approx(move["first_painted"], abs=0.5)
    run = [move[name] for name, _ in live.RUN_STAGES]
    assert sum(run) + 290 == pytest.approx(move["finished"], abs=0.5)  # from the step-0 PNG


@pytest.mark.parametrize("drop, named", [("decoded", "decoded"), ("ws_in", "ws_in"),
                                         ("enter", "key press")])
def test_a_missing_step_is_named_not_guessed(live, drop, named):
    move = live.analyse(9, [e for e in PAGE if e[0] != drop], KERNEL)
    assert named in move["error"] and "first_figure" not in move


def test_the_control_of_another_field_is_not_this_move(live):
    move = live.analyse(9, PAGE, KERNEL, field="lr")
    assert "no control" in move["error"]


def test_percentile_is_numpys_linear_one(live):
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 10):
        xs = list(rng.normal(size=n))
        for q in (0, 50, 95, 100):
            assert live.percentile(xs, q) == pytest.approx(np.percentile(xs, q))
