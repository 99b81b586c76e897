"""Batched training: runs of one architecture (seeds, init scales, learning rates) trained as one.

The runs are the members of one lab.stacked.Stack, trained by the same loop as a single run
(lab.loop): each member's Run equals the one `lab.train` records for its config alone, up to
float rounding.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from lab import probes
from lab.config import Config
from lab.data import load
from lab.evaluation import eval_sets
from lab.loop import Pace, TrainingLoop
from lab.models import build_model
from lab.optim import Optimizer
from lab.predictions import predictions
from lab.run import Run
from lab.stacked import Stack
from lab.trainer import Batches, resolve_device, train

# Fields that may differ between members of one batch; every other field must be equal.
PER_MEMBER = ("seed", "init", "init_gain", "lr", "lr_schedule", "weight_decay",
              "clip_threshold", "noise", "standardize")
MAX_FLOATS = 2 ** 25  # parameters of all members of one batch (x4 with gradient and Adam state)
MAX_MEMBERS = 64


def batch_key(cfg: Config) -> Config:
    """The config with its per-member fields at their defaults: equal keys train together."""
    default = Config()
    return cfg.replace(**{name: getattr(default, name) for name in PER_MEMBER})


def batchable(cfg: Config) -> bool:
    """Whether `cfg` can join a batch: MLPs without early stopping (members stop together),
    without dropout (its masks would come from one shared stream, not each run's own) and
    without the plateau schedule (its rate follows each member's validation loss on the host);
    train_many trains the others alone with lab.train."""
    return (cfg.arch == "mlp" and cfg.early_stopping == 0 and cfg.dropout == 0
            and cfg.lr_schedule != "plateau")


def groups(configs: list[Config]) -> list[list[int]]:
    """Indices of `configs` trained together, in first-appearance order, within memory caps."""
    by_key: dict[object, list[int]] = {}
    for i, cfg in enumerate(configs):
        key = batch_key(cfg) if batchable(cfg) else ("alone", i)
        by_key.setdefault(key, []).append(i)
    out = []
    for members in by_key.values():
        n_params = sum(p.numel() for p in build_model(configs[members[0]]).parameters())
        size = max(1, min(MAX_MEMBERS, MAX_FLOATS // n_params))
        out.extend(members[i:i + size] for i in range(0, len(members), size))
    return out


def train_many(configs: list[Config],
               progress: Callable[[int, int], None] | None = None) -> list[Run]:
    """Train every config and return the Runs in order; same-architecture runs train together.

    `progress(done, total)` is called before each group and once at the end.
    """
    runs: list[Run | None] = [None] * len(configs)
    done = 0
    for members in groups(configs):
        if progress is not None:
            progress(done, len(configs))
        if len(members) == 1:
            runs[members[0]] = train(configs[members[0]])
        else:
            batch = BatchTrainer([configs[i] for i in members])
            for i, run in zip(members, batch.run(), strict=True):
                runs[i] = run
        done += len(members)
    if progress is not None:
        progress(len(configs), len(configs))
    return runs  # type: ignore[return-value]


class BatchTrainer:
    """N runs of one architecture trained together: `run()` returns their N Runs."""

    def __init__(self, configs: list[Config]):
        self.pace = Pace()  # the clocks start here, as lab.train's
        keys = {batch_key(c) for c in configs}
        if len(keys) != 1 or not all(batchable(c) for c in configs):
            raise ValueError("BatchTrainer: configs must be MLPs without early stopping, "
                             "dropout or the plateau schedule that "
                             f"differ only in {', '.join(PER_MEMBER)}")
        self.configs = configs
        self.n = len(configs)

    def run(self) -> list[Run]:
        """Train all members for their (equal) steps; one Run per member, in order."""
        backend = StackBackend(self.configs)
        return TrainingLoop(backend, self.configs[0].steps, update=True, pace=self.pace).run()


class StackBackend:
    """lab.loop's backend for N runs: a lab.stacked.Stack, stacked data and lab.optim."""

    def __init__(self, configs: list[Config]):
        self.configs = configs
        self.cfg = configs[0]
        self.n = len(configs)
        self.device = resolve_device(self.cfg.device)
        self.datas = [load(c) for c in configs]
        self.nets = [build_model(c, d) for c, d in zip(configs, self.datas, strict=True)]

    def setup(self, steps: int, update: bool) -> None:
        """Stack the members' parameters, data, batches and per-member hyperparameters."""
        dev = self.device
        self.stack = Stack(self.nets, dev)
        self.net = self.stack.net
        self.net.train()
        self.weight_sqrt_numels = self.stack.weight_sqrt_numels
        self.param_list = list(self.stack.leaves.values())
        self.bn_updates = 0
        # data: every member's own split, stacked; a batch is an index into the stack
        n_train = len(self.datas[0].x_train)
        self.x_train = torch.cat([d.x_train for d in self.datas]).to(dev)
        self.y_train = torch.cat([d.y_train for d in self.datas]).to(dev)
        # (members, examples, ...) each: validation, then the training subset lab.train evaluates
        sets = [eval_sets(d, torch.device("cpu")) for d in self.datas]
        self.eval_sets = [torch.stack(column).to(dev) for column in zip(*sets, strict=True)]
        cpu = torch.device("cpu")
        index = []
        for m, c in enumerate(self.configs):
            batches = Batches(c, n_train, cpu)
            index.append(torch.stack([batches.next() for _ in range(steps)]) + m * n_train)
        self.index = torch.stack(index, dim=1).to(dev)  # (steps, members, batch)
        decay = [c.weight_decay for c in self.configs]
        self.wd = torch.tensor(decay, device=dev)[:, None] if any(decay) else 0.0
        self.threshold = torch.tensor([c.clip_threshold for c in self.configs], device=dev)
        self.opt = Optimizer(self.cfg.optimizer, [self.stack.flat]) if update else None
        self.before = torch.empty(0)
        self._probing = probes.probe(self.net)
        self.probe = self._probing.__enter__()

    def close(self) -> None:
        """Detach the activation probe (always, even after an error)."""
        if getattr(self, "_probing", None) is not None:
            self._probing.__exit__(None, None, None)
            self._probing = None

    def forward_backward(self, t: int):
        """Every member's loss (members,), flat gradient (members, P), activations and dL/da."""
        idx = self.index[t]
        x, y = self.x_train[idx], self.y_train[idx]
        self.probe.clear()
        logits = self.net(x)  # (members, batch, classes)
        taps = self.probe.acts
        if self.cfg.batchnorm != "none":
            self.bn_updates += 1
        batch = y.shape[1]
        losses = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
        losses = losses.view(self.n, batch).mean(dim=1)
        # members are independent, so d(sum)/d(member's tensors) = d(member's loss)/d(them)
        grads = torch.autograd.grad(losses.sum(), self.param_list + taps)
        k = len(self.param_list)
        return losses.detach(), self.stack.grads_flat(grads[:k]), list(taps), list(grads[k:])

    def grad_norms(self, g: torch.Tensor,
                   layers: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(members,) global gradient norms and, if `layers`, (depth * members,) hidden-weight
        norms (only recorded steps need them)."""
        total = torch.linalg.vector_norm(g, dim=1)
        return total, self.stack.layer_grad_norms(g) if layers else None

    def scale_grads_(self, g: torch.Tensor, coef: torch.Tensor) -> None:
        """Multiply each member's gradient by its clipping coefficient."""
        g.mul_(coef[:, None])

    def clamp_grads_(self, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Clip each member's elements to its +-threshold; (members,) peak before, norm after."""
        thr = self.threshold[:, None]
        peak = g.abs().amax(dim=1)
        torch.clamp(g, -thr, thr, out=g)
        return peak, torch.linalg.vector_norm(g, dim=1)

    def snapshot(self) -> None:
        """Copy the hidden weights before the optimizer step (for update_ratio)."""
        self.before = self.stack.flat[:, :self.stack.hidden_end].clone()

    def step(self, g: torch.Tensor, lrs: list[float]) -> None:
        """One optimizer step of every member at its own learning rate and weight decay."""
        lr = torch.tensor(lrs, dtype=torch.float32, device=self.device)[:, None]
        self.opt.step([g], lr, self.wd)

    def update_ratio(self) -> torch.Tensor:
        """(members, depth) log10 update-to-weight ratios since snapshot()."""
        return self.stack.update_ratio(self.before)

    @torch.no_grad()
    def evaluate(self) -> torch.Tensor:
        """(members, 4) validation and training-subset loss and accuracy, in eval mode."""
        x_val, y_val, x_fit, y_fit = self.eval_sets
        out = []
        self.probe.enabled = False
        self.net.eval()
        try:
            for x, y in ((x_val, y_val), (x_fit, y_fit)):
                logits = self.net(x)  # (members, examples, classes)
                n, k = y.shape
                loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
                out += [loss.view(n, k).mean(dim=1),
                        (logits.argmax(dim=2) == y).float().mean(dim=1)]
        finally:
            self.net.train()
            self.probe.enabled = True
        return torch.stack(out, dim=1)

    def watch(self) -> None:
        """No early stopping in a batch (batchable)."""
        return None

    def describe(self, m: int, run: Run, final: bool) -> None:
        """Member m's weights and predictions, from its own CPU network."""
        net = self.stack.member_net(m, self.nets[m], self.bn_updates)
        run.model_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        run.predictions = predictions(net, self.datas[m], self.configs[m], torch.device("cpu"))
        run.batch_members = self.n
