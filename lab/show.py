"""Show: figures and rounded tables for notebooks (PNG images and plain text, no widgets)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from IPython.display import Image  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from lab.diagnosis import diagnose, gradient_ratio, number  # noqa: E402
from lab.plots import DashboardFigure, figure_png, run_colors  # noqa: E402
from lab.quadratic import Descent  # noqa: E402
from lab.quadratic_figure import descent_figure  # noqa: E402
from lab.run import Run  # noqa: E402

QUANTITIES = {
    "act_grad_std": "std of dL/da (gradient reaching the layer)",
    "act_std": "std of the activations",
    "grad_rms": "rms of dL/dW",
    "act_saturated": "fraction of saturated units",
    "act_dead": "fraction of dead units",
    "update_ratio": "log10 update:data ratio",
}


def figure(run: Run, pinned: Run | None = None) -> Image:
    """The dashboard figure of `run` (with `pinned` as ghost lines) as an inline PNG."""
    fig = DashboardFigure()
    fig.update(run, pinned=pinned)
    return Image(fig.png())


def profiles(runs: dict[str, Run], quantity: str = "act_grad_std", row: int = 0,
             title: str = "") -> Image:
    """One line per run of a per-layer quantity at recorded row `row` (0 = initialization)."""
    fig = Figure(figsize=(9, 4.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    colors = run_colors(len(runs))  # runs are categories: not the layers' colour map
    for color, (label, run) in zip(colors, runs.items(), strict=False):
        values = getattr(run, quantity)[row]
        ax.plot(np.arange(1, run.depth + 1), values, marker="o", ms=3, lw=2, color=color,
                label=label)
    if quantity in ("act_grad_std", "act_std", "grad_rms"):
        ax.set_yscale("log")
    ax.set_xlabel("layer (1 = input side)")
    ax.set_ylabel(QUANTITIES.get(quantity, quantity))
    where = "at initialization" if row == 0 else "at the end of training"
    ax.set_title(title or f"{QUANTITIES.get(quantity, quantity)}, {where}", loc="left")
    ax.legend(fontsize=9)
    fig.tight_layout()
    return Image(figure_png(fig))


def descent(runs: dict[str, Descent], kappa: float,
            rates: dict[str, float] | None = None) -> Image:
    """Optimizer paths on the quadratic and their distance to the minimum, as an inline PNG."""
    return Image(descent_figure(runs, kappa, rates))


def table(runs: dict[str, Run]) -> str:
    """Rounded numbers per run (same on every CPU run): gradient ratio, loss, accuracy, verdict."""
    head = f"{'run':28s} {'layer1/last at init':>20s} {'final loss':>11s} {'val acc':>8s}  verdict"
    lines = [head]
    for label, run in runs.items():
        loss = f"{run.loss[-1]:.3g}" if len(run.loss) and np.isfinite(run.loss[-1]) else "nan"
        acc = f"{run.val_acc[run.final_eval]:.0%}" if len(run.val_acc) else "-"
        lines.append(f"{label[:28]:28s} {number(gradient_ratio(run, 0)):>20s} {loss:>11s} "
                     f"{acc:>8s}  {_verdict(run)}")
    return "\n".join(lines)


def _verdict(run: Run) -> str:
    found = diagnose(run)
    return f"{found.kind} ({found.severity})"


def moments(x) -> str:
    """'mean 4.89, std 6.02, root-mean-square 7.75' of an array or tensor, 3 significant digits.

    A mean below 1e-6 of the root-mean-square is float rounding (its digits and sign differ
    between CPUs), so it prints as 0.
    """
    x = np.asarray(x, dtype=np.float64)
    mean, std, rms = x.mean(), x.std(), np.sqrt((x ** 2).mean())
    if abs(mean) < 1e-6 * rms:
        mean = 0.0
    return f"mean {mean:.3g}, std {std:.3g}, root-mean-square {rms:.3g}"
