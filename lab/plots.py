"""DashboardFigure: the one figure every view shares, one small object per panel, each built
once and updated in place from a FrameView (lab/frame_view.py) computed once per frame."""

from __future__ import annotations

import logging
import textwrap
import time
import unicodedata

import matplotlib

matplotlib.use("Agg")  # rendering to PNG bytes only; never a GUI backend

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from lab import i18n  # noqa: E402
from lab.config import Config  # noqa: E402
from lab.figure_style import (  # noqa: E402
    SEVERITY_COLORS,
    cjk_font,
    layer_colors,
    localize,
    run_colors,
    shown_layers,
)
from lab.frame_view import FrameView, Views  # noqa: E402
from lab.panel_activations import ActivationPanel  # noqa: E402
from lab.panel_gradients import GradientPanel  # noqa: E402
from lab.panel_heatmap import HeatmapPanel  # noqa: E402
from lab.panel_losses import LossPanel  # noqa: E402
from lab.panel_updates import UpdatePanel  # noqa: E402
from lab.prediction_panel import PredictionPanel  # noqa: E402
from lab.render import Blitter, Panel, canvas_rgba, encode_png, figure_png  # noqa: E402
from lab.run import Run  # noqa: E402
from lab.steady import SteadyLimits  # noqa: E402

__all__ = ["DashboardFigure", "figure_png", "layer_colors", "run_colors", "shown_layers"]

CPU_PHASES = ("update", "render", "encode")  # artists set in place, pixels drawn, image encoded
VERDICT_WIDTH = 110  # characters per line of the verdict at 12 pt bold in 1280 px (a Chinese
# character counts twice)
log = logging.getLogger("lab.plots")
NO_CJK_FONT = ("Gradient Lab: no font with Chinese glyphs found (install fonts-noto-cjk or "
               "fonts-wqy-microhei, or set LAB_CJK_FONT to a font file): the figure's text "
               "stays in English.")


class Header:
    """The figure's top lines: the config, the run's status, the verdict (coloured by severity)."""

    def __init__(self, fig):
        self.title = fig.text(0.5, 0.985, "", ha="center", va="top", fontsize=14,
                              fontweight="bold")
        self.subtitle = fig.text(0.5, 0.952, "", ha="center", va="top", fontsize=11.5,
                                 color="#333333")
        # the verdict sits here, where no panel's data or legend can cover it
        self.verdict = fig.text(0.5, 0.921, "", ha="center", va="top", fontsize=12,
                                fontweight="bold", linespacing=1.15)

    def part(self) -> Panel:
        """The header for the Blitter."""
        return Panel([self.title, self.subtitle, self.verdict], [self.subtitle, self.verdict])

    def key(self) -> str:
        """What the static artists show."""
        return self.title.get_text()

    def sprites(self) -> dict:
        """The verdict often repeats from frame to frame."""
        return {self.verdict: (self.verdict.get_text(), self.verdict.get_color())}

    def update(self, view: FrameView, lang: str = "en") -> None:
        """Show the view's config, status and verdict (in `lang`: lab/i18n.py)."""
        run, cfg = view.run, view.run.config
        zh = lang == "zh"
        parts = [f"{cfg.depth} x {cfg.width} {cfg.arch}", cfg.activation,
                 f"{cfg.init} x{cfg.init_gain:g}",
                 f"BN：{i18n.option_label('batchnorm', cfg.batchnorm, lang)}" if zh
                 else f"BN {cfg.batchnorm}"]
        if cfg.dropout:
            parts.append(f"dropout {cfg.dropout:g}")
        if cfg.residual:
            parts.append("残差" if zh else "residual")
        parts += [f"{cfg.optimizer} {'学习率' if zh else 'lr'} {cfg.lr:g}",
                  i18n.option_label("clip", cfg.clip, lang) if zh else f"clip {cfg.clip}",
                  i18n.option_label("dataset", cfg.dataset, lang)]
        self.title.set_text("  ·  ".join(parts))
        pinned = "  ·  grey dash-dot: pinned run" if view.pinned is not None else ""
        seconds = f"{run.seconds:.1f} {'秒' if zh else 's'}"
        self.subtitle.set_text(f"{i18n.run_status(run, lang)}  ·  {run.device}  ·  {seconds}"
                               + pinned)
        verdict = view.diagnosis.say(lang)
        lines = _wrap_wide(verdict, VERDICT_WIDTH) if zh else textwrap.wrap(verdict,
                                                                            VERDICT_WIDTH)
        self.verdict.set_text("\n".join(lines[:2]))
        self.verdict.set_color(SEVERITY_COLORS[view.diagnosis.severity])


def _wrap_wide(text: str, width: int) -> list[str]:
    """Lines of at most `width` columns, a Chinese character taking two (Chinese needs no
    spaces to break at)."""
    lines, line, used = [], "", 0
    for ch in text:
        w = 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        if used + w > width:
            lines.append(line)
            line, used = "", 0
        line, used = line + ch, used + w
    return [*lines, line] if line else lines


class DashboardFigure:
    """Six panels over one Run: activations, gradients by layer, gradient heatmap, losses,
    update:data ratios, and predictions. `update(run, pinned)` then `png()`.

    Axis limits move in whole steps (decades on log axes), so that consecutive frames share
    their axes, ticks and labels: `png()` draws those once (lab.render.Blitter) and per frame
    only the artists that carry the Run's numbers. `blit=False` draws everything every time.
    """

    def __init__(self, width_px: int = 1280, height_px: int = 800, dpi: int = 100,
                 blit: bool = True, lang: str = "en"):
        self.fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
        self.canvas = FigureCanvasAgg(self.fig)
        self.fig.set_layout_engine(None)
        self.blit = blit
        self.blitter = Blitter(self.fig)
        self.steady = SteadyLimits()
        self.views = Views()
        self.view: FrameView | None = None  # the last frame's
        self.panels: list[Panel] = []
        self.parts: list = []  # the panel objects, in the order of `panels`
        self._last: tuple[Config, bool] | None = None  # config and finished of the last update
        self._structure: tuple | None = None
        self.cpu = dict.fromkeys(CPU_PHASES, 0.0)  # this thread's CPU seconds per phase, summed
        self.lang = "en"  # the figure's text: "zh" only where a font has Chinese glyphs
        self.set_lang(lang)

    def set_lang(self, lang: str) -> None:
        """Draw the figure's text in `lang` from the next update on (English, with a printed
        note, when no font with Chinese glyphs is found: lab/figure_style.py cjk_font)."""
        lang = i18n.check_lang(lang)
        if lang == "zh" and cjk_font() is None:
            if not getattr(DashboardFigure, "_noted", False):
                DashboardFigure._noted = True
                print(NO_CJK_FONT)
                log.warning(NO_CJK_FONT)
            lang = "en"
        if lang != self.lang:
            self.lang = lang
            self._structure = None  # rebuilt: every static text and cached pixel anew

    def _build(self, depth: int, kind: str) -> None:
        """Create every panel for `depth` layers and a dataset of `kind` ("2d" or "image")."""
        fig = self.fig
        fig.clear()
        with matplotlib.rc_context({"font.size": 11}):
            grid = fig.add_gridspec(2, 3, left=0.07, right=0.955, top=0.835, bottom=0.075,
                                    wspace=0.38, hspace=0.45)
            ax = {name: fig.add_subplot(grid[i // 3, i % 3]) for i, name in enumerate("abcdef")}
        self.ax = ax
        colors, shown = layer_colors(depth), shown_layers(depth)
        self.colors, self.shown = colors, shown
        self.header = Header(fig)
        self.activations = ActivationPanel(ax["a"], shown, colors)
        self.gradients = GradientPanel(ax["b"], depth, colors)
        self.heatmap = HeatmapPanel(fig, ax["c"], depth)
        self.losses = LossPanel(ax["d"])
        self.updates = UpdatePanel(ax["e"], shown, colors)
        self.pred = PredictionPanel(ax["f"], kind)
        for a in ax.values():
            a.tick_params(labelsize=10)
        self.parts = [self.activations, self.gradients, self.heatmap, self.losses,
                      self.updates, self.pred, self.header, self.heatmap.colour_bar]
        self.blitter = Blitter(self.fig)  # new artists: nothing cached applies
        self.steady.clear()

    def update(self, run: Run, pinned: Run | None = None, view: FrameView | None = None) -> None:
        """Redraw every panel from `run` (`pinned` as ghost lines), changing artists in place.

        `view`: the frame's FrameView if the caller made it (the dashboard shows its verdict).
        """
        cpu = time.thread_time()
        view = view if view is not None else self.views.of(run, pinned)
        self.view = view
        cfg = run.config
        if self._structure != (run.depth, view.kind):
            self._build(run.depth, view.kind)
            self._structure = (run.depth, view.kind)
        # a new run: axis limits and legend places keep no memory of the last one, so what
        # is shown depends on this run alone (within a run they move only in whole steps)
        fresh = self._last is None or self._last[1] or self._last[0] != cfg
        if fresh:
            self.steady.clear()
        self._last = (cfg, run.finished)
        self.header.update(view, self.lang)
        self.activations.update(view, self.steady)
        self.gradients.update(view, self.steady, fresh)
        self.heatmap.update(view, self.steady)
        self.losses.update(view, self.steady, fresh)
        self.updates.update(view, self.steady, fresh)
        self.pred.update(view)
        if self.lang != "en":
            localize(self.fig, self.lang)
        self.panels = [p.part() for p in self.parts]
        self.cpu["update"] += time.thread_time() - cpu

    def png(self) -> bytes:
        """Render the figure to PNG bytes."""
        cpu = time.thread_time()
        if not self.blit or not self.panels:
            pixels = canvas_rgba(self.fig)
        else:
            for panel, part in zip(self.panels, self.parts, strict=True):
                panel.key = part.key()
                panel.sprites = part.sprites() if hasattr(part, "sprites") else {}
            pixels = self.blitter.render(self.panels)
        drawn = time.thread_time()
        png = encode_png(pixels)
        self.cpu["render"] += drawn - cpu
        self.cpu["encode"] += time.thread_time() - drawn
        return png

    def save(self, path: str) -> None:
        """Write the figure as a PNG file."""
        with open(path, "wb") as f:
            f.write(self.png())

    # the artists tests and tools read, by their old names
    verdict = property(lambda self: self.header.verdict)
    loss_line = property(lambda self: self.losses.loss_line)
    loss_ghost = property(lambda self: self.losses.loss_ghost)
    clip_marks = property(lambda self: self.losses.clip_marks)
    event_line = property(lambda self: self.losses.event_line)
    event_text = property(lambda self: self.losses.event_text)
    acc_ax = property(lambda self: self.losses.acc_ax)
    heat = property(lambda self: self.heatmap.heat)
    g_now = property(lambda self: self.gradients.g_now)
    g_theory = property(lambda self: self.gradients.g_theory)
    g_ghost = property(lambda self: self.gradients.g_ghost)
