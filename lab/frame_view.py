"""FrameView: what one frame shows, computed once and read by the figure and the dashboard."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lab.config import Config
from lab.diagnosis import Diagnosis, chance, diagnose
from lab.run import Run

if TYPE_CHECKING:  # lab.data and lab.theory import torch: the figure's module loads without it
    from lab.data import Dataset
    from lab.theory import Prediction


@dataclass(frozen=True)
class FrameView:
    """A Run with everything drawn from it beside its numbers."""

    run: Run
    pinned: Run | None  # a run to compare with, only if it has the same layers
    diagnosis: Diagnosis
    prediction: Prediction | None  # mean-field theory at init (None: does not apply)
    data: Dataset
    kind: str  # dataset kind for panel f: "2d", "image" or "none"
    images: Dataset | None = None  # image datasets: the same split unscaled, for panel f to show

    @property
    def chance(self) -> float:
        """Accuracy of guessing one class: the chance the verdict measures against."""
        return chance(self.run.config)


class Views:
    """Makes FrameViews: per frame the data is looked up and the run diagnosed once; the
    theory's quadrature and the unscaled images are made once per config, not once per frame."""

    def __init__(self):
        # one tuple, replaced whole: a view made on another thread never pairs a config
        # with another config's prediction or images
        self._per_config: tuple[Config | None, Prediction | None, Dataset | None] = (
            None, None, None)

    def of(self, run: Run, pinned: Run | None = None) -> FrameView:
        """The view of `run` (with `pinned` if it has as many layers)."""
        from lab import theory
        from lab.data import load

        cfg = run.config
        data = load(cfg)
        kind = ("image" if data.image_shape is not None
                else "2d" if data.n_features == 2 else "none")
        cached, prediction, images = self._per_config
        if cfg != cached:
            prediction = theory.predict(cfg)
            # same split, natural contrast: what panel f shows of an image dataset
            images = load(cfg.replace(standardize="none")) if kind == "image" else None
            self._per_config = (cfg, prediction, images)
        if pinned is not None and pinned.depth != run.depth:
            pinned = None  # ghosts compare like with like: the same layers
        return FrameView(run, pinned, diagnose(run), prediction, data, kind, images)
