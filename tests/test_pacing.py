"""Frame pacing: a frame a second at most, and drawing a bounded share of the CPU however busy."""

import pytest

import lab
from lab.pacing import FramePacer


class Clocks:
    """A wall clock and a CPU clock the test moves by hand."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0


def simulate(slowdown: float, seconds_of_training: float, frame_cost: float = 0.3,
             step_cpu: float = 0.01) -> tuple[int, float]:
    """Train for `seconds_of_training` of CPU in steps, the wall clock running `slowdown` times
    faster than the CPU one (other processes share the cores); return the intermediate frames
    drawn and their CPU seconds."""
    c = Clocks()
    pacer = FramePacer(every=1.0, share=0.25, clock=lambda: c.wall, cpu=lambda: c.cpu)
    pacer.drew(frame_cost)  # the dashboard's first frame (the network at initialization)
    frames, drawing, trained = 0, 0.0, 0.0
    while trained < seconds_of_training:
        c.cpu += step_cpu
        c.wall += step_cpu * slowdown
        trained += step_cpu
        if pacer.due():
            c.cpu += frame_cost
            c.wall += frame_cost * slowdown
            frames += 1
            drawing += frame_cost
            pacer.drew()
    return frames, drawing


def test_on_an_idle_machine_frames_come_once_a_second():
    # 3 s of training with 0.3 s frames: the clock rule (>= 1 s) is the one that binds
    frames, drawing = simulate(slowdown=1.0, seconds_of_training=3.0, frame_cost=0.1)
    assert frames == 2  # at ~1.0 s and ~2.1 s of wall time; the third would land after 3 s
    assert drawing / (drawing + 3.0) < 0.25


@pytest.mark.parametrize("slowdown", [1.0, 2.0, 5.0, 10.0, 30.0])
def test_drawing_never_takes_more_than_a_quarter_of_the_cpu(slowdown):
    frames, drawing = simulate(slowdown, seconds_of_training=6.0)
    assert drawing / (drawing + 6.0) <= 0.25 + 1e-9
    # ... and the limit is what binds once the clock runs fast: 0.9 s of training per frame
    if slowdown >= 2:
        assert frames == int(6.0 / 0.9)


def test_a_busy_machine_draws_no_more_frames_than_an_idle_one():
    idle, _ = simulate(1.0, seconds_of_training=2.0)
    for slowdown in (3.0, 10.0, 30.0):
        busy, _ = simulate(slowdown, seconds_of_training=2.0)
        assert busy <= idle + 1
    # a clock-only pacer would draw a frame for every wall second: 10x the frames at 10x load
    assert simulate(10.0, 2.0)[0] < 2.0 * 10.0 / 1.0 / 4


def test_bad_pacer_settings_name_the_value():
    with pytest.raises(ValueError, match="share=1.5"):
        FramePacer(share=1.5)
    with pytest.raises(ValueError, match="every=-1"):
        FramePacer(every=-1)


def test_train_builds_frames_only_when_frame_due_says_so():
    cfg = lab.Config(steps=40, n_samples=300, width=16, depth=3)
    asked = []

    def due() -> bool:
        asked.append(len(asked) + 1)
        return len(asked) in (10, 25)

    frames = []
    run = lab.train(cfg, on_frame=frames.append, frame_due=due)
    assert len(asked) == 40  # after every step
    assert [f.steps_done for f in frames] == [10, 25, 40] and frames[-1] is run
    assert run.finished and (run.loss == lab.train(cfg).loss).all()  # pacing changes no number
