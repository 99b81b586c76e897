"""Trainer: train(cfg) and inspect(cfg), one nn.Module trained by lab.loop on one device."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from lab import allocator, probes, trace
from lab.config import Config
from lab.data import Dataset, load
from lab.evaluation import Evaluator, Watch
from lab.loop import Pace, TrainingLoop
from lab.models import build_model
from lab.optim import Optimizer
from lab.predictions import predictions
from lab.run import Run

allocator.tune()  # the steps' temporaries stay in the heap (see lab.allocator)


def resolve_device(name: str) -> torch.device:
    """The torch device for Config.device: "auto" picks cuda, then mps, then cpu."""
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if (name == "cuda" and not cuda) or (name == "mps" and not mps):
        raise ValueError(f"device={name!r}: not available on this machine; use 'auto' or 'cpu'")
    return torch.device(name)


class Batches:
    """Seeded shuffled mini-batches, one epoch permutation at a time (drop-last)."""

    def __init__(self, cfg: Config, n_train: int, device: torch.device):
        self.size = min(cfg.batch_size, n_train)
        self.n = n_train
        self.device = device
        self.gen = torch.Generator().manual_seed(cfg.seed + 1)
        self.perm = torch.empty(0, dtype=torch.long)
        self.pos = 0

    def next(self) -> torch.Tensor:
        """Indices of the next batch, on the device."""
        if self.pos + self.size > len(self.perm):
            self.perm = torch.randperm(self.n, generator=self.gen).to(self.device)
            self.pos = 0
        idx = self.perm[self.pos:self.pos + self.size]
        self.pos += self.size
        return idx


def inspect(cfg: Config) -> Run:
    """Record step 0 only: one forward/backward at initialization on the first batch, no update."""
    trace.mark("inspect")
    run = TrainingLoop(ModuleBackend(cfg), steps=1, update=False, pace=Pace()).run()[0]
    run.at_init = True
    trace.mark("inspected")
    return run


def train(cfg: Config, on_frame: Callable[[Run], None] | None = None,
          cancel: Callable[[], bool] | None = None, frame_every: int | None = None,
          max_seconds: float | None = None, frame_due: Callable[[], bool] | None = None) -> Run:
    """Train for cfg.steps steps and return the Run.

    `on_frame(run)` gets a consistent partial Run about every FRAME_SECONDS and the final Run at
    the end; `cancel()` returning True stops training before the next step and returns the
    partial Run with cancelled=True. Non-finite loss or gradients end training with
    `diverged_at` set (no exception). `frame_every=k` hands over a frame after every k-th step
    instead (for animations and tests); `frame_due()`, asked after each step, replaces the
    clock: a frame is built only when it returns True (the dashboard's pacing). After
    `max_seconds` of this process's CPU time (setup and on_frame included) training stops before
    the next step, with `time_limited_at` set; the first step always runs. CPU time, not wall
    time: on a server shared by a class, a run slowed by the others' runs is not the one to stop.
    """
    pace = Pace(on_frame, cancel, frame_every, frame_due, max_seconds)  # the clocks start here
    return TrainingLoop(ModuleBackend(cfg), cfg.steps, update=True, pace=pace).run()[0]


class ModuleBackend:
    """lab.loop's backend for one run: the nn.Module of lab.models and lab.optim on one device."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.configs = [cfg]
        self.device = resolve_device(cfg.device)
        self.data: Dataset = load(cfg)
        self.threshold = cfg.clip_threshold
        self.probe: probes.ActivationProbe | None = None
        self._probing = None

    def setup(self, steps: int, update: bool) -> None:
        """Build the network, its optimizer and the batches; start capturing activations."""
        cfg, dev = self.cfg, self.device
        self.net = net = build_model(cfg, self.data).to(dev)
        net.train()
        self.x_train, self.y_train = self.data.x_train.to(dev), self.data.y_train.to(dev)
        self.evaluator = Evaluator(net, cfg, self.data, dev)
        self.params = list(net.parameters())
        weights = net.hidden_weights()
        ids = {id(p): i for i, p in enumerate(self.params)}
        self.w_index = torch.tensor([ids[id(w)] for w in weights], device=dev)
        self.weight_sqrt_numels = torch.tensor([w.numel() ** 0.5 for w in weights], device=dev)
        self.opt = Optimizer(cfg.optimizer, self.params) if update else None
        self.weights = [w.detach() for w in weights]
        self.before: list[torch.Tensor] = []
        self.batches = Batches(cfg, len(self.x_train), dev)
        self._probing = probes.probe(net)
        self.probe = self._probing.__enter__()

    def close(self) -> None:
        """Detach the activation probe from the network (always, even after an error)."""
        if self._probing is not None:
            self._probing.__exit__(None, None, None)
            self._probing, self.probe = None, None

    def forward_backward(self, t: int):
        """Loss (1,), parameter gradients, activations and dL/da, each with a members axis."""
        for p in self.params:  # free last step's gradients first, as zero_grad(set_to_none) does
            p.grad = None
        idx = self.batches.next()
        probe = self.probe
        probe.clear()
        loss = F.cross_entropy(self.net(self.x_train[idx]), self.y_train[idx])
        acts = probe.acts
        # one backward pass yields the parameter gradients and every dL/d(activation)
        grads = torch.autograd.grad(loss, self.params + acts)
        n = len(self.params)
        return (loss.detach().reshape(1), list(grads[:n]), [a.unsqueeze(0) for a in acts],
                [g.unsqueeze(0) for g in grads[n:]])

    def grad_norms(self, grads: list[torch.Tensor],
                   layers: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(1,) global gradient norm and, if `layers`, (depth,) each hidden weight's."""
        norms = torch.stack(torch._foreach_norm(grads))
        total = torch.linalg.vector_norm(norms).reshape(1)
        return total, norms[self.w_index] if layers else None

    def scale_grads_(self, grads: list[torch.Tensor], coef: torch.Tensor) -> None:
        """Multiply every gradient by the (1,) clipping coefficient."""
        torch._foreach_mul_(grads, coef.reshape(()))

    def clamp_grads_(self, grads: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Clip every element to +-threshold; return the (1,) peak |g| before and norm after."""
        peak = torch.stack(torch._foreach_norm(grads, float("inf"))).max()
        torch._foreach_clamp_min_(grads, -self.threshold)
        torch._foreach_clamp_max_(grads, self.threshold)
        applied = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
        return peak.reshape(1), applied.reshape(1)

    def snapshot(self) -> None:
        """Copy the hidden weights before the optimizer step (for update_ratio)."""
        self.before = [w.clone() for w in self.weights]

    def step(self, grads: list[torch.Tensor], lrs: list[float]) -> None:
        """One optimizer step at the step's learning rate."""
        self.opt.step(grads, lrs[0], self.cfg.weight_decay)

    def update_ratio(self) -> torch.Tensor:
        """(1, depth) log10(std(applied update) / std(W)) since snapshot()."""
        delta = [w - b for w, b in zip(self.weights, self.before, strict=True)]
        ratio = probes.per_tensor_std(delta) / probes.per_tensor_std(self.before)
        return torch.log10(ratio).unsqueeze(0)

    def evaluate(self) -> torch.Tensor:
        """(1, 4) validation and training-subset loss and accuracy, in eval mode."""
        return self.evaluator(self.probe).unsqueeze(0)

    def watch(self) -> Watch:
        """Early stopping's watch over this network."""
        return Watch(self.cfg, self.net)

    def describe(self, m: int, run: Run, final: bool) -> None:
        """Add what the network predicts now and, to the final Run, its weights."""
        if final:
            state = self.net.state_dict()
            run.model_state = {k: v.detach().cpu().clone() for k, v in state.items()}
        probe = self.probe
        if probe is not None:
            probe.enabled = False
        try:
            run.predictions = predictions(self.net, self.data, self.cfg, self.device)
        finally:
            if probe is not None:
                probe.enabled = True

