"""Panel d: training and validation loss, validation accuracy over chance, clipping, events."""

from __future__ import annotations

import numpy as np

from lab.figure_style import GHOST, TITLE, decade_axis, integer_axis, legend_for, positive
from lab.frame_view import FrameView
from lab.render import Panel
from lab.render_parts import axis_sprite
from lab.steady import LegendPlacer, SteadyLimits

ACC = "#55a868"
RED, PURPLE = "#b42318", "#8172b2"
GHOST_TEXT = "#6e6e6e"  # the ghost's note: darker than its line, to be read
GHOST_ROOM = 10.0  # the pinned run's losses set the axis up to this factor above the run's own
GHOST_MARK_Y = 0.96  # where (axes fraction) the ghost's exit is marked: inside the top edge
MARK_WEIGHT = 1000  # the ghost's exit mark counts as this many covered points for the legend


def ghost_exit(pinned_loss: np.ndarray, top: float) -> int | None:
    """First step at which the pinned loss leaves a log axis ending at `top`: above it, or not
    finite (diverged); None if it stays on the axis."""
    loss = np.asarray(pinned_loss, dtype=float)
    out = np.flatnonzero(~np.isfinite(loss) | (loss > top))
    return int(out[0]) if out.size else None


class LossPanel:
    """Loss (log, left axis) and accuracy (right axis) against the step."""

    def __init__(self, ax):
        self.ax = ax
        ax.set_title("d. loss and accuracy", **TITLE)
        ax.set_yscale("log")
        self.loss_line = ax.plot([], [], color="#4c72b0", lw=1.0, alpha=0.8,
                                 label="train loss")[0]
        self.val_line = ax.plot([], [], color="#dd8452", lw=2.0, marker="o", ms=3,
                                label="val loss")[0]
        self.loss_ghost = ax.plot([], [], color=GHOST, lw=1.2, ls="-.", visible=False,
                                  label="pinned: train loss")[0]
        self.acc_ax = ax.twinx()
        self.acc_line = self.acc_ax.plot([], [], color=ACC, lw=2.0, label="val accuracy")[0]
        self.chance = self.acc_ax.axhline(0.5, color=ACC, lw=1.0, ls=":", label="chance")
        self.acc_ax.set_ylim(0, 1.02)
        self.acc_ax.set_ylabel("accuracy", color=ACC)
        self.clip_marks = ax.plot([], [], ls="none", marker="|", ms=8, color=PURPLE,
                                  transform=ax.get_xaxis_transform(), label="clipped step")[0]
        # where the pinned loss leaves the axis (a diverged ghost goes off the top), named in
        # the legend: "pinned: diverged at step 2"
        self.ghost_mark = ax.plot([], [], ls="none", marker="^", ms=9, color=GHOST_TEXT,
                                  transform=ax.get_xaxis_transform(), visible=False,
                                  label="pinned: off the axis")[0]
        self.event_line = ax.axvline(0, color=RED, lw=1.5, visible=False)
        self.event_text = ax.text(0.98, 0.5, "", transform=ax.transAxes, ha="right",
                                  va="center", color=RED, fontsize=10.5, fontweight="bold")
        ax.set_xlabel("step")
        ax.set_ylabel("loss (cross-entropy)")
        decade_axis(ax.yaxis)
        integer_axis(ax.xaxis)
        self.lines = [self.loss_line, self.val_line, self.acc_line, self.chance,
                      self.clip_marks, self.loss_ghost, self.ghost_mark]
        self.legend = None
        self._entries: tuple = ()
        self.placer: LegendPlacer | None = None

    def part(self) -> Panel:
        """The panel for the Blitter (the twin axes belong to it)."""
        return Panel([self.ax, self.acc_ax],
                     [self.ax.yaxis, self.loss_line, self.val_line, self.loss_ghost,
                      self.clip_marks, self.ghost_mark, self.event_line, self.event_text,
                      self.acc_line, self.chance,  # chance: static, it would be a layer
                      self.legend])

    def key(self) -> tuple:
        """What the static artists show (the legend's entries re-plan the panel; the loss
        axis is a sprite)."""
        return (self.ax.get_xlim(), self.acc_ax.get_ylim(), self._entries)

    def sprites(self) -> dict:
        """The legend moves between a few places and the loss axis between a few decades:
        their pixels are kept per place and per limits."""
        return {self.legend: (self.placer.code, self._entries), **axis_sprite(self.ax.yaxis)}

    def update(self, view: FrameView, steady: SteadyLimits, fresh: bool) -> None:
        """Show the run's losses and accuracy up to now."""
        run, pinned, ax = view.run, view.pinned, self.ax
        steps = np.arange(len(run.loss))
        self.loss_line.set_data(steps, positive(run.loss))
        self.val_line.set_data(run.val_steps, positive(run.val_loss))
        acc = np.array(run.val_acc, dtype=float)
        if run.diverged_at is not None:  # a NaN model's argmax is no accuracy
            acc[run.val_steps >= run.diverged_at] = np.nan
        self.acc_line.set_data(run.val_steps, acc)
        self.chance.set_ydata([view.chance, view.chance])
        self.chance.set_label(f"chance (1/{view.data.n_classes})")
        series = [run.loss, run.val_loss]
        if pinned is not None:
            self.loss_ghost.set_data(np.arange(len(pinned.loss)), positive(pinned.loss))
            series.append(self._ghost_in_range(pinned.loss, np.concatenate(series)))
        self.loss_ghost.set_visible(pinned is not None)
        clipped = np.flatnonzero(run.clipped)
        self.clip_marks.set_data(clipped, np.full(len(clipped), 0.03))
        self.clip_marks.set_visible(len(clipped) > 0)
        last = max(run.config.steps, 1)  # the last evaluation is of the weights after all steps
        ax.set_xlim(0, last)
        self.acc_ax.set_xlim(0, last)
        steady.log_ylim(ax, "d", positive(np.concatenate(series)))
        self._mark_ghost_exit(pinned)
        event = run.diverged_at if run.diverged_at is not None else run.stopped_early_at
        self.event_line.set_visible(event is not None)
        if event is not None:
            self.event_line.set_xdata([event, event])
        self.event_text.set_text(run.status() if event is not None else "")
        self.event_text.set_color(RED if run.diverged_at is not None else PURPLE)
        self._place_legend(fresh)

    @staticmethod
    def _ghost_in_range(ghost: np.ndarray, own: np.ndarray) -> np.ndarray:
        """The pinned losses that may set the axis: those up to GHOST_ROOM times the run's own
        largest loss (a diverging ghost's 1e9 would squash the run shown into a sliver)."""
        own = positive(own)
        if not np.isfinite(own).any():  # nothing of the run's own to keep readable
            return np.asarray(ghost, dtype=float)
        ghost = positive(ghost)
        return np.where(ghost <= GHOST_ROOM * np.nanmax(own), ghost, np.nan)

    def _mark_ghost_exit(self, pinned) -> None:
        """A triangle inside the top edge where the pinned loss leaves the axes, named in the
        legend by what happened there."""
        at = None if pinned is None else ghost_exit(pinned.loss, self.ax.get_ylim()[1])
        self.ghost_mark.set_visible(at is not None)
        if at is None:
            return
        self.ghost_mark.set_data([at], [GHOST_MARK_Y])
        # short, under the legend's "pinned: train loss" (grey, like it): the legend keeps
        # its width and fits beside the mark
        diverged = pinned.diverged_at
        self.ghost_mark.set_label(f"diverged at step {diverged}" if diverged is not None
                                  else f"off the top at step {at}")

    def _place_legend(self, fresh: bool) -> None:
        shown = [line for line in self.lines if line.get_visible()]
        entries = tuple(line.get_label() for line in shown)
        if entries != self._entries or self.legend is None:
            # on the twin: drawn after every line of both axes
            self.legend = legend_for(self.acc_ax, shown, self.legend, loc="upper right",
                                     ncol=2, columnspacing=1.0)
            self.placer, self._entries = LegendPlacer(self.legend), entries
        elif fresh:
            self.placer.code = None  # a new run: where the legend goes depends on it alone
        points = np.zeros((0, 2))
        if self.event_text.get_text():  # the legend keeps off the event's words too
            box = self.event_text.get_window_extent(self.ax.figure.canvas.get_renderer())
            points = np.array([[x, y] for x in np.linspace(box.x0, box.x1, 5)
                               for y in (box.y0, box.y1)])
        if self.ghost_mark.get_visible():  # and never hides the ghost's exit: it weighs as
            mark = self.ghost_mark.get_transform().transform(  # much as a whole loss curve
                np.column_stack(self.ghost_mark.get_data()))[0]
            size = self.ghost_mark.get_markersize()  # points ~ pixels at the dashboard's dpi
            around = mark + size * np.array([[dx, dy] for dx in (-1, 0, 1) for dy in (-1, 0, 1)])
            points = np.vstack([points, np.repeat(around, MARK_WEIGHT, axis=0)])
        self.placer.place([line for line in shown if line is not self.clip_marks], points)
