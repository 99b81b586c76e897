"""Evaluation: validation and training-subset loss and accuracy, and early stopping's watch."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from lab.config import Config
from lab.data import Dataset
from lab.schedule import MAX_VAL

MIN_DELTA = 1e-4  # a validation loss lower by less is no improvement (early stopping, plateau)
# lr_schedule="plateau", as Keras's ReduceLROnPlateau(factor=0.1, patience=3, min_delta=1e-4,
# cooldown=0, min_lr=0) with one of the lab's 20 evaluations per run as its epoch
PLATEAU_FACTOR = 0.1
PLATEAU_PATIENCE = 3


def eval_sets(data: Dataset, device: torch.device) -> tuple[torch.Tensor, ...]:
    """(x_val, y_val, x_fit, y_fit): the validation examples evaluated and a fixed training
    subset of the same size (the first ones: the split is already a random permutation)."""
    x_val, y_val = data.x_val[:MAX_VAL], data.y_val[:MAX_VAL]
    n = min(len(x_val), len(data.x_train))
    return (x_val.to(device), y_val.to(device), data.x_train[:n].to(device),
            data.y_train[:n].to(device))


def loss_and_accuracy(logits: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """[mean cross entropy, fraction of argmax hits] as 0-d tensors (no host sync)."""
    return [F.cross_entropy(logits, y), (logits.argmax(dim=-1) == y).float().mean()]


class Evaluator:
    """Measures one network on its validation set and training subset, in eval mode."""

    def __init__(self, net: torch.nn.Module, cfg: Config, data: Dataset, device: torch.device):
        self.net = net
        self.sets = eval_sets(data, device)
        # mode switches only matter with BN or dropout (and cost ~0.2 ms each)
        self.mode_matters = cfg.batchnorm != "none" or cfg.dropout > 0

    @torch.no_grad()
    def __call__(self, probe=None) -> torch.Tensor:
        """(4,) validation loss, accuracy, training-subset loss, accuracy; probe paused."""
        x_val, y_val, x_fit, y_fit = self.sets
        if probe is not None:
            probe.enabled = False
        if self.mode_matters:
            self.net.eval()
        try:
            out = loss_and_accuracy(self.net(x_val), y_val)
            out += loss_and_accuracy(self.net(x_fit), y_fit)
            return torch.stack(out)
        finally:
            if probe is not None:
                probe.enabled = True
            if self.mode_matters:
                self.net.train()


class Watch:
    """Early stopping's patience on the validation loss and, with restore_best, a device copy
    of the weights (and BatchNorm statistics) of the lowest validation loss seen."""

    def __init__(self, cfg: Config, net: torch.nn.Module):
        self.net = net
        self.patience = cfg.early_stopping
        self.keep = cfg.restore_best
        self.best, self.since_best = math.inf, 0  # for patience: improvements over MIN_DELTA
        # for restore_best: the strict minimum, so the restored loss is the lowest recorded
        self.lowest, self.lowest_step = math.inf, None
        self.state: dict[str, torch.Tensor] = {}

    def see(self, step: int, loss: float) -> bool:
        """Take the validation loss measured at `step`; True when patience has run out."""
        loss = loss if math.isfinite(loss) else math.inf
        if self.keep and loss < self.lowest:
            self.lowest, self.lowest_step = loss, step
            self._snapshot()
        if loss < self.best - MIN_DELTA:
            self.best, self.since_best = loss, 0
            return False
        self.since_best += 1
        return self.since_best >= self.patience

    @torch.no_grad()
    def _snapshot(self) -> None:
        now = self.net.state_dict()
        if not self.state:
            self.state = {k: v.detach().clone() for k, v in now.items()}
        else:  # copy into the buffers of the first snapshot: no new allocations
            for k, v in now.items():
                self.state[k].copy_(v)

    def restore(self, step: int) -> int | None:
        """Load the best weights unless those of `step` (the final ones) are the best; return
        the step they come from, or None when nothing was restored."""
        if not self.keep or self.lowest_step is None or self.lowest_step == step:
            return None
        self.net.load_state_dict(self.state)
        return self.lowest_step


class Plateau:
    """The learning-rate factor of lr_schedule="plateau": multiplied by PLATEAU_FACTOR each time
    PLATEAU_PATIENCE evaluations in a row bring no validation-loss improvement over MIN_DELTA."""

    def __init__(self, factor: float = PLATEAU_FACTOR, patience: int = PLATEAU_PATIENCE):
        self.factor, self.patience = factor, patience
        self.best, self.since_best = math.inf, 0
        self.scale = 1.0  # the factor on the configured learning rate, now

    def see(self, loss: float) -> float:
        """Take the latest validation loss; return the factor for the steps that follow."""
        loss = loss if math.isfinite(loss) else math.inf
        if loss < self.best - MIN_DELTA:
            self.best, self.since_best = loss, 0
        else:
            self.since_best += 1
            if self.since_best >= self.patience:  # reduce, then wait a full patience again
                self.scale *= self.factor
                self.since_best = 0
        return self.scale
