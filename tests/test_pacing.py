"""Frame pacing: a frame a second at most, and drawing a bounded share of the CPU however busy."""

import pytest

import lab
from lab.pacing import FramePacer


class Clocks:
    """A wall clock and a CPU clock the test moves by hand."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0


def simulate(slowdown: float, seconds_of_training: float, frame_cost: float = 0.3,
             step_cpu: float = 0.01, share: float = 0.25) -> tuple[int, float]:
    """Train for `seconds_of_training` of CPU in steps, the wall clock running `slowdown` times
    faster than the CPU one (other processes share the cores), drawing the step-0 frame first
    and the final frame last, as the dashboard does; return the intermediate frames drawn and
    the CPU seconds of every frame (counted here, not by the pacer)."""
    c = Clocks()
    pacer = FramePacer(every=1.0, share=share, clock=lambda: c.wall, cpu=lambda: c.cpu)

    def draw() -> None:
        c.cpu += frame_cost
        c.wall += frame_cost * slowdown

    draw()  # the dashboard's first frame (the network at initialization)
    pacer.drew(frame_cost)
    frames, drawing, trained = 0, frame_cost, 0.0
    while trained < seconds_of_training - 1e-9:
        c.cpu += step_cpu
        c.wall += step_cpu * slowdown
        trained += step_cpu
        if pacer.due():
            draw()
            frames += 1
            drawing += frame_cost
            pacer.drew()
    draw()  # the final frame, whatever the budget
    return frames, drawing + frame_cost


def most_frames(seconds_of_training: float, frame_cost: float, share: float) -> int:
    """Intermediate frames that fit the budget beside the step-0 and final ones:
    (n + 2) f <= share (training + (n + 2) f)."""
    return int(share * seconds_of_training / ((1 - share) * frame_cost) + 1e-9) - 2


def test_on_an_idle_machine_frames_come_once_a_second():
    # 3 s of training with 0.1 s frames: the clock rule (>= 1 s) is the one that binds
    frames, drawing = simulate(slowdown=1.0, seconds_of_training=3.0, frame_cost=0.1)
    assert frames == 2  # at ~1.1 s and ~2.2 s of wall time; the third would land after 3 s
    assert most_frames(3.0, 0.1, 0.25) > 2
    assert drawing / (drawing + 3.0) < 0.25


@pytest.mark.parametrize("slowdown", [1.0, 2.0, 5.0, 10.0, 30.0])
@pytest.mark.parametrize("share", [0.25, 1 / 3])
def test_every_frame_together_never_takes_more_than_the_share(slowdown, share):
    frames, drawing = simulate(slowdown, seconds_of_training=6.0, share=share)
    assert drawing / (drawing + 6.0) <= share + 1e-9  # step-0 and final frames included
    # ... and the budget is what binds once the clock runs fast (10 ms steps: one fewer at most)
    if slowdown >= 2:
        assert most_frames(6.0, 0.3, share) - 1 <= frames <= most_frames(6.0, 0.3, share)


def test_the_step0_and_final_frames_use_the_budget_first():
    # 1.5 s of training, 0.3 s frames: the two frames every run draws are 0.6 s already,
    # more than a quarter of 2.1 s: no intermediate frame, however long the wall clock runs
    assert most_frames(1.5, 0.3, 0.25) < 0
    for slowdown in (1.0, 10.0):
        assert simulate(slowdown, seconds_of_training=1.5)[0] == 0


def test_a_busy_machine_draws_no_more_frames_than_an_idle_one():
    idle, _ = simulate(1.0, seconds_of_training=4.0)
    assert idle > 0
    for slowdown in (3.0, 10.0, 30.0):
        busy, _ = simulate(slowdown, seconds_of_training=4.0)
        assert busy <= idle + 1
    # a clock-only pacer would draw a frame for every wall second: 10x the frames at 10x load
    assert simulate(10.0, 4.0)[0] < 4.0 * 10.0 / 1.0 / 4


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
