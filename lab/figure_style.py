"""Shared look of the figures: colours, layer choice, log and integer axes, legends."""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

LAYER_CMAP = colormaps["viridis"]  # perceptually uniform, colour-blind safe; input dark
HEAT_CMAP = colormaps["magma"]
# runs (sweeps, profiles) are categories, not an order: Okabe-Ito, never the layers' viridis
RUN_COLORS = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#000000",
              "#f0e442")
SEVERITY_COLORS = {"fine": "#1a7f37", "watch": "#b35c00", "problem": "#b42318"}
TITLE = dict(loc="left", fontsize=12, y=1.0)  # y given: no measuring of ticks to place it
LEGEND = dict(fontsize=8.5, framealpha=1.0)  # opaque: kept pixels blend exactly
MAX_SHOWN = 12  # layers drawn individually in the ridgeline and update-ratio panels
NICE_STEPS = (1, 2, 3, 4, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000)
GHOST = "#9a9a9a"


def layer_colors(depth: int) -> np.ndarray:
    """One RGBA colour per hidden layer, layer 1 first (same in every panel)."""
    return LAYER_CMAP(np.linspace(0.0, 0.88, depth))


def run_colors(n: int) -> list[str]:
    """One colour per run (a category), repeating after len(RUN_COLORS)."""
    return [RUN_COLORS[i % len(RUN_COLORS)] for i in range(n)]


def shown_layers(depth: int, limit: int = MAX_SHOWN) -> np.ndarray:
    """Indices (0-based) of the layers drawn individually: layer 1, then every k-th layer
    (k a round number), and the last layer."""
    step = next((k for k in NICE_STEPS if 1 + depth // k <= limit), depth)
    layers = {1, depth, *range(step, depth + 1, step)}  # 1-based
    return np.array(sorted(layers)) - 1


def positive(values: np.ndarray) -> np.ndarray:
    """Values fit for a log axis: non-positive or non-finite become NaN (a gap, not an error)."""
    out = np.array(values, dtype=float)
    out[~np.isfinite(out) | (out <= 0)] = np.nan
    return out


def power_label(value: float, _pos: int = 0) -> str:
    """'1e-3' for a decade ('1' for 1e0): short, and cheap to draw (no mathtext)."""
    exponent = np.log10(value) if value > 0 else 0.0
    if abs(exponent - round(exponent)) < 1e-6:
        return "1" if round(exponent) == 0 else f"1e{int(round(exponent))}"
    return f"{value:.2g}"


def decade_axis(axis) -> None:
    """Log axis labelled at decades only: minor labels (3x10^0 4x10^0) overlap."""
    axis.set_major_locator(LogLocator(numticks=6))
    axis.set_major_formatter(FuncFormatter(power_label))
    axis.set_minor_locator(LogLocator(subs=(1.0,), numticks=30))
    axis.set_minor_formatter(NullFormatter())


def integer_axis(axis) -> None:
    """Ticks at whole numbers only (layers, steps): no layer 2.5."""
    axis.set_major_locator(MaxNLocator(nbins="auto", integer=True, min_n_ticks=1))


def legend_for(ax, handles: list, old=None, **kw):
    """A legend of `handles` (their labels) on `ax`, replacing `old`; None when no handles."""
    if old is not None:
        old.remove()
    if not handles:
        return None
    return ax.legend(handles=handles, labels=[h.get_label() for h in handles],
                     **{**LEGEND, **kw})
