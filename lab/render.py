"""Figures to PNG bytes, fast: a blitter that draws static pixels once and per frame only the
artists that change. The PNG encoder is lab/render_png.py, Panels and pixel layers are
lab/render_parts.py; their public names are importable from here too."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure
from matplotlib.legend import Legend

from lab.render_parts import Hiding, Layer, Panel, any_overlap, draw_plan, extent, patched
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
    blended in afterwards. A panel's static pixels are kept for its last few keys: limits
    that come back (a run's step-0 frame after the last run's final one, the same config
    again, a pin) cost a copy, not a draw.
    """

    SPRITES_KEPT = 200  # per panel; past that the panel's sprite cache starts afresh
    BACKGROUNDS_KEPT = 4  # per panel: a crop of ~0.5 MB each at the dashboard's size

    def __init__(self, fig: Figure):
        self.fig = fig
        self.canvas = agg_canvas(fig)
        self.panel_builds = 0  # panels drawn into the background (tests, bench)
        self.panel_reuses = 0  # panels whose static pixels came back from an earlier key
        self.full_builds = 0  # whole-background draws
        self.changed: list[int] = []
        self._renderer: RendererAgg | None = None
        self._background: np.ndarray | None = None  # (H, W, 4) uint8
        self._keys: list = []
        self._boxes: list[tuple[int, int, int, int] | None] = []  # (row0, row1, col0, col1)
        self._plans: list[list] = []  # per panel, in draw order: Artist (draw) or Layer (blend)
        self._hidden: list[list[Artist]] = []  # per panel: dynamic and layered artists
        self._sprites: list[dict] = []  # per panel: (id(artist), key) -> Layer
        self._kept: list[dict] = []  # per panel: (key, artist ids) -> (crop, box, plan, hidden)
        self._idents: list = []  # per panel: the (key, artist ids) of its current pixels
        self._axes: set[int] = set()  # ids of the Axis sprites
        self._fixed: set[int] = set()  # ids of Axis sprites drawn as static: they reach into
        # another panel, so matplotlib's order of panels decides what paints over what

    def render(self, given: Sequence[Panel]) -> np.ndarray:
        """Pixels of the figure now, (H, W, 4) uint8 view of the canvas buffer."""
        renderer = self.canvas.get_renderer()
        if renderer is not self._renderer or len(given) != len(self._keys):
            self._start(renderer, len(given))
        self.changed = []  # the panels redrawn by the latest render (tests, bench)
        for _ in range(3):  # again if axes are found reaching into other panels (or no more)
            panels = [self._settled(p) for p in given]
            changed = [i for i, p in enumerate(panels) if not same(p.key, self._keys[i])]
            if changed:
                self._rebuild(panels, changed)
                self.changed = sorted({*self.changed, *changed})
            axes = {(id(a), k) for p in given for a, k in p.sprites.items()
                    if isinstance(a, Axis)}
            if not changed and axes == self._axis_keys:
                break
            self._axis_keys = axes
            fixed = self._reaching(given)
            if fixed == self._fixed:
                break
            self._fixed = fixed
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

    def forget(self) -> None:
        """Drop what was kept for limits other than the current ones (static pixels of other
        keys, axis sprites): limits that come next are drawn as if never seen."""
        for i, kept in enumerate(self._kept):
            self._kept[i] = {k: v for k, v in kept.items() if k == self._idents[i]}
        for i, sprites in enumerate(self._sprites):
            self._sprites[i] = {k: v for k, v in sprites.items() if k[0] not in self._axes}

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
        self._kept = [{} for _ in range(n)]
        self._idents: list = [None] * n
        self._fixed = set()
        self._axis_keys: set = set()  # (id, key) of every axis sprite at the last check
        self._painted = [np.zeros(0, np.intp) for _ in range(n)]  # flat static pixels
        self._tangled = False  # the background came from one full draw of overlapping panels

    def _settled(self, panel: Panel) -> Panel:
        """`panel` with its fixed axes static: their keys join the panel's."""
        fixed = [a for a in panel.sprites if id(a) in self._fixed]
        if not fixed:
            return panel
        return Panel(panel.parts, [a for a in panel.dynamic if id(a) not in self._fixed],
                     (panel.key, *(panel.sprites[a] for a in fixed)),
                     {a: k for a, k in panel.sprites.items() if id(a) not in self._fixed})

    def _reaching(self, given: Sequence[Panel]) -> set[int]:
        """Ids of the axis sprites whose pixels meet another panel's static or axis pixels
        (what a panel paints alike whether its axes are sprites or static: the answer does not
        depend on the frames before)."""
        axes = [[(a, self._sprite(i, a, k)) for a, k in p.sprites.items() if isinstance(a, Axis)]
                for i, p in enumerate(given)]
        masks = []
        for i, painted in enumerate(self._painted):
            mask = np.zeros(self._blank.shape[0] * self._blank.shape[1], bool)
            mask[painted] = True
            for _, layer in axes[i]:
                mask[layer.index] = True
            masks.append(mask)
        return {id(a) for i, pairs in enumerate(axes) for a, layer in pairs
                if any(masks[j][layer.index].any() for j in range(len(masks)) if j != i)}

    def _sprite(self, i: int, artist: Artist, key: Hashable) -> Layer:
        """The pixels `artist` paints when it shows `key`: drawn on first use, then kept."""
        cache = self._sprites[i]
        layer = cache.get((id(artist), key))
        if layer is None:
            if len(cache) >= self.SPRITES_KEPT:
                cache.clear()
            box = extent(artist, self._renderer) if artist.get_visible() else None
            if isinstance(artist, Axis):
                self._axes.add(id(artist))
            layer = cache[id(artist), key] = Layer.cut(artist, self._renderer, box)
        return layer

    def _rebuild(self, panels: Sequence[Panel], changed: list[int]) -> None:
        old = list(self._boxes)
        crops = {}
        for i in changed:
            panel = panels[i]
            crops[i] = self._static(i, panel)
            self._keys[i] = panel.key
            # sprites may sit on data coordinates that moved; a legend sits in axes
            # coordinates and an axis on its Axes, and their keys say what they show: their
            # pixels still hold
            anchored = {id(a) for a in panel.sprites if isinstance(a, (Legend, Axis))}
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

    def _static(self, i: int, panel: Panel) -> np.ndarray | None:
        """Panel i's static pixels for its key now, drawn or kept from an earlier frame; sets
        its box, plan and hidden artists."""
        # the same artists too: a legend made anew for entries seen before is another artist
        ident = (panel.key, tuple(map(id, panel.parts)), tuple(map(id, panel.dynamic)))
        kept = self._kept[i]
        if ident in kept:
            self.panel_reuses += 1
            kept[ident] = kept.pop(ident)  # the most recently used goes last
        else:
            steps, hidden = draw_plan(panel)
            crop, box, painted = self._draw_static(panel, hidden)
            plan = [Layer.of(s, self._renderer) if isinstance(s, list) else s for s in steps]
            plan = [s for s in plan if not isinstance(s, Layer) or s.size]
            if len(kept) >= self.BACKGROUNDS_KEPT:
                del kept[next(iter(kept))]  # the least recently used
            # holding the artists keeps their ids
            kept[ident] = (crop, box, plan, hidden, painted)
        crop, self._boxes[i], self._plans[i], self._hidden[i], self._painted[i] = kept[ident]
        self._idents[i] = ident
        return crop

    def _draw_static(self, panel: Panel, hidden: list[Artist]):
        """The panel's static artists alone on the bare face: their pixels in the box they
        cover (rows, then columns, end excluded), the box, and the flat indices painted."""
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
            return None, None, np.zeros(0, np.intp)
        box = (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)
        return image[box[0]:box[1], box[2]:box[3]].copy(), box, np.flatnonzero(painted)

    def _draw_everything(self) -> None:
        """The whole background in one full draw, every panel's hidden artists left out."""
        self.full_builds += 1
        with Hiding([a for hidden in self._hidden for a in hidden]):
            self.canvas.draw()
        np.copyto(self._background, np.asarray(self._renderer.buffer_rgba()))


_UNSET = object()  # a key no panel has


def same(a: Hashable, b: Hashable) -> bool:
    """Whether two keys are equal; keys whose parts cannot be compared (a numpy number with a
    tuple) differ."""
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False
