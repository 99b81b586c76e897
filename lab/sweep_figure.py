"""The sweep figure: layer-1 gradient share and final accuracy against a varied field."""

from __future__ import annotations

import dataclasses

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

from lab.config import Config  # noqa: E402
from lab.data import load  # noqa: E402
from lab.figure_style import decade_axis, run_colors  # noqa: E402
from lab.render import figure_png  # noqa: E402
from lab.steady import decades  # noqa: E402
from lab.sweep import SweepPoint  # noqa: E402

__all__ = ["figure_png", "sweep_figure", "title_lines"]  # figure_png: lessons render with it

RED = "#b42318"
TITLE_CHARS = 120  # per line of the title at 12 pt in 1280 px: it never runs off the edges


def title_lines(vary: dict[str, list], cfg: Config | None) -> list[str]:
    """'sweep over a, b' and every field of `cfg` that differs from Config() and is not varied,
    wrapped to lines that fit the figure."""
    lines = [f"sweep over {', '.join(vary)}"]
    if cfg is None:
        return lines
    default = Config()
    differ = [f"{f.name} {getattr(cfg, f.name)}" for f in dataclasses.fields(Config)
              if f.name not in vary and getattr(cfg, f.name) != getattr(default, f.name)]
    if not differ:
        return lines + ["every other field as default"]
    lines.append("others as default except:")
    for item in differ:  # whole items per line: "n_samples" and its "200" stay together
        joined = f"{lines[-1]} {item},"
        if len(joined) > TITLE_CHARS:
            lines.append(f"{item},")
        else:
            lines[-1] = joined
    lines[-1] = lines[-1].rstrip(",")
    return lines


def sweep_figure(points: list[SweepPoint], vary: dict[str, list]) -> Figure:
    """Two panels over the first varied field; one line per combination of the others."""
    cfg = points[0].run.config if points else None
    title = title_lines(vary, cfg)
    fig = Figure(figsize=(12.8, 5.6), dpi=100)
    FigureCanvasAgg(fig)
    top = 0.86 - 0.045 * len(title)
    ax_g, ax_a = fig.subplots(1, 2, gridspec_kw=dict(left=0.07, right=0.98, top=top,
                                                     bottom=0.12, wspace=0.25))
    field, others = next(iter(vary)), list(vary)[1:]
    xs = vary[field]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs)
    log_x = numeric and min(xs) > 0 and max(xs) / min(xs) >= 20
    position = {v: (v if numeric else i) for i, v in enumerate(xs)}
    groups: dict[tuple, list[SweepPoint]] = {}
    for p in points:
        groups.setdefault(tuple(p.values[o] for o in others), []).append(p)
    ratios = []
    named_diverged = False
    for color, (key, pts) in zip(run_colors(len(groups)), groups.items(), strict=True):
        x = np.array([position[p.values[field]] for p in pts], dtype=float)
        label = ", ".join(f"{o}={v}" for o, v in zip(others, key, strict=True)) or None
        ratios += [p.ratio_init for p in pts] + [p.ratio_end for p in pts]
        ax_g.plot(x, [p.ratio_init for p in pts], color=color, lw=1.2, ls="--", marker="o",
                  alpha=0.5)
        ax_g.plot(x, [p.ratio_end for p in pts], color=color, lw=2.2, marker="o", label=label)
        ax_a.plot(x, [p.val_acc for p in pts], color=color, lw=2.2, marker="o", label=label)
        bad = [i for i, p in enumerate(pts) if p.run.diverged_at is not None]
        if bad:  # above the axis, in words: a point at 0 would read as 0% accuracy
            ax_a.plot(x[bad], np.full(len(bad), 1.06), ls="none", marker="x", ms=10, mew=2.5,
                      color=RED, clip_on=False,
                      label=None if named_diverged else "diverged: no accuracy")
            named_diverged = True
    ax_g.axhline(1.0, color="black", lw=1, ls=":")
    ax_g.set_yscale("log")
    low_high = decades(np.array(ratios, dtype=float))
    if low_high is not None:  # whole decades: always a labelled tick, never minor labels
        ax_g.set_ylim(10.0 ** min(low_high[0], -1), 10.0 ** max(low_high[1], 1))
    decade_axis(ax_g.yaxis)
    ax_g.set_ylabel("layer-1 std dL/da / last layer's")
    ax_g.set_title("gradient reaching layer 1 (dashed: at init, solid: after training)",
                   loc="left", fontsize=11.5)
    if cfg is not None:
        chance = 1.0 / load(cfg).n_classes
        ax_a.axhline(chance, color="#555555", lw=1.2, ls=":",
                     label=f"chance (1/{round(1 / chance)})")
    ax_a.set_ylim(-0.03, 1.03)
    ax_a.set_ylabel("final validation accuracy")
    ax_a.set_title("what the network learned", loc="left", fontsize=11.5, pad=14)
    for ax in (ax_g, ax_a):
        ax.set_xlabel(field)
        if log_x:  # the swept values themselves: evenly spaced, never 3x10^0 4x10^0
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xticks(xs, [f"{v:g}" for v in xs])
        if not numeric:
            ax.set_xticks(range(len(xs)), [str(v) for v in xs])
        elif all(float(v).is_integer() for v in xs) and not log_x:
            ax.set_xticks(sorted(set(xs)))
        handles, _ = ax.get_legend_handles_labels()
        if handles:
            ax.legend(fontsize=9, loc="best")
    fig.suptitle("\n".join(title), fontsize=12, y=0.985, va="top")
    return fig
