"""Trainer: train(cfg) and inspect(cfg), instrumented training into device buffers."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from lab import allocator, probes
from lab.config import Config
from lab.data import Dataset, load
from lab.evaluation import Evaluator, Plateau, Watch
from lab.models import build_model
from lab.recorder import Recorder, UpdateTracker
from lab.run import Run

FRAME_SECONDS = 0.15  # on_frame cadence
N_EVALS = 20  # validation points per run
CHECK_EVERY = 25  # steps between checks for non-finite values (no per-step host sync)
GRID_MACS = 1e8  # multiply-adds allowed for one decision-boundary grid (2-D datasets)
N_IMAGES = 16  # validation images shown with their predictions (image datasets)
# Small MLPs run one CPU thread: as fast as two on an idle 2-core machine, and 17x faster
# (11 ms vs 187 ms per inspect) when another process busies a core and OpenMP threads spin.
SINGLE_THREAD_WIDTH = 256
RMSPROP_ALPHA, RMSPROP_EPS = 0.99, 1e-8  # torch.optim.RMSprop's defaults


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


def lr_at(cfg: Config, step: int) -> float:
    """Learning rate at `step` under cfg.lr_schedule ("plateau": before any reduction, which
    depends on the validation losses; lab.evaluation.Plateau)."""
    if cfg.lr_schedule == "step":
        return cfg.lr * 0.1 ** ((step >= cfg.steps // 2) + (step >= (3 * cfg.steps) // 4))
    if cfg.lr_schedule == "cosine":
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * step / cfg.steps))
    return cfg.lr


def make_optimizer(cfg: Config, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The optimizer Config names (momentum = SGD with momentum 0.9; RMSprop's defaults)."""
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, alpha=RMSPROP_ALPHA, eps=RMSPROP_EPS,
                                   weight_decay=cfg.weight_decay, foreach=True)
    momentum = 0.9 if cfg.optimizer == "momentum" else 0.0
    return torch.optim.SGD(params, lr=cfg.lr, momentum=momentum,
                           weight_decay=cfg.weight_decay, foreach=True)


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
    run = _Trainer(cfg).run(steps=1, update=False)
    run.at_init = True
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
    trainer = _Trainer(cfg)
    trainer.frame_every = frame_every
    trainer.frame_due = frame_due
    if max_seconds is not None:
        trainer.deadline = (trainer.cpu0 + max_seconds, max_seconds)
    return trainer.run(steps=cfg.steps, update=True, on_frame=on_frame, cancel=cancel)


class _Trainer:
    """One training's state: data, model, optimizer and recorder on one device."""

    def __init__(self, cfg: Config):
        self.t0 = time.perf_counter()
        self.cpu0 = time.process_time()
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self.data: Dataset = load(cfg)
        self.status: dict = {"diverged_at": None, "stopped_early_at": None, "cancelled": False}
        self.frame_every: int | None = None
        self.frame_due: Callable[[], bool] | None = None
        self.deadline: tuple[float, float] | None = None  # (process_time, limit in CPU s)

    def run(self, steps: int, update: bool, on_frame=None, cancel=None) -> Run:
        """Build, train `steps` steps while recording, and return the Run."""
        threads = torch.get_num_threads()
        single = (self.device.type == "cpu" and self.cfg.arch == "mlp"
                  and self.cfg.width <= SINGLE_THREAD_WIDTH)
        if single:
            torch.set_num_threads(1)
        try:
            return self._run_seeded(steps, update, on_frame, cancel)
        finally:
            if single:
                torch.set_num_threads(threads)

    def _run_seeded(self, steps: int, update: bool, on_frame, cancel) -> Run:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.cfg.seed + 2)  # dropout masks
            if self.device.type == "cuda":
                torch.cuda.manual_seed(self.cfg.seed + 2)
            self._setup(steps, update)
            with probes.probe(self.net) as probe:
                self.probe = probe
                done = self._loop(probe, steps, update, on_frame, cancel)
                if self.status["diverged_at"] is None:
                    self.status["diverged_at"] = self.rec.first_nonfinite(self.checked, done)
                if update and self.status["diverged_at"] is None:
                    self._final_evaluation(probe, done)
            self.probe = None
        last_t, last_acts, last_grads = self.last
        if self.status["diverged_at"] is None and last_t >= 0 and last_t not in self.rec.snaps:
            with torch.no_grad():  # cancelled or stopped early: the last step gets its histogram
                self.rec.histogram(last_t, last_acts, last_grads)
        self.last = (-1, [], [])
        diverged = self.status["diverged_at"]
        if diverged is not None and diverged < done:
            done = diverged + 1  # keep the diverging step: it shows what blew up
        result = self._frame(done, finished=True)
        result.model_state = {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()}
        if on_frame is not None:
            on_frame(result)
        return result

    def _setup(self, steps: int, update: bool) -> None:
        cfg, dev = self.cfg, self.device
        self.net = net = build_model(cfg, self.data).to(dev)
        net.train()
        self.x_train, self.y_train = self.data.x_train.to(dev), self.data.y_train.to(dev)
        self.evaluate = Evaluator(net, cfg, self.data, dev)
        # early stopping needs each validation loss on the host (one sync per evaluation)
        self.watch = Watch(cfg, net) if cfg.early_stopping and update else None
        # the plateau schedule also needs them: its factor changes the steps that follow
        self.plateau = Plateau() if cfg.lr_schedule == "plateau" and update else None
        self.params = list(net.parameters())
        weights = net.hidden_weights()
        ids = {id(p): i for i, p in enumerate(self.params)}
        self.w_index = torch.tensor([ids[id(w)] for w in weights], device=dev)
        self.w_sqrt_numel = torch.tensor([w.numel() ** 0.5 for w in weights], device=dev)
        self.opt = make_optimizer(cfg, self.params) if update else None
        self.updates = UpdateTracker(weights)
        self.rec = Recorder(cfg, dev, steps)
        self.batches = Batches(cfg, len(self.x_train), dev)
        self.checked = 0
        self.last: tuple[int, list, list] = (-1, [], [])  # step, activations, dL/da
        self.dev_name = device_name(dev)

    def _frame(self, n_steps: int, finished: bool = False) -> Run:
        run = self.rec.to_run(n_steps, self.dev_name, time.perf_counter() - self.t0,
                              finished=finished, **self.status)
        run.extra.update(self._predictions())
        return run

    def _predictions(self) -> dict:
        """What the model predicts now (grid or images), with recording and train mode off."""
        probe = self.probe
        if probe is not None:
            probe.enabled = False
        try:
            return predictions(self.net, self.data, self.cfg, self.device)
        finally:
            if probe is not None:
                probe.enabled = True

    def _loop(self, probe, steps: int, update: bool, on_frame, cancel) -> int:
        """Run the steps; return how many were done."""
        rec, status = self.rec, self.status
        eval_every = max(1, steps // N_EVALS)
        last_frame, done = time.perf_counter(), 0
        for t in range(steps):
            if cancel is not None and cancel():
                status["cancelled"] = True
                break
            if t and self.deadline is not None and time.process_time() > self.deadline[0]:
                status["time_limited_at"], status["time_limit"] = t, self.deadline[1]
                break
            # the evaluation at t sees the weights after t updates (the final one: after the loop)
            if t % eval_every == 0:
                rec.validation(t, self.evaluate(probe))
                if self.watch is not None and self.watch.see(t, rec.last_val_loss()):
                    status["stopped_early_at"] = t
                    break
                if self.plateau is not None:
                    self.plateau.see(rec.last_val_loss())
            self._step(probe, t, steps, update)
            done = t + 1
            now = time.perf_counter()
            if self.frame_every:
                frame_due = on_frame is not None and done % self.frame_every == 0
            elif self.frame_due is not None:
                frame_due = on_frame is not None and self.frame_due()
            else:
                frame_due = on_frame is not None and now - last_frame >= FRAME_SECONDS
            if done - self.checked >= CHECK_EVERY or frame_due:
                status["diverged_at"] = rec.first_nonfinite(self.checked, done)
                self.checked = done
                if status["diverged_at"] is not None:
                    break
                if frame_due:
                    on_frame(self._frame(done))
                    last_frame = time.perf_counter()
        return done

    def _step(self, probe, t: int, steps: int, update: bool) -> None:
        """One forward/backward, recording, clipping and optimizer step."""
        cfg, rec, params = self.cfg, self.rec, self.params
        for p in params:  # free last step's gradients first, as zero_grad(set_to_none) does
            p.grad = None
        idx = self.batches.next()
        probe.clear()
        loss = F.cross_entropy(self.net(self.x_train[idx]), self.y_train[idx])
        acts = probe.acts
        # one backward pass yields the parameter gradients and every dL/d(activation)
        grads = torch.autograd.grad(loss, params + acts)
        n = len(params)
        p_grads, a_grads = list(grads[:n]), list(grads[n:])
        row = rec.row_of.get(t)
        with torch.no_grad():  # recording never joins the graph
            norms = torch.stack(torch._foreach_norm(p_grads))  # (n_params,)
            total = torch.linalg.vector_norm(norms)
            rec.loss.append(loss.detach())  # 0-d tensors; stacked at frame boundaries only
            rec.gnorm.append(total)
            self._clip(p_grads, total, t)
            if row is not None:
                rec.layer_row(row, probes.layer_stats(
                    acts, a_grads, norms[self.w_index], self.w_sqrt_numel, cfg.activation))
            if t in rec.snaps:
                rec.histogram(t, acts, a_grads)
            self.last = (t, list(acts), a_grads)  # histogrammed under no_grad if needed
            rec.lr[t] = lr_at(cfg, t) * (self.plateau.scale if self.plateau is not None else 1.0)
            if not update:
                return
            for p, g in zip(params, p_grads, strict=True):
                p.grad = g
            for group in self.opt.param_groups:
                group["lr"] = rec.lr[t]
            if row is not None:
                self.updates.snapshot()
            self.opt.step()
            if row is not None:
                rec.layer[probes.N_STATS, row] = self.updates.ratio()

    def _clip(self, grads: list[torch.Tensor], total: torch.Tensor, t: int) -> None:
        """Clip gradients in place and record the applied norm and whether clipping acted."""
        cfg, rec = self.cfg, self.rec
        if cfg.clip == "norm":
            coef = (cfg.clip_threshold / (total + 1e-6)).clamp_(max=1.0)  # as clip_grad_norm_
            torch._foreach_mul_(grads, coef)
            rec.applied.append(total * coef)
            rec.clipped.append(total > cfg.clip_threshold)
        elif cfg.clip == "value":
            peak = torch.stack(torch._foreach_norm(grads, float("inf"))).max()
            torch._foreach_clamp_min_(grads, -cfg.clip_threshold)
            torch._foreach_clamp_max_(grads, cfg.clip_threshold)
            rec.applied.append(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))))
            rec.clipped.append(peak > cfg.clip_threshold)

    def _final_evaluation(self, probe, done: int) -> None:
        """Evaluate the weights after the last update (unless the loop just did) and settle the
        outcome: not finite means diverged at step `done`; restore_best loads the best weights."""
        rec, status = self.rec, self.status
        fresh = not rec.val_steps or rec.val_steps[-1] != done
        if fresh:
            rec.validation(done, self.evaluate(probe))
        loss = rec.last_val_loss()  # one host sync per run
        if not math.isfinite(loss):
            status["diverged_at"] = done  # the last update blew the weights up
            return
        if self.watch is not None and not status["cancelled"]:
            if fresh:
                self.watch.see(done, loss)  # the final weights may be the best
            status["restored_from"] = self.watch.restore(done)


@torch.no_grad()
def predictions(net: torch.nn.Module, data: Dataset, cfg: Config, device: torch.device) -> dict:
    """What `net` predicts: class and confidence over a 2-D grid, or a few validation images."""
    mode_matters = cfg.batchnorm != "none" or cfg.dropout > 0
    was_training = net.training
    if mode_matters:
        net.eval()
    try:
        if data.image_shape is None and data.n_features == 2:
            x = data.x_train
            low, high = x.min(0).values, x.max(0).values
            pad = 0.1 * (high - low)
            low, high = (low - pad).tolist(), (high + pad).tolist()
            # the grid costs points x width^2 x depth: keep it to a few ms on a CPU
            side = int((GRID_MACS / (cfg.width ** 2 * cfg.depth)) ** 0.5)
            side = max(12, min(40, side))
            gx = torch.linspace(low[0], high[0], side)
            gy = torch.linspace(low[1], high[1], side)
            mesh = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), dim=-1).reshape(-1, 2)
            prob = torch.softmax(net(mesh.to(device)), dim=1).cpu()
            if not torch.isfinite(prob).all():
                return {}
            conf, cls = prob.max(dim=1)
            return {"grid_extent": (low[0], high[0], low[1], high[1]),
                    "grid_class": cls.reshape(side, side).numpy(),
                    "grid_confidence": conf.reshape(side, side).numpy()}
        if data.image_shape is not None:
            logits = net(data.x_val[:N_IMAGES].to(device))
            if not torch.isfinite(logits).all():
                return {}
            return {"image_pred": logits.argmax(dim=1).cpu().numpy()}
        return {}
    finally:
        if mode_matters:
            net.train(was_training)


def device_name(dev: torch.device) -> str:
    """How a Run names its device: "cpu", "mps", or "cuda (<GPU name>)"."""
    if dev.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(dev)})"
    return dev.type
