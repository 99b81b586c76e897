"""Steady axes: limits and a legend place that move only when the data makes them.

A dashboard redrawn several times a second reads best when its axes hold still: frames and
runs compare at a glance, and axes, ticks and labels that did not move need not be drawn
again (lab.render.Blitter keeps them).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

HISTORY = 20  # frames whose data range the limits keep covering (a run or two in the dashboard)


class SteadyLimits:
    """Per named scale, limits covering the data of the last HISTORY frames, in whole steps.

    `limits(name, now, need, step)`: `need` is what this frame's data asks for (in steps, e.g.
    decades); the answer keeps `now` while it covers every recent `need` with at most two
    steps to spare, else grows one step past the data (data that moved tends to go on moving)
    or shrinks to what the recent frames need.
    """

    def __init__(self, history: int = HISTORY):
        self.history = history
        self._needs: dict[str, deque] = {}

    def clear(self) -> None:
        """Forget every scale's history (new axes)."""
        self._needs.clear()

    def limits(self, name: str, now: tuple, need: tuple, step: float = 1.0) -> tuple:
        """(low, high) for scale `name`, currently `now`, whose data needs `need` this frame."""
        needs = self._needs.setdefault(name, deque(maxlen=self.history))
        needs.append(need)
        if len(needs) == 1:  # new axes: nothing to hold still
            return need
        low, high = min(n[0] for n in needs), max(n[1] for n in needs)
        spare = (now[1] - now[0]) - (high - low)
        if now[0] <= low and now[1] >= high and spare <= 2 * step + 1e-9:
            return now
        return (low - step if low < now[0] else low, high + step if high > now[1] else high)

    def log_ylim(self, ax, name: str, values: np.ndarray) -> None:
        """Set `ax`'s log y limits to whole decades around `values`, steady across frames."""
        need = decades(values)
        if need is None:  # nothing drawable (diverged at step 0): a fixed range, not the last
            if name not in self._needs:  # run's; within a run, the limits held so far
                ax.set_ylim(1e-2, 1e2)
            return
        now = tuple(math.log10(v) for v in ax.get_ylim())
        low, high = self.limits(name, now, need)
        ax.set_ylim(10.0 ** low, 10.0 ** high)


def decades(values: np.ndarray) -> tuple[int, int] | None:
    """Whole decades holding the positive finite `values` with a factor 2 to spare, or None."""
    values = values[np.isfinite(values) & (values > 0)]
    if not values.size:
        return None
    return math.floor(math.log10(values.min() / 2)), math.ceil(math.log10(values.max() * 2))


class LegendPlacer:
    """Puts a legend at the location code (1-10) where it covers the least data.

    Scored like matplotlib's loc="best" (line vertices and points inside, lines crossing),
    but decided in update() rather than at draw time, so that the renderer can keep the
    legend's pixels per place; a tie keeps the current place, then takes the lower code.
    """

    def __init__(self, legend):
        self.legend = legend
        self.code: int | None = None
        self._boxes: dict | None = None  # code -> display box, fixed by the Axes and entries

    def place(self, lines: list, points: np.ndarray) -> int:
        """Move the legend clear of `lines` (Line2D, visible ones count) and `points`
        ((n, 2) display coordinates); return the location code."""
        if self._boxes is None:
            renderer = self.legend.get_figure(root=True).canvas.get_renderer()
            self._boxes = {}
            for code in range(1, 11):
                self.legend.set_loc(code)
                self._boxes[code] = self.legend.get_window_extent(renderer)
        paths = [line.get_transform().transform_path(line.get_path())
                 for line in lines if line.get_visible()]

        def badness(box) -> int:
            return (sum(box.count_contains(p.vertices) for p in paths)
                    + box.count_contains(points)
                    + sum(p.intersects_bbox(box, filled=False) for p in paths))

        scores = {code: badness(box) for code, box in self._boxes.items()}
        self.code = min(scores, key=lambda code: (scores[code], code != self.code, code))
        self.legend.set_loc(self.code)
        return self.code
