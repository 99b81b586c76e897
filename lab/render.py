"""Figures to PNG bytes, fast: a blitter that draws static pixels once and per frame only the
artists that change. The PNG encoder is lab/render_png.py, Panels and pixel layers are
lab/render_parts.py; their public names are importable from here too."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure
from matplotlib.legend import Legend

from lab.render_parts import Hiding, Layer, Panel, any_overlap, draw_plan, patched
from lab.render_png import PNG_LEVEL, agg_canvas, canvas_rgba, encode_png, figure_png

__all__ = ["PNG_LEVEL", "Blitter", "Panel", "agg_canvas", "canvas_rgba", "encode_png",
           "figure_png"]


class Blitter:
    """Draws a figure's static artists once and, per frame, only its dynamic ones.

    `render(panels)` returns the pixels a full draw would give. A cached background holds
    every static artist that a full draw paints before the first dynamic artist of its Axes;
    static artists painted later (spines, a legend over the data, ...) are kept as sparse RGBA
    layers and blended in at their place in the draw order. A panel whose key changed is
    redrawn alone, into the box its static pixels cover; if such boxes would overlap, the
    whole background is drawn again instead. Panels draw their dynamic artists one panel
    after the other, so the Axes of different panels must not overlap (twins go in one
    panel); their static decorations may reach into one another's box. Sprites (a legend
    that moves between a few places, a label that repeats) are drawn once per key and
    blended in afterwards.
    """

    SPRITES_KEPT = 200  # per panel; past that the panel's sprite cache starts afresh

    def __init__(self, fig: Figure):
        self.fig = fig
        self.canvas = agg_canvas(fig)
        self.panel_builds = 0  # panels drawn into the background (tests, bench)
        self.full_builds = 0  # whole-background draws
        self.changed: list[int] = []
        self._renderer: RendererAgg | None = None
        self._background: np.ndarray | None = None  # (H, W, 4) uint8
        self._keys: list = []
        self._boxes: list[tuple[int, int, int, int] | None] = []  # (row0, row1, col0, col1)
        self._plans: list[list] = []  # per panel, in draw order: Artist (draw) or Layer (blend)
        self._hidden: list[list[Artist]] = []  # per panel: dynamic and layered artists
        self._sprites: list[dict] = []  # per panel: (id(artist), key) -> Layer

    def render(self, panels: Sequence[Panel]) -> np.ndarray:
        """Pixels of the figure now, (H, W, 4) uint8 view of the canvas buffer."""
        renderer = self.canvas.get_renderer()
        if renderer is not self._renderer or len(panels) != len(self._keys):
            self._start(renderer, len(panels))
        changed = [i for i, p in enumerate(panels) if p.key != self._keys[i]]
        self.changed = changed  # the panels redrawn by the latest render (tests, bench)
        if changed:
            self._rebuild(panels, changed)
        buffer = np.asarray(renderer.buffer_rgba())
        np.copyto(buffer, self._background)
        flat = buffer.reshape(-1, 4)
        for i, plan in enumerate(self._plans):
            sprites = panels[i].sprites
            for step in plan:
                if isinstance(step, Layer):
                    step.blend(flat)
                elif step in sprites and not patched(step):
                    self._sprite(i, step, sprites[step]).blend(flat)
                else:
                    step.draw(renderer)
        return buffer

    def full_rgba(self) -> np.ndarray:
        """Pixels of a plain full draw of the figure (the reference that blitting must match)."""
        return canvas_rgba(self.fig).copy()

    def _start(self, renderer: RendererAgg, n: int) -> None:
        # One renderer does all the drawing (its buffer is only the frame's once render()
        # composes it): matplotlib caches text layouts per renderer.
        self._renderer = renderer
        renderer.clear()
        self.fig.patch.draw(renderer)
        self._blank = np.asarray(renderer.buffer_rgba()).copy()  # the figure's bare face
        self._background = self._blank.copy()
        self._keys = [_UNSET] * n
        self._boxes = [None] * n
        self._plans = [[] for _ in range(n)]
        self._hidden = [[] for _ in range(n)]
        self._sprites = [{} for _ in range(n)]
        self._tangled = False  # the background came from one full draw of overlapping panels

    def _sprite(self, i: int, artist: Artist, key: Hashable) -> Layer:
        """The pixels `artist` paints when it shows `key`: drawn on first use, then kept."""
        cache = self._sprites[i]
        layer = cache.get((id(artist), key))
        if layer is None:
            if len(cache) >= self.SPRITES_KEPT:
                cache.clear()
            box = artist.get_window_extent(self._renderer) if artist.get_visible() else None
            layer = cache[id(artist), key] = Layer.cut(artist, self._renderer, box)
        return layer

    def _rebuild(self, panels: Sequence[Panel], changed: list[int]) -> None:
        old = list(self._boxes)
        crops = {}
        for i in changed:
            panel = panels[i]
            steps, self._hidden[i] = draw_plan(panel)
            crops[i], self._boxes[i] = self._draw_static(panel, self._hidden[i])
            self._plans[i] = [Layer.of(s, self._renderer) if isinstance(s, list) else s
                              for s in steps]
            self._plans[i] = [s for s in self._plans[i] if not isinstance(s, Layer) or s.size]
            self._keys[i] = panel.key
            # sprites may sit on data coordinates that moved; a legend sits in axes
            # coordinates, and its key says what it shows: its pixels still hold
            anchored = {id(a) for a in panel.sprites if isinstance(a, Legend)}
            self._sprites[i] = {k: v for k, v in self._sprites[i].items() if k[0] in anchored}
        if self._tangled or any_overlap(self._boxes):
            self._draw_everything()  # boxes overlap (or did): panels cannot be cut apart
            self._tangled = any_overlap(self._boxes)
            return
        for i in changed:  # the panel's old pixels go, its new ones come
            if old[i] is not None:
                r0, r1, c0, c1 = old[i]
                self._background[r0:r1, c0:c1] = self._blank[r0:r1, c0:c1]
        for i in changed:
            if self._boxes[i] is not None:
                r0, r1, c0, c1 = self._boxes[i]
                self._background[r0:r1, c0:c1] = crops[i]

    def _draw_static(self, panel: Panel, hidden: list[Artist]):
        """The panel's static artists alone on the bare face: the box they cover (rows, then
        columns, end excluded) and its pixels."""
        self.panel_builds += 1
        renderer = self._renderer
        np.copyto(np.asarray(renderer.buffer_rgba()), self._blank)
        hidden_ids = {id(a) for a in hidden}
        with Hiding(hidden):
            for part in panel.parts:
                if isinstance(part, Axes) or id(part) not in hidden_ids:
                    part.draw(renderer)
        image = np.asarray(renderer.buffer_rgba())
        painted = image.view(np.uint32)[..., 0] != self._blank.view(np.uint32)[..., 0]
        rows, cols = np.flatnonzero(painted.any(axis=1)), np.flatnonzero(painted.any(axis=0))
        if not len(rows):
            return None, None
        box = (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)
        return image[box[0]:box[1], box[2]:box[3]].copy(), box

    def _draw_everything(self) -> None:
        """The whole background in one full draw, every panel's hidden artists left out."""
        self.full_builds += 1
        with Hiding([a for hidden in self._hidden for a in hidden]):
            self.canvas.draw()
        np.copyto(self._background, np.asarray(self._renderer.buffer_rgba()))


_UNSET = object()  # a key no panel has
