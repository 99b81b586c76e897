"""PredictionPanel: panel f, the decision boundary (2-D data) or validation images marked."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.patches import Rectangle

from lab.frame_view import FrameView
from lab.render import Panel
from lab.run import Run

if TYPE_CHECKING:
    from lab.data import Dataset

CLASS_COLORS = np.array([  # Okabe-Ito: distinguishable with any colour vision
    (0.0, 0.447, 0.698), (0.902, 0.624, 0.0), (0.0, 0.620, 0.451), (0.800, 0.475, 0.655),
    (0.337, 0.706, 0.914), (0.835, 0.369, 0.0), (0.941, 0.894, 0.259), (0.3, 0.3, 0.3),
    (0.6, 0.6, 0.6), (0.0, 0.0, 0.0),
])


class PredictionPanel:
    """Artists of panel f, built once for a dataset kind ("2d", "image" or "none")."""

    def __init__(self, ax, kind: str):
        self.ax = ax
        self.kind = kind
        self.data_key: tuple | None = None  # the data shown: points and images change with it
        self.note = ax.text(0.5, 0.5, "", transform=ax.transAxes, ha="center", zorder=5,
                                 va="center", fontsize=11, color="#b42318",
                                 bbox=dict(boxstyle="round", fc="white", alpha=0.9, ec="none"))
        self.title = ax.set_title("", loc="left", fontsize=12, y=1.0)
        if kind == "2d":
            self.title.set_text("f. decision boundary")
            self.boundary = ax.imshow(np.ones((2, 2, 4)), origin="lower", extent=(0, 1, 0, 1),
                                      aspect="auto", interpolation="bilinear")
            self.points = ax.scatter([], [], s=9, edgecolors="white", linewidths=0.3)
        elif kind == "image":
            self.title.set_text("f. validation images")
            self.mosaic = ax.imshow(np.zeros((4, 4)), cmap="gray_r", interpolation="nearest")
            self.tiles = [ax.add_patch(Rectangle((0, 0), 1, 1, fill=False, lw=2.5))
                          for _ in range(16)]
            self.tile_text = [ax.text(0, 0, "", fontsize=9, color="white", va="top",
                                      bbox=dict(boxstyle="square,pad=0.1", fc="black",
                                                alpha=0.6, ec="none")) for _ in range(16)]
        ax.set_xticks([])
        ax.set_yticks([])

    def dynamic(self) -> list:
        """The artists that change per frame (the rest is drawn once per axis limits and
        `data_key`: the validation points and images change only with the data)."""
        if self.kind == "2d":
            return [self.boundary, self.note]
        if self.kind == "image":
            return [self.title, *self.tiles, *self.tile_text, self.note]
        return [self.note]

    def part(self) -> Panel:
        """The panel for the Blitter."""
        return Panel([self.ax], self.dynamic())

    def key(self) -> tuple:
        """What the static artists show."""
        return (self.ax.get_xlim(), self.ax.get_ylim(), self.data_key)

    def update(self, view: FrameView) -> None:
        """Show what the model of the view's run predicts now."""
        run, data = view.run, view.data
        ax, pred = self.ax, run.predictions
        if self.kind == "2d":
            key = (run.config.dataset, run.config.n_samples, run.config.noise, run.config.seed,
                   run.config.standardize)
            if key != self.data_key:
                self.data_key = key
                self.points.set_offsets(data.x_val.numpy())
                self.points.set_facecolor(CLASS_COLORS[data.y_val.numpy() % 10])
            if pred.grid_class is not None:
                rgb = CLASS_COLORS[pred.grid_class % 10]
                conf = pred.grid_confidence[..., None]
                strength = np.clip((conf - 1 / data.n_classes) * 1.2, 0.1, 0.85)
                self.boundary.set_data(np.concatenate([rgb, strength], axis=-1))
                self.boundary.set_extent(pred.grid_extent)
                x0, x1, y0, y1 = pred.grid_extent
            else:  # no predictions (diverged): frame the data as the grid would have
                x = data.x_train  # (not keep the last run's limits)
                low, high = x.min(0).values, x.max(0).values
                pad = 0.1 * (high - low)
                (x0, y0), (x1, y1) = (low - pad).tolist(), (high + pad).tolist()
            ax.set_xlim(x0, x1)
            ax.set_ylim(y0, y1)
            self.boundary.set_visible(pred.grid_class is not None)
        elif self.kind == "image":
            self._update_images(run, data, view.images)
        note = "" if pred or self.kind == "none" else "no predictions: the model diverged"
        self.note.set_text(note)
        self.note.set_visible(bool(note))

    def _update_images(self, run: Run, data: Dataset, raw: Dataset) -> None:
        """Tiles of the first 16 validation images (`raw`: unscaled, FrameView.images), each
        framed green or red by whether the model's prediction is right."""
        h, w = data.image_shape
        n = min(16, len(raw.x_val))
        key = (run.config.dataset, run.config.n_samples, run.config.seed)
        if key != self.data_key:  # the images change with the data, not per frame
            self.data_key = key
            images = raw.x_val[:n].numpy().reshape(n, h, w)
            mosaic = np.zeros((4 * h, 4 * w))
            for i in range(n):
                r, c = divmod(i, 4)
                mosaic[r * h:(r + 1) * h, c * w:(c + 1) * w] = images[i]
            self.mosaic.set_data(mosaic)
            self.mosaic.set_clim(mosaic.min(), mosaic.max())
            self.mosaic.set_extent((-0.5, 4 * w - 0.5, 4 * h - 0.5, -0.5))
        pred = run.predictions.image_pred
        right = 0
        for i in range(16):
            r, c = divmod(i, 4)
            tile, text = self.tiles[i], self.tile_text[i]
            tile.set_bounds(c * w - 0.5, r * h - 0.5, w, h)
            if pred is None or i >= n:
                tile.set_edgecolor("none")
                text.set_text("")
                continue
            ok = pred[i] == int(raw.y_val[i])
            right += ok
            tile.set_edgecolor("#1a7f37" if ok else "#b42318")
            text.set_position((c * w, r * h))
            text.set_text(str(pred[i]))
        verdict = f"{right}/{n} right" if pred is not None else "no predictions"
        self.title.set_text(f"f. validation images: {verdict}")
