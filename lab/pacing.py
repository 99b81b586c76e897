"""Pacing: when the dashboard draws an intermediate frame while a network trains.

A frame costs CPU (the Run snapshot, the figure, the image: ~0.03-0.15 s on a 2-core x86-64),
and so does training. Pacing by the clock alone ("a frame a second") is fine on an idle machine
and ruinous on a busy one: when ten students share two cores, a run takes ten times longer on
the clock, so it would draw ten times more frames and each student's moves would cost several
times the CPU. The pacer asks for both: a second of wall time since the last frame, and room in
the run's drawing budget: every frame (the step-0 one, the intermediate ones and the final one,
whose cost is kept in reserve) together at most `share` of the CPU the run's thread has spent.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class FramePacer:
    """Decides, after each training step, whether an intermediate frame is due.

    Made when the run starts; `drew(cost)` reports the step-0 frame, `drew()` each
    intermediate frame (its cost measured since `due()` granted it). The final frame is drawn
    whatever the budget: a frame's cost is kept in reserve for it.
    """

    def __init__(self, every: float = 1.0, share: float = 0.25,
                 clock: Callable[[], float] = time.perf_counter,
                 cpu: Callable[[], float] = time.thread_time):
        if not every >= 0 or not 0 < share < 1:
            raise ValueError(f"FramePacer: every={every!r} must be >= 0 and share={share!r} "
                             "in (0, 1)")
        self.every, self.share, self.clock, self.cpu = every, share, clock, cpu
        self.start_cpu = cpu()  # the run's CPU counts from here: training and drawing
        self.last_wall = clock()
        self.frame_cpu = 0.0  # CPU seconds the last frame took (snapshot and drawing)
        self.drawn = 0.0  # CPU seconds of every frame so far
        self.frames = 0
        self._frame_start: float | None = None

    def due(self) -> bool:
        """True when a frame may be drawn now; the frame's cost is counted until `drew()`."""
        if self.clock() - self.last_wall < self.every:
            return False
        now = self.cpu()
        # this frame and the final one, at the last frame's cost, within the run's budget
        drawing = self.drawn + 2 * self.frame_cpu
        if drawing > self.share * (now - self.start_cpu + 2 * self.frame_cpu):
            return False
        self._frame_start = now
        return True

    def drew(self, cpu_seconds: float | None = None) -> None:
        """Record that a frame was drawn: its CPU cost (measured since `due()` if not given)."""
        now = self.cpu()
        if cpu_seconds is None:
            cpu_seconds = now - self._frame_start if self._frame_start is not None else 0.0
        self.frame_cpu = max(0.0, cpu_seconds)
        self.drawn += self.frame_cpu
        self.frames += 1
        self.last_wall = self.clock()
        self._frame_start = None
