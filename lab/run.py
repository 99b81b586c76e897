"""Run: the numpy record of one training (or one inspection at step 0)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lab.config import Config

# What a Run's numbers mean, for stored Runs (lab.cache keys): bump it when the trainer records
# differently into the same fields. 2: the last evaluation sees the weights after the last update.
RECORD_VERSION = 2
# per-layer arrays: shape (len(recorded_steps), depth), column l-1 = hidden layer l
LAYER_FIELDS = (
    "act_mean", "act_std", "act_saturated", "act_dead",
    "act_grad_std", "grad_norm", "grad_rms", "update_ratio",
)


@dataclass
class Histograms:
    """Activation and gradient histograms per hidden layer at snapshot steps, fixed bin edges."""

    steps: np.ndarray  # (S,) step numbers
    act_edges: np.ndarray  # (bins + 1,) activation values; outliers counted in the end bins
    act: np.ndarray  # (S, depth, bins) fraction of values per bin
    grad_edges: np.ndarray  # (bins + 1,) log10 |dL/da|; outliers counted in the end bins
    grad: np.ndarray  # (S, depth, bins) fraction of values per bin


@dataclass
class Predictions:
    """What the model predicts (lab.predictions): a 2-D dataset's decision grid, or an image
    dataset's classes for its first validation images; all None when the outputs are not finite."""

    grid_extent: tuple[float, float, float, float] | None = None  # x0, x1, y0, y1
    grid_class: np.ndarray | None = None  # (side, side) argmax class
    grid_confidence: np.ndarray | None = None  # (side, side) its softmax probability
    image_pred: np.ndarray | None = None  # (16,) predicted class per validation image

    def __bool__(self) -> bool:
        return self.grid_class is not None or self.image_pred is not None


@dataclass
class Run:
    """Everything one training recorded; every view reads only this."""

    config: Config
    device: str
    recorded_steps: np.ndarray  # (R,) step number of each per-layer row; row 0 = step 0
    act_mean: np.ndarray  # (R, depth) mean of each hidden activation output
    act_std: np.ndarray  # (R, depth) std of each hidden activation output
    act_saturated: np.ndarray  # (R, depth) fraction near the bounds (sigmoid/tanh), else NaN
    act_dead: np.ndarray  # (R, depth) fraction of units <= 0 on the whole batch (relu family)
    act_grad_std: np.ndarray  # (R, depth) std of dL/d(activation output)
    grad_norm: np.ndarray  # (R, depth) L2 norm of dL/dW before clipping
    grad_rms: np.ndarray  # (R, depth) grad_norm / sqrt(numel(W))
    update_ratio: np.ndarray  # (R, depth) log10(std(applied update) / std(W)); NaN if no update
    hist: Histograms
    loss: np.ndarray  # (T,) train loss at steps 0..T-1
    lr: np.ndarray  # (T,) learning rate used at each step
    global_grad_norm: np.ndarray  # (T,) global L2 gradient norm before clipping
    global_grad_norm_clipped: np.ndarray  # (T,) global norm of the gradient applied
    clipped: np.ndarray  # (T,) bool: clipping changed the gradient at this step
    # evaluations, in eval mode: the one at step n sees the weights after n updates, and the
    # last one the final weights (after the last update)
    val_steps: np.ndarray  # (E,) steps at which validation ran
    val_loss: np.ndarray  # (E,)
    val_acc: np.ndarray  # (E,)
    train_eval_loss: np.ndarray  # (E,) loss on a fixed subset of training examples (eval mode)
    train_acc: np.ndarray  # (E,) accuracy on that subset (as many examples as validation)
    diverged_at: int | None = None  # first step with a non-finite loss or gradient; the step
    # count itself when the last update left the weights non-finite (final evaluation NaN)
    stopped_early_at: int | None = None  # step at which early stopping ended training
    cancelled: bool = False  # cancel() ended the training
    time_limited_at: int | None = None  # step at which the time limit ended training
    time_limit: float | None = None  # that limit, in CPU seconds (set only when it acted)
    finished: bool = False  # the record is complete (not a partial frame)
    at_init: bool = False  # from lab.inspect: step 0 only, nothing trained
    seconds: float = 0.0  # wall time so far
    model_state: dict | None = None  # final weights (CPU state_dict); only on the finished Run
    restored_from: int | None = None  # restore_best: the evaluation step whose weights are the
    # model (model_state, predictions); None: the weights after the last step
    predictions: Predictions = field(default_factory=Predictions)  # of the reported weights
    batch_members: int = 1  # runs trained together in one stack (lab.train_many); 1: alone
    from_cache: bool = False  # served by lab.cache, not trained by this call

    @property
    def depth(self) -> int:
        """Number of hidden layers."""
        return int(self.act_std.shape[1])

    @property
    def steps_done(self) -> int:
        """Number of steps whose loss is recorded."""
        return int(len(self.loss))

    @property
    def clipped_fraction(self) -> float:
        """Fraction of steps at which clipping acted."""
        return float(self.clipped.mean()) if len(self.clipped) else 0.0

    @property
    def final_eval(self) -> int:
        """Index into val_* and train_* of the evaluation of the model's weights (-1: the last)."""
        if self.restored_from is None:
            return -1
        return int(np.flatnonzero(self.val_steps == self.restored_from)[0])

    def status(self) -> str:
        """One line: how the run ended (or where it is), and which weights are shown."""
        if self.restored_from is None:
            return self._outcome()
        return f"{self._outcome()}; showing the best weights, from step {self.restored_from}"

    def _outcome(self) -> str:
        cfg = self.config
        if self.at_init and self.diverged_at is None:
            return "at initialization (step 0)"
        if self.diverged_at is not None:
            return f"diverged at step {self.diverged_at}"
        if self.stopped_early_at is not None:
            return f"stopped early at step {self.stopped_early_at}"
        if self.time_limited_at is not None:
            return (f"stopped at the {self.time_limit:g} s CPU time limit at step "
                    f"{self.time_limited_at}")
        if self.cancelled:
            return f"cancelled at step {self.steps_done} of {cfg.steps}"
        if not self.finished:
            return f"step {self.steps_done} of {cfg.steps}"
        return f"finished {self.steps_done} steps"

    def summary(self, timing: bool = True) -> str:
        """A few lines of plain text: outcome, loss, accuracy, gradient spread over depth.

        With timing=False the machine-dependent device and seconds are left out.
        """
        lines = [f"{self.status()} on {self.device} in {self.seconds:.2f} s" if timing
                 else self.status()]
        if len(self.loss):
            lines.append(f"train loss {self.loss[0]:.3f} -> {self.loss[-1]:.3f}")
        if len(self.val_acc):
            i = self.final_eval
            where = ("" if self.restored_from is None
                     else f"best weights (step {self.restored_from}): ")
            lines.append(f"{where}validation accuracy {self.val_acc[i]:.1%} "
                         f"(loss {self.val_loss[i]:.3f}), training accuracy "
                         f"{self.train_acc[i]:.1%} (loss {self.train_eval_loss[i]:.3f})")
        from lab.diagnosis_measures import gradient_ratio  # it reads Runs: imported when used

        ratio = gradient_ratio(self, 0)
        if np.all(np.isfinite(self.act_grad_std[0])) and ratio > 0:
            lines.append(f"at init, layer 1 receives {ratio:.2g}x the activation "
                         f"gradient of layer {self.depth}")
        return "\n".join(lines)
