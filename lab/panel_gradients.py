"""Panel b: gradient size by layer, at init and now, against the mean-field theory."""

from __future__ import annotations

import numpy as np

from lab.figure_style import GHOST, TITLE, decade_axis, integer_axis, legend_for, positive
from lab.frame_view import FrameView
from lab.render import Panel
from lab.render_parts import axis_sprite
from lab.steady import LegendPlacer, SteadyLimits

DA, DW = "#4c72b0", "#c44e52"
UNITS = ("dL/da: a = a layer's output,\nper example (~1/batch)\n"
         "dL/dW: W = weights (other units)")


class GradientPanel:
    """std dL/da and rms dL/dW per layer; theory anchored at the last layer; pinned ghost."""

    def __init__(self, ax, depth: int, colors: np.ndarray):
        self.ax = ax
        ax.set_title("b. gradient size by layer", **TITLE)
        x, ones = np.arange(1, depth + 1), np.ones(depth)
        ax.set_yscale("log")
        point = dict(marker="_", ms=22, mew=2) if depth == 1 else {}  # one point: no line
        self.g_init = ax.plot(x, ones, color=DA, lw=1.5, alpha=0.4, label="std dL/da, init",
                              **point)[0]
        self.g_now = ax.plot(x, ones, color=DA, lw=2.4, label="std dL/da, now", **point)[0]
        self.g_dots = ax.scatter(x, ones, c=colors, s=28, zorder=3)
        self.w_init = ax.plot(x, ones, color=DW, lw=1.3, alpha=0.4, ls="--",
                              label="rms dL/dW, init", **point)[0]
        self.w_now = ax.plot(x, ones, color=DW, lw=2.0, ls="--", label="rms dL/dW, now", **point)[0]
        self.g_theory = ax.plot(x, ones, color="black", lw=1.4, ls=":",
                                label="theory dL/da, init", **point)[0]
        self.g_ghost = ax.plot(x, ones, color=GHOST, lw=1.8, ls="-.", visible=False,
                               label="pinned: std dL/da, now", **point)[0]
        self.lines = [self.g_init, self.g_now, self.w_init, self.w_now, self.g_theory,
                      self.g_ghost]
        ax.set_xlim(0.5, depth + 0.5)
        integer_axis(ax.xaxis)
        decade_axis(ax.yaxis)
        ax.set_xlabel("layer (1 = input side)")
        ax.set_ylabel(UNITS, fontsize=8.5, linespacing=1.05)
        self.note = ax.text(0.5, 0.5, "", transform=ax.transAxes, ha="center", va="center",
                            fontsize=11, color="#555555")
        self.legend = None
        self._entries: tuple = ()
        self.placer: LegendPlacer | None = None

    def part(self) -> Panel:
        """The panel for the Blitter."""
        legend = [self.legend] if self.legend is not None else []
        return Panel([self.ax], [self.ax.yaxis, *self.lines, self.g_dots, self.note, *legend])

    def key(self) -> tuple:
        """What the static artists show (the legend's entries re-plan the panel; the y axis
        is a sprite)."""
        return (self.ax.get_xlim(), self._entries)

    def sprites(self) -> dict:
        """The legend moves between a few places and the y axis between a few decades: their
        pixels are kept per place and per limits."""
        if self.legend is None:
            return axis_sprite(self.ax.yaxis)
        return {self.legend: (self.placer.code, self._entries), **axis_sprite(self.ax.yaxis)}

    def update(self, view: FrameView, steady: SteadyLimits, fresh: bool) -> None:
        """Show the run's gradient profiles; `fresh`: a new run (the legend may go anywhere)."""
        run, pinned, pred = view.run, view.pinned, view.prediction
        g0, g = positive(run.act_grad_std[0]), positive(run.act_grad_std[-1])
        w0, w = positive(run.grad_rms[0]), positive(run.grad_rms[-1])
        # at init "now" lies on "init": both drawn, so the legend keeps its entries (a new
        # legend would redraw the panel's static pixels on every slider move)
        self.g_init.set_ydata(g0)
        self.g_now.set_ydata(g)
        self.g_dots.set_offsets(np.column_stack([np.arange(1, run.depth + 1), g]))
        self.w_init.set_ydata(w0)
        self.w_now.set_ydata(w)
        for line, values in ((self.g_init, g0), (self.g_now, g), (self.w_init, w0),
                             (self.w_now, w)):  # all zero or NaN: no line, so no entry
            line.set_visible(bool(np.isfinite(values).any()))
        series = [g0, g, w0, w]
        theory = pred is not None and np.isfinite(g0[-1])  # anchored at the last layer
        if theory:
            line = positive(pred.act_grad_std_rel * g0[-1])
            self.g_theory.set_ydata(line)
            series.append(line)
        self.g_theory.set_visible(theory)
        if pinned is not None:
            ghost = positive(pinned.act_grad_std[-1])
            self.g_ghost.set_ydata(ghost)
            series.append(ghost)
        self.g_ghost.set_visible(pinned is not None)
        steady.log_ylim(self.ax, "b", np.concatenate([np.ravel(s) for s in series]))
        self._place_legend(fresh)

    def _place_legend(self, fresh: bool) -> None:
        shown = [line for line in self.lines if line.get_visible()]
        self.note.set_text("" if shown else "no finite gradient to draw")
        entries = tuple(line.get_label() for line in shown)
        if entries != self._entries or self.legend is None:
            self.legend = legend_for(self.ax, shown, self.legend, loc="upper right")
            self.placer, self._entries = None, entries
            if self.legend is None:  # nothing drawn (NaN from step 0): nothing to name
                return
            self.placer = LegendPlacer(self.legend)
        elif fresh:
            self.placer.code = None  # a new run: where the legend goes depends on it alone
        dots = self.g_dots.get_offset_transform().transform(self.g_dots.get_offsets())
        self.placer.place(shown, dots)
