"""Bench scaling: seconds per step and peak memory against depth and width, a process a point."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import torch

import lab
from lab.bench_timing import timed
from lab.config import Config
from lab.trainer import resolve_device


def bench_scaling(cfg: Config, depths: list[int], widths: list[int], steps: tuple[int, int]
                  ) -> dict:
    """Seconds per step and peak memory vs depth (at cfg.width) and width (at cfg.depth).

    Each point runs in a fresh process so that its peak memory is its own.
    """
    points = [("depth", d, cfg.replace(depth=d)) for d in depths]
    points += [("width", w, cfg.replace(width=w)) for w in widths]
    out: dict[str, list] = {"depth": [], "width": []}
    for axis, value, point in points:
        code = ("import json,sys; from lab.bench_scaling import scale_point; "
                "print(json.dumps(scale_point(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))")
        proc = subprocess.run([sys.executable, "-c", code, point.to_json(), str(steps[0]),
                               str(steps[1])], capture_output=True, text=True, check=True)
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        out[axis].append({axis: value, **result})
    per_step = np.array([p["seconds_per_step"] for p in out["depth"]])
    d = np.array(depths, dtype=float)
    slope, intercept = np.polyfit(d, per_step, 1)
    fit = slope * d + intercept
    r2 = 1 - ((per_step - fit) ** 2).sum() / max(((per_step - per_step.mean()) ** 2).sum(), 1e-30)
    out["depth_fit"] = {"seconds_per_layer_step": slope, "intercept": intercept, "r2": r2}
    return out


def scale_point(config_json: str, short: int, long: int) -> dict:
    """One scaling point (run in its own process): seconds per step, peak memory in MiB."""
    cfg = Config.from_json(config_json)
    lab.train(cfg.replace(depth=1, width=16, steps=2))  # imports, data and allocator warm
    dev = resolve_device(cfg.device)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    base = _reset_peak_rss()
    lab.train(cfg.replace(steps=short))  # the first run of this size allocates everything
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2 ** 20
    else:
        peak = _status_mib("VmHWM") - base
    t_short = timed(lambda: lab.train(cfg.replace(steps=short)))
    t_long = timed(lambda: lab.train(cfg.replace(steps=long)))
    n_params = sum(p.numel() for p in lab.build_model(cfg).parameters())
    return {"seconds_per_step": (t_long - t_short) / (long - short), "peak_mib": peak,
            "params": n_params}


def _status_mib(key: str) -> float:
    """A memory figure of /proc/self/status (VmRSS, VmHWM...) in MiB."""
    with open("/proc/self/status") as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith(key + ":"))
    return kib / 1024


def _reset_peak_rss() -> float:
    """Reset the process's peak resident size to its current one (Linux >= 4.0); return it."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_mib("VmRSS")
