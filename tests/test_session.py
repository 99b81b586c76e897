"""TrainingSession driven without widgets: generations, the cache, limits, status, failures."""

import re
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import lab
import lab.cache
import lab.relay
from lab.cache import ResultCache
from lab.limits import Limits, work
from lab.session import Frame, SessionListener, TrainingSession
from lab.worker import NewestWorker

FAST = lab.Config(steps=30, n_samples=300, width=16, depth=4)
DIVERGING = FAST.replace(lr=10.0, init="normal", init_gain=3.0, optimizer="sgd")


class Recorder(SessionListener):
    """Keeps everything the session reports; "draws" a (config, steps done) pair, no figure."""

    def __init__(self):
        self.frames: list[Frame] = []
        self.times: list[float] = []  # when each frame was reported
        self.images: list = []
        self.errors: list = []
        self.statuses: list = []
        self.threads: set[str] = set()
        self.trained = threading.Event()  # a frame of a training (not step 0) was reported

    def draw(self, view):
        self.threads.add(threading.current_thread().name)
        return (view.run.config, view.run.steps_done)

    def on_image(self, image) -> None:
        self.images.append(image)

    def on_frame(self, frame: Frame) -> None:
        self.frames.append(frame)
        self.times.append(time.monotonic())
        if not frame.at_init:
            self.trained.set()

    def on_status(self, status) -> None:
        self.statuses.append(status)

    def on_error(self, message) -> None:
        self.errors.append(message)


@pytest.fixture
def calls(monkeypatch):
    """The Runs lab.train and lab.inspect return through lab.relay, in order."""
    made = {"train": [], "inspect": []}
    for name in made:
        real = getattr(lab.relay, name)

        def counting(*args, _real=real, _name=name, **kw):
            run = _real(*args, **kw)
            made[_name].append(run)
            return run

        monkeypatch.setattr(lab.relay, name, counting)
    return made


def session(listener, limits=None, cache=None, config=None) -> TrainingSession:
    return TrainingSession(listener, limits or Limits(), cache, config)


def test_a_newer_request_cancels_the_older_and_only_the_newest_is_shown(calls):
    rec = Recorder()
    s = session(rec, Limits(max_work=None, max_seconds=None))
    slow = FAST.replace(steps=20000)  # ~20 s alone: still training when the next request comes
    try:
        assert s.request(slow) is None and s.generation == 1
        assert rec.trained.wait(120)  # a frame of slow's training has been drawn
        assert s.request(FAST) is None and s.generation == 2
        assert s.wait(120)
        old, new = calls["train"]
        assert old.config == slow and old.cancelled and old.steps_done < slow.steps
        assert new.config == FAST and new.finished and not new.cancelled
        shown = [(f.generation, f.run.config) for f in rec.frames]
        first_new = shown.index((2, FAST))
        assert all(c == slow for _, c in shown[:first_new])
        assert all(c == FAST for _, c in shown[first_new:])  # nothing of slow after it
        assert not any(f.run.finished and not f.at_init for f in rec.frames[:first_new])
        assert s.run is rec.frames[-1].run is new and s.config == FAST
        assert rec.images[-1] == (FAST, 30) and s.worker.max_in_flight == 1
        assert rec.threads == {"lab-trainer"}  # drawn on the worker thread
        # pacing: slow's frames at least DRAW_EVERY (1 s) apart, the step-0 frame included
        gaps = np.diff(rec.times[:first_new])
        assert len(gaps) >= 1 and gaps.min() >= 1.0
    finally:
        s.close()
    assert not s.worker.thread.is_alive()


def test_a_cached_run_is_served_without_training(tmp_path, calls):
    rec, cache = Recorder(), ResultCache(tmp_path / "cache")
    s = session(rec, cache=cache)
    try:
        s.request(FAST)
        assert s.wait(120)
        first = s.run
        assert not first.from_cache and len(cache) == 1
        s.request(FAST.replace(depth=5))
        assert s.wait(120)
        before = len(rec.frames)
        s.request(FAST)  # back to the first config: served, not trained
        assert s.wait(120)
        assert len(calls["train"]) == 2 and len(calls["inspect"]) == 2  # nothing new ran
        (served,) = rec.frames[before:]  # one frame, the final one: no step-0 frame first
        assert served.run.from_cache and not served.at_init and served.steps == (30, 30)
        assert "from cache" in served.status("en") and "来自缓存" in served.status("zh")
        np.testing.assert_array_equal(served.run.loss, first.loss)
        np.testing.assert_array_equal(served.run.grad_norm, first.grad_norm)
    finally:
        s.close()
        cache.close()


def test_a_diverging_config_says_at_which_step():
    rec = Recorder()
    s = session(rec)
    try:
        s.request(DIVERGING)
        assert s.wait(120)
        run = s.run
        k = run.diverged_at
        assert k is not None and run.finished and rec.errors == []
        # the step named is where the numbers stop being finite, read from the record itself
        assert np.all(np.isfinite(run.loss[:k]))
        assert not (np.isfinite(run.loss[k]) and np.isfinite(run.global_grad_norm[k]))
        assert re.search(rf"diverged at step {k}\b", s.status("en"))
        assert f"diverged at step {k}" not in s.status("zh") and str(k) in s.status("zh")
        assert s.verdict.kind == "diverged" and rec.frames[-1].view.diagnosis is s.verdict
    finally:
        s.close()


def test_a_refused_config_gives_the_message_and_trains_nothing(calls):
    rec = Recorder()
    limits = Limits(max_work=2 * work(FAST), max_seconds=None)
    s = session(rec, limits, config=FAST)
    try:
        big = FAST.replace(depth=40)
        assert work(big) > limits.max_work  # 10x the layers: over twice FAST's work
        message = s.request(big)
        assert message and "LAB_MAX_WORK" in message and "depth 40" in message
        assert s.wait(10) and s.config == FAST and s.generation == 0
        assert calls == {"train": [], "inspect": []} and rec.frames == [] and rec.errors == []
        assert s.request(FAST.replace(depth=5)) is None  # within the cap: trains
        assert s.wait(120) and len(calls["train"]) == 1 and s.run.config.depth == 5
    finally:
        s.close()


def test_the_time_limit_stops_a_run_and_keeps_it_out_of_the_cache(tmp_path):
    rec, cache = Recorder(), ResultCache(tmp_path / "cache")
    s = session(rec, Limits(max_seconds=1e-6), cache)
    try:
        s.request(FAST)
        assert s.wait(120)
        run = s.run
        assert run.time_limited_at == 1 and run.steps_done == 1 and run.finished
        assert "stopped at the 1e-06 s CPU time limit at step 1" in s.status("en")
        assert rec.frames[-1].steps == (1, 30) and rec.errors == []
        assert len(cache) == 0  # cut short: another kernel would train further
    finally:
        s.close()
        cache.close()


def test_an_error_in_training_is_reported_in_one_line_not_raised(monkeypatch):
    def broken(*args, **kw):
        raise RuntimeError("disk on fire\n  File 'trainer.py', line 1 <b>")

    monkeypatch.setattr(lab.relay, "train", broken)
    rec = Recorder()
    s = session(rec)
    try:
        s.request(FAST.replace(depth=6))
        assert s.wait(120)  # the worker caught it
        (error,) = rec.errors
        assert error("en") == "Something went wrong: RuntimeError: disk on fire"
        assert "RuntimeError: disk on fire" in error("zh") and "File" not in error("zh")
        assert rec.statuses[-1]("en").endswith("stopped by an error")
        assert s.status is rec.statuses[-1] and s.worker.thread.is_alive()
        monkeypatch.undo()
        s.request(FAST.replace(depth=5))  # the next request trains as usual
        assert s.wait(120)
        assert s.run.config.depth == 5 and s.run.finished and len(rec.errors) == 1
    finally:
        s.close()


def test_pin_keeps_the_run_and_redraws_it_as_ghosts():
    drawn = []

    class Ghosts(Recorder):
        def draw(self, view):
            drawn.append(view)
            return super().draw(view)

    s = session(Ghosts())
    try:
        assert not s.pin()  # nothing to pin before the first frame
        s.request(FAST)
        assert s.wait(120) and s.pin() and s.pinned is s.run
        assert drawn[-1].pinned is s.run  # redrawn at once with the ghost
        s.request(FAST.replace(seed=1))
        assert s.wait(120) and drawn[-1].pinned is not None and s.pinned is not s.run
        s.unpin()
        assert s.pinned is None and drawn[-1].pinned is None
    finally:
        s.close()


def test_the_worker_runs_the_first_and_the_newest_of_a_burst_only():
    started, release, handled = threading.Event(), threading.Event(), []

    def handle(generation: int, item: int) -> None:
        if item == 0:
            started.set()
            release.wait(30)  # busy with the first while the burst arrives
        handled.append((generation, item, worker.cancelled(generation)))

    worker = NewestWorker(handle)
    try:
        worker.submit(0)
        assert started.wait(30)
        for item in range(1, 10):
            worker.submit(item)
        release.set()
        assert worker.wait(30)
        assert handled == [(1, 0, True), (10, 9, False)] and worker.max_in_flight == 1
    finally:
        worker.close()


def test_the_session_imports_no_widgets_no_matplotlib_and_defers_torch_modules():
    code = ("import sys, lab.session, lab.worker; "
            "print(sorted(m for m in ('ipywidgets', 'matplotlib', 'lab.cache', 'lab.frame_view', "
            "'lab.limits', 'lab.ui', 'lab.plots') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
