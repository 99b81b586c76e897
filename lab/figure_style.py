"""Shared look of the figures: colours, layer choice, log and integer axes, legends."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

import numpy as np
from matplotlib import colormaps
from matplotlib import font_manager as fm
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from lab.i18n import figure_text

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


# Fonts with Chinese glyphs, by family name (matplotlib's cache) or file (Debian's packages
# fonts-noto-cjk, fonts-wqy-microhei, fonts-wqy-zenhei, fonts-droid-fallback); $LAB_CJK_FONT
# names a font file of your own.
CJK_FONT_ENV = "LAB_CJK_FONT"
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei",
                "WenQuanYi Zen Hei", "Droid Sans Fallback", "SimHei", "Microsoft YaHei",
                "PingFang SC")
CJK_FILES = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
             "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
             "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
             "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf")


@functools.cache
def cjk_font() -> str | None:
    """The family name of a font with Chinese glyphs, registered with matplotlib; None if this
    machine has none (then Chinese figures are drawn in English, never as empty boxes)."""
    known = {f.name for f in fm.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in known:
            return family
    for path in [os.environ.get(CJK_FONT_ENV, ""), *CJK_FILES, *_fontconfig_zh()]:
        if path and os.path.isfile(path):
            try:
                fm.fontManager.addfont(path)
                return fm.FontProperties(fname=path).get_name()
            except (OSError, RuntimeError, ValueError):
                continue
    return None


def _fontconfig_zh() -> list[str]:
    """Files of the fonts fontconfig says cover Chinese (none if it is not installed)."""
    if shutil.which("fc-list") is None:
        return []
    try:
        out = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted(line.strip().rstrip(":") for line in out.splitlines() if line.strip())


def figure_texts(fig) -> list:
    """The figure's text artists that carry words: its own texts, and each axes' titles, axis
    labels, texts and legend (tick labels are numbers)."""
    texts = list(fig.texts)
    for ax in fig.axes:
        texts += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label,
                  *ax.texts]
        legend = ax.get_legend()
        if legend is not None:
            texts += [*legend.get_texts(), legend.get_title()]
    return texts


def localize(fig, lang: str) -> None:
    """Put every worded text of `fig` in `lang` (lab/i18n.py: figure_text), in a font that has
    its glyphs. Call cjk_font() first: without one, leave the figure in English."""
    family = cjk_font() if lang == "zh" else None
    if family is None:
        return
    for text in figure_texts(fig):
        english = text.get_text()
        translated = figure_text(english, lang)
        if translated != english:
            text.set_text(translated)
        if any(ord(ch) > 0x2E80 for ch in translated):
            text.set_fontfamily(["DejaVu Sans", family])
