"""Limits: how big a run a public server accepts, and how long a run may take.

The size of a run is measured in work units, a cost model fitted to lab.train on one CPU thread
(2-core x86-64, torch 2.13): one unit is one hidden layer's forward and backward pass on one
batch, or one million multiply-adds of that pass. Small layers cost their per-op overhead (a
100-layer net of width 4: 0.13 ms per layer and step), big ones their multiply-adds (width 512:
0.11 ns each), so neither depth x steps nor FLOPs alone tracks the time; their sum does: over 16
configs from width 4 to 1024, MLP and CNN, BatchNorm and dropout, a unit cost 0.10-0.15 ms of
CPU time (median 0.13), plus ~0.2 s of setup per run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from lab.config import Config
from lab.schedule import MAX_VAL, VAL_FRACTION, eval_every

MAX_WORK_ENV = "LAB_MAX_WORK"
MAX_SECONDS_ENV = "LAB_MAX_SECONDS"
# 40,000 units: 4-6 s of training on one idle core, ~8-10 s in the dashboard, whose drawing
# adds 60-100% (a 100-layer default net fits with 250 steps, not 300).
DEFAULT_MAX_WORK = 40_000.0
# 10 s of the kernel's CPU time: the ceiling for one run, setup and the dashboard's drawing
# included; a run still going then (the work estimate was off) stops and shows what it has. CPU
# time, not wall time: when a class arrives at once, 5 kernels starting on 2 cores stretched the
# default run (2.6 s of CPU) to 11.5 s of wall time, and a wall limit cut it at step 258 of 300.
DEFAULT_MAX_SECONDS = 10.0
SECONDS_PER_UNIT = 0.15e-3  # the slowest measured (module docstring); for messages only
_OFF = ("", "0", "off", "none", "no")
_PIXELS = {"digits": 8 * 8, "mnist": 28 * 28, "fashion_mnist": 28 * 28}  # images per dataset


class LimitError(ValueError):
    """A config over this server's limits; the message names the limit and what is allowed."""


def work(cfg: Config) -> float:
    """Estimated cost of training `cfg`, in work units (see the module docstring)."""
    ops = 1 + (cfg.batchnorm != "none") + (cfg.dropout > 0)  # each op costs per-op overhead
    batch = min(cfg.batch_size, cfg.n_samples)
    n_val = min(MAX_VAL, max(1, round(VAL_FRACTION * cfg.n_samples)))
    every = eval_every(cfg.steps)
    evals = math.ceil(cfg.steps / every) + 1
    # multiply-adds of one hidden layer per example (layer 1 counted as wide as the rest)
    macs = cfg.width ** 2 * (9 * _PIXELS.get(cfg.dataset, 1) if cfg.arch == "cnn" else 1)
    # an evaluation is a forward pass only (about a third of a training example's cost) of the
    # validation examples and as many training examples
    examples = cfg.steps * batch + evals * 2 * n_val / 3
    return cfg.depth * (cfg.steps * ops + examples * macs / 1e6)


@dataclass(frozen=True)
class Limits:
    """The caps one server applies; None turns a cap off."""

    max_work: float | None = DEFAULT_MAX_WORK  # work units per run (LAB_MAX_WORK)
    max_seconds: float | None = DEFAULT_MAX_SECONDS  # CPU seconds per run (LAB_MAX_SECONDS)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """Caps from LAB_MAX_WORK and LAB_MAX_SECONDS: unset = default, 0/off/empty = no cap."""
        env = os.environ if environ is None else environ
        return cls(max_work=_read(env, MAX_WORK_ENV, DEFAULT_MAX_WORK),
                   max_seconds=_read(env, MAX_SECONDS_ENV, DEFAULT_MAX_SECONDS))

    def refusal(self, cfg: Config) -> str | None:
        """Why `cfg` is refused (one sentence naming the limit), or None if it is allowed."""
        if self.max_work is None:
            return None
        units = work(cfg)
        if units <= self.max_work:
            return None
        size = f"depth {cfg.depth} x width {cfg.width} x {cfg.steps} steps"
        return (f"Too big for this server: {size} (batch {cfg.batch_size}) is "
                f"{units:,.0f} units of work, about {units * SECONDS_PER_UNIT:.0f} s; the limit "
                f"{MAX_WORK_ENV} allows {self.max_work:,.0f} (about "
                f"{self.max_work * SECONDS_PER_UNIT:.0f} s). Use fewer layers, units or steps, "
                "or a smaller batch.")

    def check(self, cfg: Config) -> None:
        """Raise LimitError if `cfg` is over the work cap."""
        problem = self.refusal(cfg)
        if problem:
            raise LimitError(problem)


def _read(env: Mapping[str, str], name: str, default: float) -> float | None:
    text = env.get(name)
    if text is None:
        return default
    if text.strip().lower() in _OFF:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name}={text!r}: must be a positive number, or 0 / off for no limit")
    return value
