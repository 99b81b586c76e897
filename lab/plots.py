"""DashboardFigure: the one figure every view shares, built once and updated in place."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")  # rendering to PNG bytes only; never a GUI backend

import numpy as np  # noqa: E402
from matplotlib import colormaps  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Polygon  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from lab import theory  # noqa: E402
from lab.config import Config  # noqa: E402
from lab.data import load  # noqa: E402
from lab.diagnosis import diagnose  # noqa: E402
from lab.prediction_panel import PredictionPanel  # noqa: E402
from lab.recorder import recorded_steps  # noqa: E402
from lab.render import Blitter, Panel, encode_png, figure_png  # noqa: E402
from lab.run import Run  # noqa: E402
from lab.steady import LegendPlacer, SteadyLimits  # noqa: E402

__all__ = ["DashboardFigure", "figure_png", "layer_colors", "shown_layers"]

LAYER_CMAP = colormaps["viridis"]  # perceptually uniform, colour-blind safe; input dark
HEAT_CMAP = colormaps["magma"]
SEVERITY_COLORS = {"fine": "#1a7f37", "watch": "#b35c00", "problem": "#b42318"}
TITLE = dict(loc="left", fontsize=12, y=1.0)  # y given: no measuring of ticks to place it
MAX_SHOWN = 10  # layers drawn individually in the ridgeline and update-ratio panels
GHOST = "#9a9a9a"


def layer_colors(depth: int) -> np.ndarray:
    """One RGBA colour per hidden layer, layer 1 first (same in every panel)."""
    return LAYER_CMAP(np.linspace(0.0, 0.88, depth))


def shown_layers(depth: int, limit: int = MAX_SHOWN) -> np.ndarray:
    """Indices (0-based) of the layers drawn individually: evenly spaced, first and last kept."""
    return np.unique(np.round(np.linspace(0, depth - 1, min(depth, limit))).astype(int))


class DashboardFigure:
    """Six panels over one Run: activations, gradients by layer, gradient heatmap, losses,
    update:data ratios, and predictions. `update(run, pinned)` then `png()`.

    Axis limits move in whole steps (decades on log axes), so that consecutive frames share
    their axes, ticks and labels: `png()` draws those once (lab.render.Blitter) and per frame
    only the artists that carry the Run's numbers. `blit=False` draws everything every time.
    """

    def __init__(self, width_px: int = 1280, height_px: int = 800, dpi: int = 100,
                 blit: bool = True):
        self.fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
        self.canvas = FigureCanvasAgg(self.fig)
        self.fig.set_layout_engine(None)
        self.blit = blit
        self.blitter = Blitter(self.fig)
        self.panels: list[Panel] = []
        self.steady = SteadyLimits()
        self._last: tuple[Config, bool] | None = None  # config and finished of the last update
        self._structure: tuple | None = None
        self._theory_cfg: Config | None = None
        self._theory = None
        self._pinned_note = ""

    # ------------------------------------------------------------------ building (per structure)
    def _build(self, depth: int, kind: str) -> None:
        """Create every artist for `depth` layers and a dataset of `kind` ("2d" or "image")."""
        fig = self.fig
        fig.clear()
        with matplotlib.rc_context({"font.size": 11}):
            grid = fig.add_gridspec(2, 3, left=0.065, right=0.955, top=0.85, bottom=0.075,
                                    wspace=0.36, hspace=0.42)
            self.ax = {name: fig.add_subplot(grid[i // 3, i % 3])
                       for i, name in enumerate("abcdef")}
        self.colors = layer_colors(depth)
        self.shown = shown_layers(depth)
        self.title = fig.text(0.5, 0.982, "", ha="center", va="top", fontsize=14,
                              fontweight="bold")
        self.subtitle = fig.text(0.5, 0.945, "", ha="center", va="top", fontsize=11.5,
                                 color="#333333")
        self._build_ridgeline(depth)
        self._build_gradients(depth)
        self._build_heatmap(depth)
        self._build_losses()
        self._build_updates()
        self.pred = PredictionPanel(self.ax["f"], kind)
        for ax in self.ax.values():
            ax.tick_params(labelsize=10)
        for ax in (self.ax["b"], self.ax["d"]):  # plain "1e-4" labels: mathtext is slow to draw
            ax.yaxis.set_major_locator(LogLocator(numticks=6))
            ax.yaxis.set_major_formatter(FuncFormatter(_power_label))
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.yaxis.set_minor_locator(LogLocator(subs=(1.0,), numticks=30))  # decades only
        self.blitter = Blitter(self.fig)  # new artists: nothing cached applies
        self.panels = self._panels()
        self.steady.clear()

    def _panels(self) -> list[Panel]:
        """Each panel: its Axes, then the artists that carry the Run's numbers (the rest is
        drawn once per axis limits)."""
        ax = self.ax
        return [
            Panel([ax["a"]], [self.ridge_title, *self.ridge_fill, *self.ridge_line,
                              *self.ridge_ghost, *self.ridge_label]),
            Panel([ax["b"]], [self.g_init, self.g_now, self.g_dots, self.w_init, self.w_now,
                              self.g_theory, self.g_ghost, self.g_legend]),
            Panel([ax["c"], self.cbar_ax], [self.heat]),
            Panel([ax["d"], self.acc_ax], [self.loss_line, self.val_line, self.loss_ghost,
                                           self.clip_marks, self.event_line, self.event_text,
                                           self.acc_line]),
            Panel([ax["e"]], [*self.upd_lines, self.upd_note]),
            Panel([ax["f"]], self.pred.dynamic()),
            Panel([self.title, self.subtitle, self.verdict], [self.subtitle, self.verdict])]

    def _build_ridgeline(self, depth: int) -> None:
        ax = self.ax["a"]
        self.ridge_title = ax.set_title("a. activations per layer", **TITLE)
        self.ridge_fill, self.ridge_line, self.ridge_ghost, self.ridge_label = [], [], [], []
        for j, layer in enumerate(self.shown):
            fill = Polygon(np.zeros((3, 2)), closed=True, facecolor=self.colors[layer],
                           alpha=0.55, edgecolor="none")
            ax.add_patch(fill)
            (line,) = ax.plot([], [], color=self.colors[layer], lw=1.4)
            (ghost,) = ax.plot([], [], color=GHOST, lw=1.0, ls="--", visible=False)
            label = ax.text(1.0, j + 0.15, "", transform=ax.get_yaxis_transform(), ha="right",
                            va="bottom", fontsize=9.5, color="#333333")
            self.ridge_fill.append(fill)
            self.ridge_line.append(line)
            self.ridge_ghost.append(ghost)
            self.ridge_label.append(label)
        ax.set_yticks(np.arange(len(self.shown)), [f"L{layer + 1}" for layer in self.shown])
        ax.set_ylim(-0.1, len(self.shown) + 0.1)
        ax.set_xlabel("activation value")

    def _build_gradients(self, depth: int) -> None:
        ax = self.ax["b"]
        ax.set_title("b. gradient size by layer", **TITLE)
        x = np.arange(1, depth + 1)
        ax.set_yscale("log")
        (self.g_init,) = ax.plot(x, np.ones(depth), color="#4c72b0", lw=1.5, alpha=0.35,
                                 label="std dL/da, init")
        (self.g_now,) = ax.plot(x, np.ones(depth), color="#4c72b0", lw=2.4,
                                label="std dL/da, now")
        self.g_dots = ax.scatter(x, np.ones(depth), c=self.colors, s=28, zorder=3)
        (self.w_init,) = ax.plot(x, np.ones(depth), color="#c44e52", lw=1.3, alpha=0.35,
                                 ls="--")
        (self.w_now,) = ax.plot(x, np.ones(depth), color="#c44e52", lw=2.0, ls="--",
                                label="rms dL/dW, now")
        (self.g_theory,) = ax.plot(x, np.ones(depth), color="black", lw=1.4, ls=":",
                                   label="theory, init")
        (self.g_ghost,) = ax.plot(x, np.ones(depth), color=GHOST, lw=1.8, ls="-.",
                                  visible=False)
        ax.set_xlim(0.5, depth + 0.5)
        ax.set_xlabel("layer (1 = input side)")
        self.g_legend = ax.legend(loc="upper right", fontsize=8.5, framealpha=0.8)
        self.legend_place = LegendPlacer(self.g_legend)  # where loc="best" would, per frame
        # the verdict sits in the header, where no panel's data or legend can cover it
        self.verdict = self.fig.text(0.5, 0.905, "", ha="center", va="top", fontsize=12,
                                     fontweight="bold")

    def _build_heatmap(self, depth: int) -> None:
        ax = self.ax["c"]
        ax.set_title("c. log10 std dL/da over training", **TITLE)
        self.heat = ax.imshow(np.zeros((depth, 2)), aspect="auto", origin="lower",
                              cmap=HEAT_CMAP, extent=(0, 1, 0.5, depth + 0.5),
                              interpolation="nearest")
        self.cbar_ax = self.fig.colorbar(self.heat, ax=ax, pad=0.02, fraction=0.05).ax
        ax.set_xlabel("step")
        ax.set_ylabel("layer")

    def _build_losses(self) -> None:
        ax = self.ax["d"]
        ax.set_title("d. loss and accuracy", **TITLE)
        ax.set_yscale("log")
        (self.loss_line,) = ax.plot([], [], color="#4c72b0", lw=1.0, alpha=0.8, label="train loss")
        (self.val_line,) = ax.plot([], [], color="#dd8452", lw=2.0, marker="o", ms=3,
                                   label="val loss")
        (self.loss_ghost,) = ax.plot([], [], color=GHOST, lw=1.2, ls="-.", visible=False)
        self.acc_ax = ax.twinx()
        (self.acc_line,) = self.acc_ax.plot([], [], color="#55a868", lw=2.0, label="val acc")
        self.acc_ax.set_ylim(0, 1.02)
        self.acc_ax.set_ylabel("accuracy", color="#55a868")
        (self.clip_marks,) = ax.plot([], [], ls="none", marker="|", ms=8, color="#8172b2",
                                     transform=ax.get_xaxis_transform(), label="clipped")
        self.event_line = ax.axvline(0, color="#b42318", lw=1.5, visible=False)
        self.event_text = ax.text(0.98, 0.97, "", transform=ax.transAxes, ha="right", va="top",
                                  color="#b42318", fontsize=10.5, fontweight="bold")
        ax.set_xlabel("step")
        handles = [self.loss_line, self.val_line, self.acc_line, self.clip_marks]
        ax.legend(handles=handles, loc="lower left", fontsize=8.5, framealpha=0.8)

    def _build_updates(self) -> None:
        ax = self.ax["e"]
        ax.set_title("e. update:data ratio (log10)", **TITLE)
        self.upd_lines = [ax.plot([], [], color=self.colors[layer], lw=1.6, marker="o", ms=2)[0]
                          for layer in self.shown]
        ax.axhline(-3, color="black", lw=1.2, ls="--")
        ax.text(0.01, -3, " 1e-3: healthy", transform=ax.get_yaxis_transform(), va="bottom",
                fontsize=9.5)
        self.upd_note = ax.text(0.5, 0.5, "", transform=ax.transAxes, ha="center",
                                va="center", fontsize=11, color="#555555")
        ax.set_xlabel("step")

    # ------------------------------------------------------------------ updating (per frame)
    def update(self, run: Run, pinned: Run | None = None) -> None:
        """Redraw every panel from `run` (`pinned` as ghost lines), changing artists in place."""
        cfg = run.config
        data = load(cfg)
        kind = "image" if data.image_shape is not None else "2d" if data.n_features == 2 else "none"
        if self._structure != (run.depth, kind):
            self._build(run.depth, kind)
            self._structure = (run.depth, kind)
        if self._last is None or self._last[1] or self._last[0] != cfg:
            # a new run: axis limits keep no memory of the last one, so what is shown depends
            # on this run alone (within a run they move only in whole decades)
            self.steady.clear()
        self._last = (cfg, run.finished)
        if pinned is not None and pinned.depth != run.depth:
            pinned = None  # ghosts compare like with like: the same layers
        self._pinned_note = "  ·  grey dash-dot: pinned run" if pinned is not None else ""
        self._update_titles(run)
        self._update_ridgeline(run, pinned)
        self._update_gradients(run, pinned)
        self._update_heatmap(run)
        self._update_losses(run, pinned)
        self._update_updates(run)
        self.pred.update(run, data)

    def _update_titles(self, run: Run) -> None:
        cfg = run.config
        parts = [f"{cfg.depth} x {cfg.width} {cfg.arch}", cfg.activation,
                 f"{cfg.init} x{cfg.init_gain:g}", f"BN {cfg.batchnorm}"]
        if cfg.dropout:
            parts.append(f"dropout {cfg.dropout:g}")
        if cfg.residual:
            parts.append("residual")
        parts += [f"{cfg.optimizer} lr {cfg.lr:g}", f"clip {cfg.clip}", cfg.dataset]
        self.title.set_text("  ·  ".join(parts))
        text = f"{run.status()}  ·  {run.device}  ·  {run.seconds:.1f} s"
        self.subtitle.set_text(text + (self._pinned_note if self._pinned_note else ""))

    def _update_ridgeline(self, run: Run, pinned: Run | None) -> None:
        h = run.hist
        ax = self.ax["a"]
        if len(h.steps) == 0:
            return
        edges = h.act_edges
        centers = 0.5 * (edges[1:] + edges[:-1])
        ax.set_xlim(edges[0], edges[-1])
        self.ridge_title.set_text(f"a. activations per layer, step {h.steps[-1]}")
        last = run.act_saturated[-1], run.act_dead[-1]
        for j, layer in enumerate(self.shown):
            curve = _ridge(h.act[-1, layer], j)
            self.ridge_line[j].set_data(centers, curve)
            self.ridge_fill[j].set_xy(np.column_stack([
                np.r_[centers[0], centers, centers[-1]], np.r_[j, curve, j]]))
            self.ridge_label[j].set_text(_unit_health(last[0][layer], last[1][layer]))
            show_ghost = pinned is not None and len(pinned.hist.steps) > 0
            if show_ghost:
                p_edges = pinned.hist.act_edges
                p_centers = 0.5 * (p_edges[1:] + p_edges[:-1])
                self.ridge_ghost[j].set_data(p_centers, _ridge(pinned.hist.act[-1, layer], j))
            self.ridge_ghost[j].set_visible(show_ghost)

    def _update_gradients(self, run: Run, pinned: Run | None) -> None:
        ax = self.ax["b"]
        g0, g = _positive(run.act_grad_std[0]), _positive(run.act_grad_std[-1])
        w0, w = _positive(run.grad_rms[0]), _positive(run.grad_rms[-1])
        self.g_init.set_ydata(g0)
        self.g_now.set_ydata(g)
        self.g_dots.set_offsets(np.column_stack([np.arange(1, run.depth + 1), g]))
        self.w_init.set_ydata(w0)
        self.w_now.set_ydata(w)
        series = [g0, g, w0, w]
        pred = self._prediction(run.config)
        if pred is not None and np.isfinite(g0[-1]):
            line = _positive(pred.act_grad_std_rel * g0[-1])  # anchored at the last layer
            self.g_theory.set_ydata(line)
            series.append(line)
        self.g_theory.set_visible(pred is not None)
        for item in (self.g_legend.get_texts()[3], self.g_legend.legend_handles[3]):
            item.set_visible(pred is not None)  # no legend entry for a line not drawn
        if pinned is not None:
            ghost = _positive(pinned.act_grad_std[-1])
            self.g_ghost.set_ydata(ghost)
            series.append(ghost)
        self.g_ghost.set_visible(pinned is not None)
        self.steady.log_ylim(ax, "b", np.concatenate([np.ravel(s) for s in series]))
        dots = self.g_dots.get_offset_transform().transform(self.g_dots.get_offsets())
        self.legend_place.place([self.g_init, self.g_now, self.w_init, self.w_now,
                                 self.g_theory, self.g_ghost], dots)
        verdict = diagnose(run)
        self.verdict.set_text(verdict.text)
        self.verdict.set_color(SEVERITY_COLORS[verdict.severity])

    def _prediction(self, cfg: Config):
        if cfg != self._theory_cfg:  # one quadrature per config, not per frame
            self._theory_cfg, self._theory = cfg, theory.predict(cfg)
        return self._theory

    def _update_heatmap(self, run: Run) -> None:
        values = np.log10(_positive(run.act_grad_std)).T  # (depth, rows)
        steps, last = run.recorded_steps, max(run.config.steps - 1, 1)
        planned = recorded_steps(run.config.steps)
        stride = float(planned[1] - planned[0]) if len(planned) > 1 else 1.0
        # column j spans the steps from recorded step j on: the map grows as training goes
        right = min(float(steps[-1]) + stride, last) if len(steps) else 1.0
        self.heat.set_data(np.ma.masked_invalid(values))
        self.heat.set_extent((0, right, 0.5, run.depth + 0.5))
        self.ax["c"].set_xlim(0, last)
        finite = values[np.isfinite(values)]
        if finite.size:  # whole decades: the colour bar's ticks stay put from frame to frame
            low, high = math.floor(finite.min()), math.ceil(finite.max())
            need = (low, high if high > low else low + 1)
            self.heat.set_clim(*self.steady.limits("clim", self.heat.get_clim(), need))
        else:  # nothing finite to colour: a fixed range, not the last run's
            self.heat.set_clim(0.0, 1.0)

    def _update_losses(self, run: Run, pinned: Run | None) -> None:
        ax, cfg = self.ax["d"], run.config
        steps = np.arange(len(run.loss))
        self.loss_line.set_data(steps, _positive(run.loss))
        self.val_line.set_data(run.val_steps, _positive(run.val_loss))
        self.acc_line.set_data(run.val_steps, run.val_acc)
        series = [run.loss, run.val_loss]
        if pinned is not None:
            self.loss_ghost.set_data(np.arange(len(pinned.loss)), _positive(pinned.loss))
            series.append(pinned.loss)
        self.loss_ghost.set_visible(pinned is not None)
        clipped = np.flatnonzero(run.clipped)
        self.clip_marks.set_data(clipped, np.full(len(clipped), 0.03))
        ax.set_xlim(0, max(cfg.steps - 1, 1))
        self.acc_ax.set_xlim(0, max(cfg.steps - 1, 1))
        self.steady.log_ylim(ax, "d", _positive(np.concatenate(series)))
        event = run.diverged_at if run.diverged_at is not None else run.stopped_early_at
        self.event_line.set_visible(event is not None)
        if event is not None:
            self.event_line.set_xdata([event, event])
        self.event_text.set_text(run.status() if event is not None else "")
        self.event_text.set_color("#b42318" if run.diverged_at is not None else "#8172b2")

    def _update_updates(self, run: Run) -> None:
        ax = self.ax["e"]
        steps = run.recorded_steps
        values = run.update_ratio
        for j, layer in enumerate(self.shown):
            self.upd_lines[j].set_data(steps, values[:, layer])
        finite = values[np.isfinite(values)]
        self.upd_note.set_text("" if finite.size else "no update applied yet")
        ax.set_xlim(0, max(run.config.steps - 1, 1))
        low = min(float(finite.min()) if finite.size else -4, -4)
        high = max(float(finite.max()) if finite.size else -2, -2)
        need = (math.floor((low - 0.2) * 2) / 2, math.ceil((high + 0.2) * 2) / 2)  # half steps
        ax.set_ylim(*self.steady.limits("e", ax.get_ylim(), need, step=0.5))

    def png(self) -> bytes:
        """Render the figure to PNG bytes."""
        if not self.blit or not self.panels:
            return figure_png(self.fig)
        for panel, key in zip(self.panels, self._keys(), strict=True):
            panel.key = key
        a, b, *_, header = self.panels  # sprites: artists that often look as they did before
        a.sprites = {label: label.get_text() for label in self.ridge_label}
        b.sprites = {self.g_legend: (self.legend_place.code, self.g_theory.get_visible())}
        header.sprites = {self.verdict: (self.verdict.get_text(), self.verdict.get_color())}
        return encode_png(self.blitter.render(self.panels))

    def _keys(self) -> list:
        """Per panel, everything its static artists show that update() may change."""
        ax = self.ax

        def limits(*axes):
            return tuple((a.get_xlim(), a.get_ylim()) for a in axes)

        return [limits(ax["a"]), limits(ax["b"]),
                (limits(ax["c"], self.cbar_ax), self.heat.get_clim()),
                limits(ax["d"], self.acc_ax), limits(ax["e"]),
                (limits(ax["f"]), self.pred.data_key), self.title.get_text()]

    def save(self, path: str) -> None:
        """Write the figure as a PNG file."""
        with open(path, "wb") as f:
            f.write(self.png())


def _ridge(fractions: np.ndarray, base: int) -> np.ndarray:
    peak = fractions.max()
    return base + 0.9 * (fractions / peak if peak > 0 else fractions)


def _unit_health(saturated: float, dead: float) -> str:
    if np.isfinite(saturated):
        return f"sat {saturated:.0%}"
    if np.isfinite(dead):
        return f"dead {dead:.0%}"
    return ""


def _positive(values: np.ndarray) -> np.ndarray:
    """Values fit for a log axis: non-positive or non-finite become NaN (a gap, not an error)."""
    out = np.array(values, dtype=float)
    out[~np.isfinite(out) | (out <= 0)] = np.nan
    return out


def _power_label(value: float, _pos: int) -> str:
    exponent = np.log10(value) if value > 0 else 0.0
    if abs(exponent - round(exponent)) < 1e-6:
        return "1" if round(exponent) == 0 else f"1e{int(round(exponent))}"
    return f"{value:.2g}"
