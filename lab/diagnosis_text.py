"""The verdict's words: numbers and layer lists in plain English and Chinese, remedies in Chinese.

The sentences themselves are put together in lab/diagnosis.py and lab/diagnosis_causes.py; the
Chinese templates live in lab/i18n_strings.py.
"""

from __future__ import annotations

import numpy as np

from lab.config import Config
from lab.i18n import text as _t


def number(x: float) -> str:
    """A ratio in plain words: 0.56, 31, 2e-13, 3.6e4; exactly 0 is "0", never "0e0"."""
    if not np.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e4:
        return f"{x:.2g}" if abs(x) < 100 else f"{x:.0f}"
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa.removesuffix('.0')}e{int(exponent)}"


def where(layers: tuple[int, ...]) -> str:
    """Layers in words: "layer 3", "layers 2-10", "layers 1-3, 7", "8 of layers 2-29"."""
    if len(layers) == 1:
        return f"layer {layers[0]}"
    if len(layers) != layers[-1] - layers[0] + 1 and len(layers) > 3:  # scattered: no list
        return f"{len(layers)} of layers {layers[0]}-{layers[-1]}"
    spans, start = [], layers[0]
    for prev, cur in zip(layers, [*layers[1:], None], strict=True):
        if cur is None or cur != prev + 1:  # a span ends at prev
            spans.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = cur
    return "layers " + ", ".join(spans)


def where_zh(layers: tuple[int, ...]) -> str:
    """`where` in Chinese: "第 3 层", "第 2-10 层", "第 1-3, 7 层", "第 2-29 层中的 8 层"."""
    english = where(layers)
    if len(layers) == 1:
        return _t("diag.layer", "zh", layer=layers[0])
    if english.startswith("layers "):
        return _t("diag.layers", "zh", spans=english.removeprefix("layers "))
    return _t("diag.some_layers", "zh", first=layers[0], last=layers[-1], count=len(layers))


def remedy_zh(remedy: str) -> str:
    """A remedy's Chinese, by its English words (English where none was written)."""
    return _t(f"remedy.{remedy}", "zh", en=remedy)


def grower(cfg: Config) -> str:
    """What makes the gradient grow toward the input by design in `cfg`, in words."""
    return "skip connections" if cfg.residual else "batch norm layers"


def grower_key(cfg: Config) -> str:
    """`grower`'s key in lab/i18n_strings.py (diag.grower.<key>)."""
    return "residual" if cfg.residual else "batchnorm"
