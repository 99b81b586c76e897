"""The quadratic figure: optimizer paths over the loss contours, and distance to the minimum."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from lab.figure_style import run_colors  # noqa: E402
from lab.quadratic import Descent, eigenvalues, loss  # noqa: E402
from lab.render import figure_png  # noqa: E402

PATH_STEPS = 40  # steps drawn as a path in panel a (all of them in panel b)


def descent_figure(runs: dict[str, Descent], kappa: float,
                   rates: dict[str, float] | None = None) -> bytes:
    """PNG: (a) the first PATH_STEPS steps of each run over the contours of f; (b) |x - x*|
    against the step on a log axis, with each run's theoretical rate as a dashed line."""
    fig = Figure(figsize=(11, 4.4), dpi=100)
    FigureCanvasAgg(fig)
    ax, bx = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    lam = eigenvalues(kappa)
    span = 1.15 * max(float(np.abs(r.points).max()) for r in runs.values())
    gx, gy = np.meshgrid(np.linspace(-span, span, 200), np.linspace(-span, span, 200))
    f = loss(lam, np.stack([gx, gy], axis=-1))
    ax.contour(gx, gy, f, levels=np.geomspace(f.max() * 1e-4, f.max(), 12), colors="#bbbbbb",
               linewidths=0.8)
    for color, (name, run) in zip(run_colors(len(runs)), runs.items(), strict=True):
        path = run.points[:PATH_STEPS + 1]
        ax.plot(path[:, 0], path[:, 1], "-o", ms=2.5, lw=1.2, color=color, label=name)
        bx.semilogy(run.distance, lw=2, color=color, label=name)
        if rates and name in rates:
            k = np.arange(len(run.distance))
            bx.semilogy(k, run.distance[0] * rates[name] ** k, "--", lw=1, color=color)
    ax.plot([0], [0], "k*", ms=10)
    ax.set_xlabel("x1 (curvature 1)")
    ax.set_ylabel(f"x2 (curvature {kappa:g})")
    ax.set_title(f"a. first {PATH_STEPS} steps on f = (x1² + {kappa:g} x2²) / 2", loc="left")
    ax.legend(fontsize=9, loc="lower right")
    bx.set_xlabel("step")
    bx.set_ylabel("distance to the minimum")
    title = "b. distance to the minimum" + (" (dashed: theory's rate)" if rates else "")
    bx.set_title(title, loc="left")
    bx.legend(fontsize=9)
    fig.tight_layout()
    return figure_png(fig)
