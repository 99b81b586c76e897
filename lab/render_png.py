"""Figures to PNG bytes, fast: a lean PNG encoder and Agg canvases (lab/render.py re-exports)."""

from __future__ import annotations

import struct
import zlib

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

PNG_LEVEL = 1  # zlib level: 1 is ~3x quicker than 6 and only ~10% bigger on a dashboard


def encode_png(rgba: np.ndarray, level: int = PNG_LEVEL) -> bytes:
    """PNG bytes of an (H, W, 4) uint8 image: RGB when fully opaque, filter 0, zlib `level`.

    Unfiltered rows compress as well as PIL's adaptive filters on flat-coloured figures and
    skip their cost: ~12 ms for 1280 x 800 against ~35 ms for PIL at the same zlib level.
    """
    h, w, _ = rgba.shape
    rgba = np.ascontiguousarray(rgba)
    channels = 3 if rgba[..., 3].min() == 255 else 4
    pixels = rgba
    if channels == 3:  # PIL drops alpha 3x quicker than a numpy slice copy
        image = Image.frombuffer("RGBA", (w, h), rgba, "raw", "RGBA", 0, 1)
        pixels = np.frombuffer(image.convert("RGB").tobytes(), np.uint8)
    rows = np.zeros((h, 1 + w * channels), np.uint8)  # each row: filter byte 0, then pixels
    rows[:, 1:] = pixels.reshape(h, w * channels)
    header = struct.pack(">IIBBBBB", w, h, 8, 2 if channels == 3 else 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(rows.data, level)) + _chunk(b"IEND", b""))


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def agg_canvas(fig: Figure) -> FigureCanvasAgg:
    """`fig`'s canvas if it is Agg, else a new Agg canvas for it."""
    return fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)


def canvas_rgba(fig: Figure) -> np.ndarray:
    """Draw `fig` in full on its Agg canvas; (H, W, 4) uint8 view of the pixels."""
    canvas = agg_canvas(fig)
    canvas.draw()
    return np.asarray(canvas.get_renderer().buffer_rgba())


def figure_png(fig: Figure) -> bytes:
    """Render any figure in full to PNG bytes (Agg, fast encoder)."""
    return encode_png(canvas_rgba(fig))
