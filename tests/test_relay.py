"""Relay: kernels that ask for one config at once train it once; a leader that stops hands over."""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

import lab
import lab.relay
from lab.cache import ResultCache
from lab.limits import Limits
from lab.relay import Published, Relay
from lab.session import Frame, SessionListener, TrainingSession
from lab.slots import TrainingSlots

FAST = lab.Config(steps=30, n_samples=300, width=16, depth=4)
ROOT = Path(__file__).resolve().parents[1]


class Screen(SessionListener):
    """A session's view: counts its own drawings; images are (config, steps done) pairs."""

    def __init__(self, signature="figure"):
        self.sig = signature
        self.drawn: list = []
        self.images: list = []
        self.frames: list[Frame] = []
        self.statuses: list[str] = []

    def signature(self):
        return self.sig

    def draw(self, view):
        image = (view.run.config, view.run.steps_done, view.run.at_init)
        self.drawn.append(image)
        return image

    def on_image(self, image) -> None:
        self.images.append(image)

    def on_frame(self, frame: Frame) -> None:
        self.frames.append(frame)
        self.statuses.append(frame.status("en"))

    def on_status(self, status) -> None:
        self.statuses.append(status("en"))


def _until(predicate, timeout=60.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _gated_train(monkeypatch):
    """lab.relay.train, counted, held at its start until `gate` is set."""
    gate, trained, real = threading.Event(), [], lab.relay.train

    def train(cfg, **kw):
        trained.append(cfg)
        assert gate.wait(60)
        return real(cfg, **kw)

    monkeypatch.setattr(lab.relay, "train", train)
    return gate, trained


@contextlib.contextmanager
def _two_kernels(folder, gate, a: Screen, b: Screen):
    """Sessions of two kernels sharing one cache folder; a leads FAST (held by `gate`), b then
    asks for it too and follows: b has shown a's step 0."""
    caches = [ResultCache(folder) for _ in range(2)]
    sa = TrainingSession(a, Limits(), caches[0], slots=None)
    sb = TrainingSession(b, Limits(), caches[1], slots=None)
    try:
        sa.request(FAST)
        assert _until(lambda: len(a.drawn) == 1)  # a leads: step 0 drawn, now training
        sb.request(FAST)
        assert _until(lambda: len(b.frames) == 1)  # b follows
        yield sa, sb, caches[0]
    finally:
        gate.set()
        for s in (sa, sb):
            s.close()
        for c in caches:
            c.close()


def test_two_sessions_asking_for_one_config_train_it_once_and_draw_once(tmp_path, monkeypatch):
    gate, trained = _gated_train(monkeypatch)
    a, b = Screen(), Screen()
    with _two_kernels(tmp_path / "cache", gate, a, b) as (sa, sb, _):
        assert b.drawn == [] and b.images == [(FAST, 1, True)]  # a's step 0, not drawn again
        gate.set()
        assert sa.wait(120) and sb.wait(120)
        assert len(trained) == 1  # trained once, for both
        ra, rb = a.frames[-1].run, b.frames[-1].run
        assert ra.finished and rb.finished and not rb.from_cache
        np.testing.assert_array_equal(ra.loss, rb.loss)
        np.testing.assert_array_equal(ra.grad_norm, rb.grad_norm)
        assert b.drawn == []  # every image b showed was a's
        assert b.images and set(b.images) <= set(a.drawn) and b.images[-1] == a.drawn[-1]
        assert "shared training" in b.statuses[-1] and "finished 30 steps" in b.statuses[-1]
        assert "shared training" not in a.statuses[-1]


def test_a_follower_with_another_figure_draws_the_leaders_runs_itself(tmp_path, monkeypatch):
    gate, trained = _gated_train(monkeypatch)
    a, b = Screen("figure in English"), Screen("figure in Chinese")
    with _two_kernels(tmp_path / "cache", gate, a, b) as (sa, sb, _):
        gate.set()
        assert sa.wait(120) and sb.wait(120)
        assert len(trained) == 1
        assert b.drawn[0] == (FAST, 1, True) and b.drawn[-1] == a.drawn[-1]  # same Runs drawn


def test_when_the_leader_moves_on_its_follower_trains_the_config(tmp_path, monkeypatch):
    gate, trained = _gated_train(monkeypatch)
    a, b = Screen(), Screen()
    other = FAST.replace(depth=3)
    with _two_kernels(tmp_path / "cache", gate, a, b) as (sa, sb, cache):
        sa.request(other)  # a's student moves on: its FAST training is cancelled
        gate.set()
        assert sa.wait(120) and sb.wait(120)
        assert trained.count(FAST) == 2 and trained.count(other) == 1
        final = b.frames[-1].run
        assert final.config == FAST and final.finished and not final.cancelled
        assert "shared training" not in b.statuses[-1]  # b trained it itself
        assert a.frames[-1].run.config == other
        assert cache.get(FAST) is not None  # stored by b, for everyone


def test_a_queued_training_says_how_many_are_ahead_and_step_0_does_not_wait(tmp_path):
    slots = TrainingSlots(tmp_path / "line", 1, poll=0.005)
    held = slots.acquire()  # another kernel trains
    ahead = threading.Thread(target=lambda: slots.acquire().release())
    ahead.start()  # and one more waits before us
    assert _until(lambda: slots.waiting() == 1)
    screen = Screen()
    s = TrainingSession(screen, Limits(), None, slots=slots)
    try:
        s.request(FAST)
        assert _until(lambda: any("queued, 1 ahead" in x for x in screen.statuses))
        assert screen.frames and screen.frames[0].at_init  # step 0 is shown while in line
        assert len(screen.frames) == 1
        held.release()  # the one ahead goes, then we do
        assert _until(lambda: any("queued, next" in x for x in screen.statuses)
                      or screen.frames[-1].run.finished)
        assert s.wait(120)
        assert screen.frames[-1].run.finished and "finished 30 steps" in screen.statuses[-1]
        order = [x for x in screen.statuses if "queued" in x]
        assert order[0].endswith("queued, 1 ahead")
    finally:
        s.close()
        ahead.join(30)


def test_published_frames_are_whole_and_only_new_ones_are_read(tmp_path):
    relay = Relay(tmp_path)
    lead = relay.claim("k")
    assert lead is not None and relay.claim("k") is None  # one leader at a time
    run = lab.inspect(FAST)
    lead.publish(run, b"png", "sig", ahead=2)
    got = relay.read("k")
    assert isinstance(got, Published) and got.images == {"sig": b"png"} and got.ahead == 2
    np.testing.assert_array_equal(got.run.act_std, run.act_std)
    assert not got.final and relay.read("k") is None  # read once
    assert relay.read("k", only_new=False) is not None
    lead.release()
    again = relay.claim("k")  # free once released
    assert again is not None
    again.release()


CHILD = r"""
import os, sys, time
import lab, lab.relay
from lab.cache import ResultCache
from lab.relay import train_shared
role, folder = sys.argv[1], sys.argv[2]
real = lab.relay.train
def train(cfg, **kw):
    print("TRAIN", flush=True)
    if role == "leader":  # hold the training until the test lets it go (or kills us)
        while not os.path.exists(os.path.join(folder, "go")):
            time.sleep(0.01)
    return real(cfg, **kw)
lab.relay.train = train
def show(run, image, source):
    print("FRAME", source, run.steps_done, run.at_init, run.finished, float(run.loss.sum()),
          flush=True)
    return b"image of %d" % run.steps_done
cfg = lab.Config(steps=30, n_samples=300, width=16, depth=4)
run = train_shared(cfg, show, lambda: False, cache=ResultCache(os.path.join(folder, "cache")),
                   signature=lambda: "figure")
print("DONE", run.finished, flush=True)
"""


def _start(role: str, folder: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", CHILD, role, str(folder)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, text=True)


def _end(*procs) -> None:
    """Kill whichever of these child processes still runs, and reap them."""
    for p in procs:
        if p is not None and p.poll() is None:
            p.kill()
        if p is not None:
            p.wait(10)


def _read_until(proc: subprocess.Popen, prefix: str, lines: list) -> str:
    for line in proc.stdout:
        lines.append(line.strip())
        if line.startswith(prefix):
            return line.strip()
    raise AssertionError(f"no {prefix!r} line; got {lines}")


def test_two_processes_asking_for_one_config_train_it_once(tmp_path):
    leader = _start("leader", tmp_path)
    follower = None
    try:
        lead_lines, follow_lines = [], []
        assert _read_until(leader, "FRAME", lead_lines).startswith("FRAME None 1 True True")
        _read_until(leader, "TRAIN", lead_lines)  # holding its training
        follower = _start("follower", tmp_path)
        assert _read_until(follower, "FRAME", follow_lines).startswith("FRAME shared 1 True True")
        (tmp_path / "go").touch()
        _read_until(leader, "DONE", lead_lines)
        _read_until(follower, "DONE", follow_lines)
        assert lead_lines.count("TRAIN") == 1 and "TRAIN" not in follow_lines
        final_lead = [x for x in lead_lines if x.startswith("FRAME") and " 30 False True " in x]
        final_follow = [x for x in follow_lines if x.startswith("FRAME shared 30 False True")]
        assert len(final_lead) == 1 and len(final_follow) == 1
        assert final_lead[0].split()[-1] == final_follow[0].split()[-1]  # the same loss curve
        assert follow_lines[-1] == lead_lines[-1] == "DONE True"
    finally:
        _end(leader, follower)


def test_a_leader_that_dies_hands_the_config_to_its_follower(tmp_path):
    leader = _start("leader", tmp_path)
    follower = None
    try:
        lead_lines, follow_lines = [], []
        _read_until(leader, "TRAIN", lead_lines)  # step 0 published; it never goes on
        follower = _start("follower", tmp_path)
        assert _read_until(follower, "FRAME", follow_lines).startswith("FRAME shared 1 True True")
        leader.send_signal(signal.SIGKILL)  # the tab closed, the kernel was culled...
        leader.wait(10)
        assert _read_until(follower, "DONE", follow_lines) == "DONE True"
        assert follow_lines.count("TRAIN") == 1  # it took over and trained
        final = [x for x in follow_lines if x.startswith("FRAME")][-1]
        assert final.startswith("FRAME None 30 False True")
        assert ResultCache(tmp_path / "cache").get(FAST) is not None
    finally:
        _end(leader, follower)
