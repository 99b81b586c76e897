"""The sweep figure: layer-1 gradient share and final accuracy against a varied field."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from lab.plots import figure_png, layer_colors  # noqa: E402
from lab.sweep import SweepPoint  # noqa: E402

__all__ = ["figure_png", "sweep_figure"]  # figure_png: the lessons render sweeps with it


def sweep_figure(points: list[SweepPoint], vary: dict[str, list]) -> Figure:
    """Two panels over the first varied field; one line per combination of the others."""
    fig = Figure(figsize=(12.8, 5.6), dpi=100)
    FigureCanvasAgg(fig)
    ax_g, ax_a = fig.subplots(1, 2, gridspec_kw=dict(left=0.07, right=0.98, top=0.8,
                                                     bottom=0.14, wspace=0.25))
    field, others = next(iter(vary)), list(vary)[1:]
    xs = vary[field]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs)
    log_x = numeric and min(xs) > 0 and max(xs) / min(xs) >= 20
    position = {v: (v if numeric else i) for i, v in enumerate(xs)}
    groups: dict[tuple, list[SweepPoint]] = {}
    for p in points:
        groups.setdefault(tuple(p.values[o] for o in others), []).append(p)
    colors = layer_colors(max(len(groups), 2))
    for color, (key, pts) in zip(colors, groups.items(), strict=False):
        x = np.array([position[p.values[field]] for p in pts], dtype=float)
        label = ", ".join(f"{o}={v}" for o, v in zip(others, key, strict=True)) or None
        ax_g.plot(x, [p.ratio_init for p in pts], color=color, lw=1.2, ls="--", marker="o",
                  alpha=0.5)
        ax_g.plot(x, [p.ratio_end for p in pts], color=color, lw=2.2, marker="o", label=label)
        ax_a.plot(x, [p.val_acc for p in pts], color=color, lw=2.2, marker="o", label=label)
        bad = [i for i, p in enumerate(pts) if p.run.diverged_at is not None]
        if bad:
            ax_a.plot(x[bad], np.zeros(len(bad)), ls="none", marker="x", ms=11, mew=2.5,
                      color="#b42318", label="diverged" if key == next(iter(groups)) else None)
    ax_g.axhline(1.0, color="black", lw=1, ls=":")
    ax_g.set_yscale("log")
    ax_g.set_ylabel("layer-1 std dL/da / last layer's")
    ax_g.set_title("gradient reaching layer 1 (dashed: at init, solid: after training)",
                   loc="left", fontsize=11.5)
    ax_a.set_ylim(-0.03, 1.03)
    ax_a.set_ylabel("final validation accuracy")
    ax_a.set_title("what the network learned", loc="left", fontsize=11.5)
    for ax in (ax_g, ax_a):
        ax.set_xlabel(field)
        if log_x:
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(range(len(xs)), [str(v) for v in xs])
        if others:
            ax.legend(fontsize=9)
    desc = ""
    if points:
        cfg = points[0].run.config
        shown = ("depth", "width", "activation", "init", "init_gain", "optimizer", "lr",
                 "steps", "dataset")
        desc = ", ".join(f"{k} {getattr(cfg, k)}" for k in shown if k not in vary)
    fig.suptitle(f"sweep over {', '.join(vary)}\n{desc}", fontsize=12)
    return fig
