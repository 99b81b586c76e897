"""Panel e: the update:data ratio of each shown layer over training (Karpathy's ~1e-3)."""

from __future__ import annotations

import math

import numpy as np

from lab.figure_style import TITLE, integer_axis, legend_for
from lab.frame_view import FrameView
from lab.render import Panel
from lab.render_parts import axis_sprite
from lab.steady import LegendPlacer, SteadyLimits


class UpdatePanel:
    """log10(std of the applied update / std of W) per shown layer, against the step."""

    def __init__(self, ax, shown: np.ndarray, colors: np.ndarray):
        self.ax, self.shown = ax, shown
        ax.set_title("e. update:data ratio (log10)", **TITLE)
        ends = (shown[0], shown[-1])  # the layers whose lines the legend names
        self.lines = [ax.plot([], [], color=colors[layer], lw=1.6, marker="o", ms=2,
                              label=f"layer {layer + 1}" if layer in ends
                              else f"_layer {layer + 1}")[0] for layer in shown]
        self.healthy = ax.axhline(-3, color="black", lw=1.2, ls="--", label="1e-3: healthy")
        self.note = ax.text(0.5, 0.75, "", transform=ax.transAxes, ha="center", va="center",
                            fontsize=11, color="#555555")
        ax.set_xlabel("step")
        integer_axis(ax.xaxis)
        # every layer's colour is the one of panel a; the ends of the scale name it ('_':
        # matplotlib's mark for a line that a legend leaves out)
        named = [line for line, layer in zip(self.lines, shown, strict=True) if layer in ends]
        self.legend = legend_for(ax, [*named, self.healthy], loc="upper right",
                                 title="colour: layer, as in a", title_fontsize=8)
        self.placer = LegendPlacer(self.legend)
        self._placed_for: tuple | None = None  # y limits at the last placing

    def part(self) -> Panel:
        """The panel for the Blitter."""
        return Panel([self.ax], [self.ax.yaxis, *self.lines, self.healthy, self.note,
                                 self.legend])

    def key(self) -> tuple:
        """What the static artists show (the y axis is a sprite)."""
        return (self.ax.get_xlim(),)

    def sprites(self) -> dict:
        """The legend moves between a few places and the y axis between a few limits: their
        pixels are kept per place and per limits."""
        return {self.legend: self.placer.code, **axis_sprite(self.ax.yaxis)}

    def update(self, view: FrameView, steady: SteadyLimits, fresh: bool) -> None:
        """Show every recorded update:data ratio of the shown layers."""
        run, ax = view.run, self.ax
        values = run.update_ratio
        for j, layer in enumerate(self.shown):
            self.lines[j].set_data(run.recorded_steps, values[:, layer])
        finite = values[np.isfinite(values)]
        self.note.set_text("" if finite.size else "no update applied yet")
        ax.set_xlim(0, max(run.config.steps - 1, 1))
        low = min(float(finite.min()) if finite.size else -4, -4)
        high = max(float(finite.max()) if finite.size else -2, -2)
        need = (math.floor((low - 0.2) * 2) / 2, math.ceil((high + 0.2) * 2) / 2)  # half steps
        ax.set_ylim(*steady.limits("e", ax.get_ylim(), need, step=0.5))
        if fresh:
            self.placer.code = None  # a new run: where the legend goes depends on it alone
        # ratios move little from frame to frame: placed anew with the axes (12 lines cost)
        if fresh or self._placed_for != ax.get_ylim():
            self.placer.place([*self.lines, self.healthy], np.zeros((0, 2)))
            self._placed_for = ax.get_ylim()
