"""Bench timing: how lab.bench times one call and summarizes repeats."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from lab.trainer import resolve_device


def stats(values: list[float]) -> dict:
    """Median, min, max and count of repeated measurements."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def timed(fn: Callable[[], object]) -> float:
    """Seconds `fn` takes; on CUDA measured with events around it (queued work included)."""
    if torch.cuda.is_available() and resolve_device("auto").type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000.0
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0
