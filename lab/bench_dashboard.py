"""Bench "dashboard run: CPU split": a dashboard's run, training against drawing, in CPU seconds.

The run goes the dashboard's way (lab/session.py TrainingSession._train) on one thread: the
step-0 frame of lab.inspect, then lab.train with frames paced by a FramePacer built from the
session's DRAW_EVERY and DRAW_SHARE, each frame drawn by the Dashboard's own `draw`
(lab/ui.py DashboardScreen: the figure updated in place, then encoded). Every frame counts as
drawing, the step-0 and the final one included: the Run snapshot of an intermediate frame
(taken only because a frame is due), its FrameView, the figure's update, its pixels and its
encoding. The rest of the thread's CPU is training (lab.inspect and the final Run included).
"""

from __future__ import annotations

import statistics
import time
from types import SimpleNamespace

from lab.bench_timing import stats
from lab.config import Config
from lab.pacing import FramePacer

PHASES = ("snapshot", "view", "update", "render", "encode")  # a frame's cost, in this order


class _TimedPacer(FramePacer):
    """The session's pacer, also timing the snapshot the loop takes once a frame is due."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.granted: float | None = None  # this thread's CPU when the last frame was granted

    def due(self) -> bool:
        """FramePacer.due, noting when a frame was granted."""
        due = super().due()
        if due:
            self.granted = time.thread_time()
        return due


def dashboard_run(cfg: Config, figure, views, cold: bool = False) -> dict:
    """One run of `cfg` drawn as the dashboard draws it; CPU seconds by phase, frames, bytes.

    `cold`: the figure forgets the static pixels it kept, as for limits it never showed.
    """
    from lab.cache import train_cached
    from lab.session import DRAW_EVERY, DRAW_SHARE
    from lab.ui import DashboardScreen

    screen = DashboardScreen(SimpleNamespace(figure=figure))
    pacer = _TimedPacer(DRAW_EVERY, DRAW_SHARE)
    phases = dict.fromkeys(PHASES, 0.0)
    sizes: list[int] = []
    before = dict(figure.cpu)

    def on_frame(run) -> None:  # TrainingSession._train's on_frame, with the session's _show
        cpu = time.thread_time()
        if pacer.granted is not None and not run.finished:  # an intermediate frame's snapshot
            phases["snapshot"] += cpu - pacer.granted
        pacer.granted = None
        view = views.of(run, None)
        phases["view"] += time.thread_time() - cpu
        sizes.append(len(screen.draw(view)))
        if run.at_init:
            pacer.drew(time.thread_time() - cpu)
        elif not run.finished:
            pacer.drew()

    if cold:
        figure.blitter.forget()
    start = time.thread_time()
    train_cached(cfg, on_frame=on_frame, cache=None, frame_due=pacer.due, inspect_first=True)
    total = time.thread_time() - start
    for name in ("update", "render", "encode"):
        phases[name] = figure.cpu[name] - before[name]
    drawing = sum(phases.values())
    return {"total": total, "train": total - drawing, "draw": drawing, "share": drawing / total,
            "frames": len(sizes), "phases": phases, "bytes": sizes}


def bench_dashboard_split(cfg: Config, repeats: int, long_steps: int = 1000) -> dict:
    """The dashboard's CPU split for `cfg`: medians of `repeats` runs after a warm one, each
    drawn with the figure's kept pixels ("warm": the config shown before, as a student going
    back to it) and without them ("cold": limits never shown before), interleaved; "long":
    `cfg` with `long_steps` steps (warm), long enough for intermediate frames; "new depth":
    `cfg` right after a run of another depth, as after a depth slider move: the figure's
    layout is built anew (per-layer lines, heatmap rows) and every panel drawn in full.

    One figure serves every run, as one dashboard's does; each run gets fresh FrameViews, as a
    new config would (its theory prediction is drawn once per config).
    """
    from lab.frame_view import Views
    from lab.plots import DashboardFigure

    figure = DashboardFigure()
    dashboard_run(cfg, figure, Views())  # imports, data, the figure built once
    warm, cold, long, new_depth = [], [], [], []
    longer = cfg.replace(steps=long_steps)
    other = cfg.replace(depth=cfg.depth + 2)
    for _ in range(repeats):
        cold.append(dashboard_run(cfg, figure, Views(), cold=True))
        warm.append(dashboard_run(cfg, figure, Views()))
        long.append(dashboard_run(longer, figure, Views()))
        dashboard_run(other, figure, Views())
        new_depth.append(dashboard_run(cfg, figure, Views()))
    return {"cold": _summary(cold), "warm": _summary(warm),
            "long": {"steps": long_steps, **_summary(long)}, "new depth": _summary(new_depth)}


def _summary(runs: list[dict]) -> dict:
    """Medians (with min, max) of a few dashboard_run results."""
    per_frame = {name: statistics.median(r["phases"][name] / r["frames"] for r in runs)
                 for name in PHASES}
    return {"train": stats([r["train"] for r in runs]), "draw": stats([r["draw"] for r in runs]),
            "share": stats([r["share"] for r in runs]),
            "frames": stats([r["frames"] for r in runs]),
            "per_frame": per_frame,
            "frame_bytes": statistics.median(b for r in runs for b in r["bytes"]),
            "first_frame_bytes": statistics.median(r["bytes"][0] for r in runs)}
