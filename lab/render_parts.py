"""What the Blitter (lab/render.py) works with: Panels, their draw order, and pixel layers.

A Panel says which artists a part of the figure holds and which of them change per frame;
`draw_plan` lists, in matplotlib's draw order, what a frame must draw and which static artists
paint over dynamic ones; a Layer keeps such static pixels to blend in instead of drawing them.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.text import Text
from matplotlib.transforms import Bbox


@dataclass
class Panel:
    """A part of a figure for the Blitter: Axes and figure-level artists, drawn in this order."""

    parts: list[Artist]  # Axes (drawn whole) or figure-level artists such as fig.text
    dynamic: list[Artist]  # artists among them that change per frame
    key: Hashable = None  # everything the other (static) artists show; a change redraws them
    sprites: dict = field(default_factory=dict)  # dynamic artist -> key of what it shows now:
    # its pixels are kept per key and blended in, instead of drawn each time it shows the same



class Layer:
    """Static artists drawn alone on a transparent canvas, kept as their non-empty pixels."""

    def __init__(self, index: np.ndarray, premultiplied: np.ndarray, keep: np.ndarray,
                 box: tuple[int, int, int, int] | None = None):
        self.index = index  # (n,) flat pixel indices
        self.premultiplied = premultiplied  # (n, 3) uint16: rgb * alpha
        self.keep = keep  # (n, 1) uint16: 255 - alpha
        self.size = len(index)
        self.box = box  # (row0, row1, col0, col1) of the pixels, end excluded; None: none

    @classmethod
    def of(cls, artists: list[Artist], renderer: RendererAgg) -> Layer:
        """Draw `artists` alone on the cleared `renderer` and keep what they painted."""
        renderer.clear()  # transparent white: 0x00FFFFFF as a little-endian uint32
        for artist in artists:
            artist.draw(renderer)
        image = np.asarray(renderer.buffer_rgba())
        return cls._kept(image, 0, image.shape[0], 0, image.shape[1])

    @classmethod
    def cut(cls, artist: Artist, renderer: RendererAgg, box) -> Layer:
        """Draw `artist` alone in `box` (display space, None: nothing) of a frame being
        composed on `renderer`, keep what it painted, and put the frame's pixels back."""
        image = np.asarray(renderer.buffer_rgba())
        if box is None:
            return cls._kept(image, 0, 0, 0, 0)
        h, w, _ = image.shape  # rows count down from the top, display y up from the bottom
        pad = 3  # antialiasing reaches a pixel or so past an artist's extent
        r0, r1 = max(0, int(h - box.y1) - pad), min(h, int(h - box.y0) + pad + 1)
        c0, c1 = max(0, int(box.x0) - pad), min(w, int(box.x1) + pad + 1)
        part = image[r0:r1, c0:c1]
        saved = part.copy()
        part[...] = (255, 255, 255, 0)  # transparent white, as RendererAgg.clear() leaves it
        artist.draw(renderer)
        layer = cls._kept(image, r0, r1, c0, c1)
        part[...] = saved
        return layer

    @classmethod
    def _kept(cls, image: np.ndarray, r0: int, r1: int, c0: int, c1: int) -> Layer:
        """The painted (alpha > 0) pixels of `image`[r0:r1, c0:c1] as a layer."""
        painted = image[r0:r1, c0:c1].view(np.uint32)[..., 0] > 0x00FFFFFF
        lines = np.flatnonzero(painted.any(axis=1))  # narrow the search first: 8x quicker
        if len(lines):
            r0, r1 = r0 + lines[0], r0 + lines[-1] + 1
            painted = painted[lines[0]:lines[-1] + 1]
            columns = np.flatnonzero(painted.any(axis=0))
            c0, c1 = c0 + columns[0], c0 + columns[-1] + 1
            painted = painted[:, columns[0]:columns[-1] + 1]
        part = image[r0:r1, c0:c1]
        rows, cols = np.nonzero(painted)
        pixels = part[rows, cols].astype(np.uint16)
        alpha = pixels[:, 3:]
        index = (rows + r0) * image.shape[1] + cols + c0
        box = (int(r0), int(r0 + rows.max() + 1), int(c0), int(c0 + cols.max() + 1)) if len(
            rows) else None
        return cls(index, pixels[:, :3] * alpha, 255 - alpha, box)

    def blend(self, flat: np.ndarray) -> None:
        """Paint the layer over `flat` ((H*W, 4) uint8, opaque), as Agg's source-over would."""
        under = flat[self.index, :3]
        flat[self.index, :3] = (self.premultiplied + under * self.keep + 127) // 255


class Hiding:
    """Mark artists animated for a block: Figure.draw and Axes.draw then leave them out."""

    def __init__(self, artists: list[Artist]):
        self.artists = [a for a in artists if not a.get_animated()]

    def __enter__(self):
        for artist in self.artists:
            artist.set_animated(True)

    def __exit__(self, *exc):
        for artist in self.artists:
            artist.set_animated(False)


def draw_plan(panel: Panel) -> tuple[list, list[Artist]]:
    """Per-frame steps in draw order (dynamic artists; lists of static artists painted over
    them) and every artist to leave out of the background."""
    dynamic = {id(a) for a in panel.dynamic}
    steps: list = []
    hidden: list[Artist] = []
    containers = [_axes_order(p) for p in panel.parts if isinstance(p, Axes)]
    top = [p for p in panel.parts if not isinstance(p, Axes)]
    for leaves in [*containers, top]:
        seen_dynamic = False
        for leaf in leaves:
            if id(leaf) in dynamic:
                seen_dynamic = True
                steps.append(leaf)
                hidden.append(leaf)
            elif seen_dynamic:  # a static artist painted over a dynamic one
                if not steps or not isinstance(steps[-1], list):
                    steps.append([])
                steps[-1].append(leaf)
                hidden.append(leaf)
    return steps, hidden


def _axes_order(ax: Axes) -> list[Artist]:
    """The artists Axes.draw paints, in its order: patch, then children by zorder (stable)."""
    if not ax.get_visible():
        return []
    artists = [a for a in ax.get_children() if a is not ax.patch]
    framed = ax.axison and ax.get_frame_on()
    if not framed:
        spines = {id(s) for s in ax.spines.values()}
        artists = [a for a in artists if id(a) not in spines]
    if not ax.axison:
        artists = [a for a in artists if a is not ax.xaxis and a is not ax.yaxis]
    artists.sort(key=lambda a: a.zorder)
    return [ax.patch, *artists] if framed else artists


def axis_sprite(axis: Axis) -> dict:
    """An axis (ticks, tick labels, label) as a sprite of its panel: drawn once per view
    interval and label, so that limits moving in steps redraw only the axis, not the panel."""
    return {axis: (tuple(axis.get_view_interval()), axis.label.get_text())}


def extent(artist: Artist, renderer: RendererAgg) -> Bbox | None:
    """Display box of what `artist` paints; an Axis's own extent is empty: its tick labels and
    label, and the Axes it rules (tick marks sit between the two)."""
    if not isinstance(artist, Axis):
        return artist.get_window_extent(renderer)
    labels = artist.get_tightbbox(renderer)
    return artist.axes.bbox if labels is None else Bbox.union([labels, artist.axes.bbox])


def patched(artist: Artist) -> bool:
    """A text with a box drawn round it: its window extent leaves the box out."""
    return isinstance(artist, Text) and artist.get_bbox_patch() is not None


def any_overlap(boxes: list, first: bool = False) -> bool:
    """Whether two of the (row0, row1, col0, col1) boxes overlap (None: no box); `first`:
    whether the first box overlaps one of the others."""
    boxes = [b for b in boxes if b is not None]
    pairs = [(boxes[0], b) for b in boxes[1:]] if first else [
        (a, b) for k, a in enumerate(boxes) for b in boxes[k + 1:]]
    return any(a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3] for a, b in pairs)
