"""Panel a: each shown layer's activation histogram as a ridgeline, readable for any activation."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.patches import Polygon

from lab.figure_style import GHOST, TITLE
from lab.frame_view import FrameView
from lab.render import Panel
from lab.steady import SteadyLimits

TAIL = 0.005  # mass left out at each end of the x axis (outliers), then counted in a note
STEPS = 16  # the x limits move in sixteenths of the histogram's range (steady axes)


class ActivationPanel:
    """Ridgelines of the last snapshot's activation histograms, one per shown layer.

    A ReLU's exact zeros fill the first bin; drawn as a ridge they would flatten every other
    bin, so that bin's share is a number in the layer's label. The x axis covers the middle
    99% of the median layer's values at step 0; what lies beyond is counted in a note.
    """

    def __init__(self, ax, shown: np.ndarray, colors: np.ndarray):
        self.ax, self.shown = ax, shown
        self.title = ax.set_title("a. activations per layer", **TITLE)
        self.fill, self.line, self.ghost, self.label = [], [], [], []
        for j, layer in enumerate(shown):
            fill = Polygon(np.zeros((3, 2)), closed=True, facecolor=colors[layer], alpha=0.55,
                           edgecolor="none")
            ax.add_patch(fill)
            self.fill.append(fill)
            self.line.append(ax.plot([], [], color=colors[layer], lw=1.4)[0])
            self.ghost.append(ax.plot([], [], color=GHOST, lw=1.0, ls="-.", visible=False)[0])
            self.label.append(ax.text(1.0, j + 0.12, "", transform=ax.get_yaxis_transform(),
                                      ha="right", va="bottom", fontsize=8.5, color="#333333"))
        self.beyond = ax.text(1.0, 1.01, "", transform=ax.transAxes, ha="right", va="bottom",
                              fontsize=8.5, color="#555555")
        ax.set_yticks(np.arange(len(shown)), [f"L{layer + 1}" for layer in shown])
        ax.set_ylim(-0.1, len(shown) + 0.1)
        ax.set_xlabel("activation value")

    def part(self) -> Panel:
        """The panel for the Blitter."""
        return Panel([self.ax], [self.title, *self.fill, *self.line, *self.ghost, *self.label,
                                 self.beyond])

    def key(self) -> tuple:
        """What the static artists show."""
        return (self.ax.get_xlim(), self.ax.get_ylim(), self.ax.get_xlabel())

    def sprites(self) -> dict:
        """Labels that repeat (a finished run redrawn, frames shown again): pixels are kept."""
        return {label: label.get_text() for label in self.label}

    def update(self, view: FrameView, steady: SteadyLimits) -> None:
        """Show the run's last activation histograms (and the pinned run's, grey)."""
        run, pinned, ax = view.run, view.pinned, self.ax
        h = run.hist
        if len(h.steps) == 0:  # nothing recorded: nothing of the last run stays either
            for line, fill, ghost, label in zip(self.line, self.fill, self.ghost, self.label,
                                                strict=True):
                line.set_data([], [])
                fill.set_xy(np.zeros((3, 2)))
                ghost.set_visible(False)
                label.set_text("")
            self.title.set_text("a. activations")
            self.beyond.set_text("")
            return
        edges = h.act_edges
        hist = np.nan_to_num(h.act[-1][self.shown])  # (shown, bins)
        zero_bin = run.config.activation == "relu" and edges[0] == 0.0
        body_edges, cut = _body(run.config.activation, edges)
        body = hist[:, cut]
        # The axis comes from step 0 (always a snapshot): every frame of a run, and its
        # inspection, share it; what training moves off it is counted in the note. The zero
        # bin counts: a layer all at 0 asks for a narrow axis.
        start = 0 if zero_bin else cut.start
        init = np.nan_to_num(h.act[0][self.shown])
        low, high = _middle(init[:, start:cut.stop], edges[start:cut.stop + 1])
        low = max(low, body_edges[0]) if zero_bin else low
        span = (edges[-1] - edges[0]) / STEPS
        need = (math.floor(low / span - 1e-9) * span, math.ceil(high / span + 1e-9) * span)
        if need[1] <= need[0]:
            need = (need[0], need[0] + span)
        left, right = steady.limits("a", ax.get_xlim(), need, step=span)
        ax.set_xlim(left, right)
        centers = 0.5 * (body_edges[1:] + body_edges[:-1])
        inside = (centers >= left) & (centers <= right)
        ghost = pinned is not None and len(pinned.hist.steps) > 0
        self.title.set_text(f"a. activations, step {h.steps[-1]}")
        shown_mass = body[:, inside].sum(axis=1) + (hist[:, 0] if zero_bin else 0.0)
        beyond = float(np.max(hist.sum(axis=1) - shown_mass))
        self.beyond.set_text(f"≤{beyond:.0%} off axis" if beyond >= 0.005 else "")
        near = f"0–{edges[1]:.2g}"
        ax.set_xlabel("activation value" + (f" (labels: % in {near})" if zero_bin else ""))
        sat, dead = run.act_saturated[-1], run.act_dead[-1]
        for j, layer in enumerate(self.shown):
            curve = _ridge(body[j], inside, j)
            self.line[j].set_data(centers, curve)
            self.fill[j].set_xy(np.column_stack([np.r_[centers[0], centers, centers[-1]],
                                                 np.r_[j, curve, j]]))
            words = [_unit_health(sat[layer], dead[layer], run.config.activation)]
            if zero_bin:
                words.append(f"{near}: {hist[j, 0]:.0%}")
            self.label[j].set_text(" · ".join(w for w in words if w))
            if ghost:
                self._ghost(j, pinned, layer)
            self.ghost[j].set_visible(ghost)

    def _ghost(self, j: int, pinned, layer: int) -> None:
        edges, cut = _body(pinned.config.activation, pinned.hist.act_edges)
        fractions = np.nan_to_num(pinned.hist.act[-1, layer])[cut]
        centers = 0.5 * (edges[1:] + edges[:-1])
        left, right = self.ax.get_xlim()
        self.ghost[j].set_data(centers, _ridge(fractions, (centers >= left) & (centers <= right),
                                               j))


def _body(activation: str, edges: np.ndarray) -> tuple[np.ndarray, slice]:
    """Edges and bins of the ridge: without a ReLU's bin at 0 (a number in the label) and,
    for unbounded activations, without the end bins that collect outliers (counted as beyond)."""
    outliers = activation not in ("sigmoid", "tanh")  # their edges span the whole range
    first = 1 if outliers or (activation == "relu" and edges[0] == 0.0) else 0
    last = len(edges) - (2 if outliers else 1)
    return edges[first:last + 1], slice(first, last)


def _middle(hist: np.ndarray, edges: np.ndarray) -> tuple[float, float]:
    """Per layer, the values between which it holds all but TAIL of its mass each side; then
    the median layer's: a few exploded layers do not stretch the axis for all the others."""
    total = hist.sum(axis=1, keepdims=True)
    rows = hist[total[:, 0] > 0]
    if not len(rows):
        return float(edges[0]), float(edges[-1])
    cdf = np.cumsum(rows, axis=1) / rows.sum(axis=1, keepdims=True)
    first = (cdf <= TAIL).sum(axis=1)  # bins wholly in the left tail
    last = np.minimum((cdf < 1.0 - TAIL).sum(axis=1), len(edges) - 2)  # bin ending the mass
    return float(np.median(edges[first])), float(np.median(edges[last + 1]))


def _ridge(fractions: np.ndarray, inside: np.ndarray, base: int) -> np.ndarray:
    """Heights in (base, base + 0.9]: scaled to the highest bin on the axis but its two end
    bins, which hold a sigmoid's or tanh's saturated units (a share in the label): cut at the
    top, they leave the rest of the distribution readable."""
    scale = inside.copy()
    scale[[0, -1]] = False
    if not scale.any():
        scale = inside
    # at least twice a flat spread's bin: a layer with a few stray values off zero shows them
    # low, not as full-height spikes
    peak = max(fractions[scale].max() if scale.any() else 0.0, 2.0 / len(fractions))
    return base + 0.9 * (np.minimum(fractions / peak, 1.0) if peak > 0 else fractions)


def _unit_health(saturated: float, dead: float, activation: str) -> str:
    if np.isfinite(saturated):
        return f"sat {saturated:.0%}"
    if np.isfinite(dead) and activation == "relu":  # leaky units output < 0 and pass gradient
        return f"dead {dead:.0%}"
    return ""
