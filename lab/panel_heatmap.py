"""Panel c: log10 std dL/da per layer over training, as a heatmap."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.ticker import MaxNLocator

from lab.figure_style import HEAT_CMAP, TITLE, integer_axis, positive
from lab.frame_view import FrameView
from lab.render import Panel
from lab.render_parts import axis_sprite
from lab.schedule import recorded_steps
from lab.steady import SteadyLimits

MIN_DECADES = 2  # a flat profile reads as flat, not as black to yellow


class HeatmapPanel:
    """One row per layer, one column per recorded step; colour = log10 std dL/da."""

    def __init__(self, fig, ax, depth: int):
        self.ax = ax
        ax.set_title("c. gradient dL/da over training", **TITLE)
        self.heat = ax.imshow(np.zeros((depth, 2)), aspect="auto", origin="lower",
                              cmap=HEAT_CMAP, extent=(0, 1, 0.5, depth + 0.5),
                              interpolation="nearest")
        self.cbar = fig.colorbar(self.heat, ax=ax, pad=0.02, fraction=0.05)
        self.cbar.set_label("log10 std dL/da (white: 0 or not finite)", fontsize=8.5)
        self.cbar.locator = MaxNLocator(integer=True)  # whole decades
        integer_axis(ax.xaxis)
        integer_axis(ax.yaxis)
        ax.set_xlabel("step")
        ax.set_ylabel("layer")
        self.colour_bar = ColourBar(self.cbar, self.heat)  # a Blitter panel of its own

    def part(self) -> Panel:
        """The panel for the Blitter (the colour bar is another: its range moves alone)."""
        return Panel([self.ax], [self.heat])

    def key(self) -> tuple:
        """What the static artists show."""
        return (self.ax.get_xlim(), self.ax.get_ylim())

    def update(self, view: FrameView, steady: SteadyLimits) -> None:
        """Show every recorded row of the run's std dL/da."""
        run = view.run
        values = np.log10(positive(run.act_grad_std)).T  # (depth, rows)
        steps, last = run.recorded_steps, max(run.config.steps - 1, 1)
        planned = recorded_steps(run.config.steps)
        stride = float(planned[1] - planned[0]) if len(planned) > 1 else 1.0
        # column j spans the steps from recorded step j on: the map grows as training goes
        right = min(float(steps[-1]) + stride, last) if len(steps) else 1.0
        self.heat.set_data(np.ma.masked_invalid(values))
        self.heat.set_extent((0, right, 0.5, run.depth + 0.5))
        self.ax.set_xlim(0, last)
        finite = values[np.isfinite(values)]
        if finite.size:  # whole decades: the colour bar's ticks stay put from frame to frame
            self.heat.set_clim(*steady.limits("clim", self.heat.get_clim(), _decades(finite)))
        else:  # nothing finite to colour: a fixed range, not the last run's
            self.heat.set_clim(-MIN_DECADES / 2, MIN_DECADES / 2)


class ColourBar:
    """Panel c's colour bar for the Blitter: a range of decades moves it, not the heatmap."""

    def __init__(self, cbar, heat):
        self.cbar, self.heat = cbar, heat

    def part(self) -> Panel:
        """The colour bar's Axes; its axis is a sprite."""
        return Panel([self.cbar.ax], [self.cbar.ax.yaxis])

    def key(self) -> tuple:
        """The range: the bar's mesh is made anew for each (its edges round differently)."""
        return self.heat.get_clim()

    def sprites(self) -> dict:
        """The bar's axis moves between a few ranges of decades: kept per range."""
        return axis_sprite(self.cbar.ax.yaxis)


def _decades(finite: np.ndarray) -> tuple[int, int]:
    """Whole decades holding the values, at least MIN_DECADES wide, centred on them."""
    low, high = math.floor(finite.min()), math.ceil(finite.max())
    if high - low < MIN_DECADES:
        middle = 0.5 * (finite.min() + finite.max())
        low = min(low, math.floor(middle - MIN_DECADES / 2 + 0.5))
        high = max(high, low + MIN_DECADES)
    return low, high
