"""The training loop, written once: a members axis of one run (lab.train) or many (train_many).

A Backend owns the model(s), data and optimizer; the loop owns the schedule of a training:
evaluations, checks for non-finite values, frames, cancel, the time limit, early stopping, the
plateau schedule and clipping, and records everything into one Recorder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import torch

from lab.config import Config
from lab.evaluation import Plateau, Watch
from lab.recorder import Outcome, Recorder
from lab.run import Run
from lab.schedule import CHECK_EVERY, FRAME_SECONDS, eval_every, lr_at

# Small MLPs run one CPU thread: as fast as two on an idle 2-core machine, and 17x faster
# (11 ms vs 187 ms per inspect) when another process busies a core and OpenMP threads spin.
SINGLE_THREAD_WIDTH = 256


class Backend(Protocol):
    """What the loop needs of the model(s): gradients are the backend's own container."""

    configs: list[Config]
    device: torch.device
    weight_sqrt_numels: torch.Tensor  # (depth * members,) sqrt(numel) of each hidden weight
    threshold: float | torch.Tensor  # the clip threshold: a float or (members,)

    def setup(self, steps: int, update: bool) -> None: ...
    def forward_backward(self, t: int) -> tuple[torch.Tensor, Any, list[torch.Tensor],
                                                list[torch.Tensor]]: ...
    def grad_norms(self, grads: Any, layers: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        ...
    def scale_grads_(self, grads: Any, coef: torch.Tensor) -> None: ...
    def clamp_grads_(self, grads: Any) -> tuple[torch.Tensor, torch.Tensor]: ...
    def snapshot(self) -> None: ...
    def step(self, grads: Any, lrs: list[float]) -> None: ...
    def update_ratio(self) -> torch.Tensor: ...
    def evaluate(self) -> torch.Tensor: ...
    def watch(self) -> Watch | None: ...
    def describe(self, m: int, run: Run, final: bool) -> None: ...
    def close(self) -> None: ...


def one_thread(cfg: Config, members: int, device: torch.device) -> bool:
    """Whether a training runs on one CPU thread: MLPs whose members' widths add up to at most
    SINGLE_THREAD_WIDTH (the one place this rule lives)."""
    return device.type == "cpu" and cfg.arch == "mlp" and cfg.width * members <= SINGLE_THREAD_WIDTH


@contextlib.contextmanager
def process_state(cfg: Config, members: int, device: torch.device) -> Iterator[None]:
    """A training's threads (one_thread) and random streams (dropout masks from cfg.seed + 2),
    both restored after."""
    threads = torch.get_num_threads()
    single = one_thread(cfg, members, device)
    if single:
        torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed + 2)
            if device.type == "cuda":
                torch.cuda.manual_seed(cfg.seed + 2)
            yield
    finally:
        if single:
            torch.set_num_threads(threads)


def device_name(dev: torch.device) -> str:
    """How a Run names its device: "cpu", "mps", or "cuda (<GPU name>)"."""
    if dev.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(dev)})"
    return dev.type


@dataclasses.dataclass
class Pace:
    """When a training hands over frames and when it must stop (lab.train's keywords)."""

    on_frame: Callable[[Run], None] | None = None
    cancel: Callable[[], bool] | None = None
    frame_every: int | None = None
    frame_due: Callable[[], bool] | None = None
    max_seconds: float | None = None
    t0: float = dataclasses.field(default_factory=time.perf_counter)  # setup counts too
    cpu0: float = dataclasses.field(default_factory=time.process_time)
    last_frame: float = dataclasses.field(default_factory=time.perf_counter)

    def stop(self, t: int) -> dict | None:
        """The Outcome fields that end training before step t (cancel, time limit), or None."""
        if self.cancel is not None and self.cancel():
            return {"cancelled": True}
        limit = self.max_seconds
        if t and limit is not None and time.process_time() > self.cpu0 + limit:
            return {"time_limited_at": t, "time_limit": limit}
        return None

    def due(self, done: int) -> bool:
        """Whether a frame is due after `done` steps."""
        if self.on_frame is None:
            return False
        if self.frame_every:
            return done % self.frame_every == 0
        if self.frame_due is not None:
            return self.frame_due()
        return time.perf_counter() - self.last_frame >= FRAME_SECONDS

    def hand_over(self, frame: Run) -> None:
        """Give a frame to on_frame and restart the frame clock."""
        self.on_frame(frame)
        self.last_frame = time.perf_counter()


class TrainingLoop:
    """One training of a Backend's members: `run()` returns one Run per member."""

    def __init__(self, backend: Backend, steps: int, update: bool, pace: Pace | None = None):
        self.b = backend
        self.configs = backend.configs
        self.cfg = self.configs[0]
        self.n = len(self.configs)
        self.steps, self.update = steps, update
        self.pace = pace or Pace()
        self.outcome = Outcome()
        self.diverged: list[int | None] = [None] * self.n
        self.checked = 0
        self.last: tuple[int, list, list] = (-1, [], [])  # step, activations, dL/da

    def run(self) -> list[Run]:
        """Set up, train while recording, and return each member's finished Run."""
        try:
            with process_state(self.cfg, self.n, self.b.device):
                self.b.setup(self.steps, self.update)
                self.rec = Recorder(self.configs, self.b.device, self.steps)
                self.watch = self.b.watch() if self.cfg.early_stopping and self.update else None
                # the plateau schedule needs each validation loss on the host, as early stopping
                self.plateaus = ([Plateau() for _ in self.configs]
                                 if self.cfg.lr_schedule == "plateau" and self.update else None)
                done = self._loop()
                self._settle(done)
                return self._finish(done)
        finally:
            self.b.close()

    def _all_diverged(self) -> bool:
        return all(d is not None for d in self.diverged)

    def _check(self, done: int) -> None:
        """Find members that went non-finite since the last check (one host sync)."""
        found = self.rec.first_nonfinite(self.checked, done)
        self.diverged = [d if d is not None else f for d, f in zip(self.diverged, found,
                                                                     strict=True)]
        self.checked = done

    def _evaluate(self, t: int) -> bool:
        """Evaluate the weights after t updates; True when early stopping ends training."""
        self.rec.validation(t, self.b.evaluate())
        if self.watch is None and self.plateaus is None:
            return False
        losses = self.rec.last_val_loss()
        if self.watch is not None and self.watch.see(t, losses[0]):
            self.outcome = dataclasses.replace(self.outcome, stopped_early_at=t)
            return True
        for plateau, loss in zip(self.plateaus or [], losses, strict=False):
            plateau.see(loss)
        return False

    def _loop(self) -> int:
        """Run the steps; return how many were done."""
        pace, every, done = self.pace, eval_every(self.steps), 0
        pace.last_frame = time.perf_counter()
        for t in range(self.steps):
            stop = pace.stop(t)
            if stop is not None:
                self.outcome = dataclasses.replace(self.outcome, **stop)
                break
            # the evaluation at t sees the weights after t updates (the final one: after the loop)
            if t % every == 0 and self._evaluate(t):
                break
            self._step(t)
            done = t + 1
            frame_due = pace.due(done)
            if done - self.checked >= CHECK_EVERY or frame_due:
                self._check(done)
                if self._all_diverged():
                    break
                if frame_due:
                    frame = self._frame(done)
                    self.b.describe(0, frame, final=False)
                    pace.hand_over(frame)
        return done

    def _step(self, t: int) -> None:
        """One forward/backward of every member, recording, clipping and optimizer step."""
        b, rec = self.b, self.rec
        losses, grads, acts, act_grads = b.forward_backward(t)
        row = rec.row_of.get(t)
        with torch.no_grad():  # recording never joins the graph
            total, layer_norms = b.grad_norms(grads, row is not None)  # before clipping
            rec.loss.append(losses.detach())
            rec.gnorm.append(total)
            clip(self.cfg, b, rec, grads, total)
            if row is not None:
                rec.layer_row(row, acts, act_grads, layer_norms, b.weight_sqrt_numels)
            if t in rec.snaps:
                rec.histogram(t, acts, act_grads)
            self.last = (t, list(acts), act_grads)  # histogrammed under no_grad if needed
            scales = [p.scale for p in self.plateaus] if self.plateaus else [1.0] * self.n
            lrs = [lr_at(c, t) * s for c, s in zip(self.configs, scales, strict=True)]
            rec.lr[t] = lrs
            if not self.update:
                return
            if row is not None:
                b.snapshot()
            b.step(grads, lrs)
            if row is not None:
                rec.update_row(row, b.update_ratio())

    def _settle(self, done: int) -> None:
        """After the loop: the last check, the final weights' evaluation (unless every member
        diverged; early stopping may restore the best weights) and the last step's histogram."""
        self._check(done)
        if self.update and not self._all_diverged():
            self._final_evaluation(done)
        last_t, last_acts, last_grads = self.last
        if not self._all_diverged() and last_t >= 0 and last_t not in self.rec.snaps:
            with torch.no_grad():  # cancelled or stopped early: the last step gets its histogram
                self.rec.histogram(last_t, last_acts, last_grads)
        self.last = (-1, [], [])

    def _final_evaluation(self, done: int) -> None:
        """Evaluate the weights after the last update unless the loop just did: not finite means
        diverged at step `done`; restore_best loads the best weights."""
        rec = self.rec
        fresh = not rec.val_steps or rec.val_steps[-1] != done
        if fresh:
            rec.validation(done, self.b.evaluate())
        losses = rec.last_val_loss()  # one host sync per run
        for m, loss in enumerate(losses):
            if self.diverged[m] is None and not math.isfinite(loss):
                self.diverged[m] = done  # the last update blew the weights up
        if self.watch is not None and self.diverged[0] is None and not self.outcome.cancelled:
            if fresh:
                self.watch.see(done, losses[0])  # the final weights may be the best
            self.outcome = dataclasses.replace(self.outcome, restored_from=self.watch.restore(done))

    def _frame(self, n_steps: int, m: int = 0, diverged: int | None = None,
               finished: bool = False) -> Run:
        outcome = dataclasses.replace(self.outcome, diverged_at=diverged, finished=finished)
        return self.rec.to_run(m, n_steps, device_name(self.b.device),
                               time.perf_counter() - self.pace.t0, outcome)

    def _finish(self, done: int) -> list[Run]:
        """One finished Run per member, cut where it diverged (keeping the step that blew up)."""
        runs = []
        for m, diverged in enumerate(self.diverged):
            n_steps = diverged + 1 if diverged is not None and diverged < done else done
            run = self._frame(n_steps, m, diverged, finished=True)
            self.b.describe(m, run, final=True)
            runs.append(run)
        if self.pace.on_frame is not None:
            self.pace.on_frame(runs[0])
        return runs


def clip(cfg: Config, backend: Backend, rec: Recorder, grads: Any, total: torch.Tensor) -> None:
    """Clip gradients in place and record the applied norm and whether clipping acted."""
    threshold = backend.threshold
    if cfg.clip == "norm":
        coef = (threshold / (total + 1e-6)).clamp_(max=1.0)  # as clip_grad_norm_
        backend.scale_grads_(grads, coef)
        rec.applied.append(total * coef)
        rec.clipped.append(total > threshold)
    elif cfg.clip == "value":
        peak, applied = backend.clamp_grads_(grads)
        rec.applied.append(applied)
        rec.clipped.append(peak > threshold)
