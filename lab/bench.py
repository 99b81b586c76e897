"""Benchmarks: `python -m lab.bench [--quick] [--out FILE]` prints a table and writes JSON.

Every ratio is measured in one process with its sides interleaved, so that load from other
tenants of a shared machine hits both sides alike; each figure is a median with min and max.
On CUDA, times come from CUDA events around the work.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

import lab
from lab.baselines import bare_train, graphed_bare_train, naive_train
from lab.batched import train_many
from lab.bench_dashboard import bench_dashboard_split
from lab.bench_report import budget_lines, print_report
from lab.bench_scaling import bench_scaling, scale_point  # noqa: F401  (python -m lab.bench)
from lab.bench_timing import stats as _stats
from lab.bench_timing import timed as _timed
from lab.config import Config
from lab.loop import one_thread
from lab.trainer import resolve_device

# budget lines of issue 6, on a 2-core CPU (and the default run on CUDA)
BUDGET = {
    "inspect_ms": 50, "inspect_frame_ms": 200, "default_run_s": 1.5, "overhead_x": 1.15,
    "frame_x": 3.0, "naive_x": 5.0, "batched8_x": 3.0, "cuda_default_run_s": 0.5,
    "draw_share": 1 / 3,  # issue 18: drawing's share of a dashboard run's CPU
}
N_FRAMES = 10  # frames drawn in the end-to-end comparison
SECTIONS = ("inspect", "default_run", "recording_overhead", "frame", "dashboard_split",
            "end_to_end", "batched", "scaling", "cuda_graph")


def bench_inspect(cfg: Config, repeats: int) -> dict:
    """Latency of lab.inspect (step-0 statistics) in seconds."""
    lab.inspect(cfg)  # warm: imports, dataset cache
    return _stats([_timed(lambda: lab.inspect(cfg)) for _ in range(repeats)])


def bench_default_run(cfg: Config, repeats: int) -> dict:
    """Seconds, steps per second and time to the first streamed frame of lab.train."""
    seconds, first = [], []
    lab.train(cfg)  # the first run in a process pays one-time costs (reported separately)
    for _ in range(repeats):
        t0 = time.perf_counter()
        stamp: list[float] = []

        def first_frame(run, stamp=stamp, t0=t0):
            if not stamp:
                stamp.append(time.perf_counter() - t0)

        seconds.append(_timed(lambda f=first_frame: lab.train(cfg, on_frame=f)))
        first.append(stamp[0])
    s = _stats(seconds)
    return {"seconds": s, "steps_per_second": cfg.steps / s["median"], "first_frame": _stats(first)}


def bench_overhead(cfg: Config, repeats: int) -> dict:
    """lab.train over the bare loop (no recording) run with its best thread count; paired."""
    threads = torch.get_num_threads()
    counts = sorted({1, threads})
    bare: dict[int, list[float]] = {k: [] for k in counts}
    lab_s, ratios = [], []
    for k in counts:  # warm each thread count
        torch.set_num_threads(k)
        bare_train(cfg)
    for _ in range(repeats):
        best = float("inf")
        for k in counts:
            torch.set_num_threads(k)
            bare[k].append(_timed(lambda: bare_train(cfg)))
            best = min(best, bare[k][-1])
        torch.set_num_threads(threads)
        lab_s.append(_timed(lambda: lab.train(cfg)))
        ratios.append(lab_s[-1] / best)
    torch.set_num_threads(threads)
    best_k = min(counts, key=lambda k: statistics.median(bare[k]))
    return {"ratio": _stats(ratios), "lab_seconds": _stats(lab_s),
            "bare_seconds": {str(k): _stats(v) for k, v in bare.items()},
            "best_threads": best_k, "lab_threads": 1 if _small(cfg) else threads}


def _small(cfg: Config) -> bool:
    """Whether lab.train runs `cfg` on one CPU thread."""
    return one_thread(cfg, 1, resolve_device(cfg.device))


def bench_frame(cfg: Config, repeats: int) -> dict:
    """Seconds for an in-place update + PNG render vs building the figure anew + render.

    Also the dashboard's own pattern: a slider moves (inspect + frame of the new config),
    then that run's frames arrive in order ("stream": its mean counts the frames whose axis
    limits moved, so that part of the figure was drawn afresh).
    """
    from lab.plots import DashboardFigure

    run = lab.train(cfg)
    frames: list = []
    lab.train(cfg, on_frame=frames.append, frame_every=max(1, cfg.steps // 10))
    figure = DashboardFigure()
    figure.update(run)
    figure.png()
    update, rebuild, inspect_frame, sizes = [], [], [], []
    for i in range(repeats):
        frame = frames[i % len(frames)]
        update.append(_timed(lambda frame=frame: (figure.update(frame), figure.png())))

        def anew(frame=frame):
            fresh = DashboardFigure()
            fresh.update(frame)
            sizes.append(len(fresh.png()))

        rebuild.append(_timed(anew))
        inspect_frame.append(_timed(lambda: (figure.update(lab.inspect(cfg)), figure.png())))
    other = cfg.replace(lr=cfg.lr * 10)
    other_frames: list = []
    lab.train(other, on_frame=other_frames.append, frame_every=max(1, cfg.steps // 10))
    slider, stream = [], []
    for i in range(max(2, repeats // 3)):
        now, now_frames = ((other, other_frames), (cfg, frames))[i % 2]
        slider.append(_timed(lambda now=now: (figure.update(lab.inspect(now)), figure.png())))
        stream += [_timed(lambda f=f: (figure.update(f), figure.png())) for f in now_frames]
    u, r = _stats(update), _stats(rebuild)
    return {"update_render": u, "rebuild_render": r, "ratio": r["median"] / u["median"],
            "inspect_and_frame": _stats(inspect_frame), "png_bytes": int(np.median(sizes)),
            "slider_inspect_and_frame": _stats(slider),
            "stream_frame": {**_stats(stream), "mean": statistics.fmean(stream)}}


def bench_end_to_end(cfg: Config, repeats: int) -> dict:
    """lab.train drawing N_FRAMES frames in place vs the naive notebook way drawing as many."""
    from lab.plots import DashboardFigure

    every = max(1, cfg.steps // N_FRAMES)
    lab_s, naive_s, ratios = [], [], []
    counts = []
    for _ in range(repeats):
        figure = DashboardFigure()
        drawn: list[int] = []

        def draw(run, figure=figure, drawn=drawn):
            figure.update(run)
            drawn.append(len(figure.png()))

        lab_s.append(_timed(lambda draw=draw: lab.train(cfg, on_frame=draw, frame_every=every)))
        threads = torch.get_num_threads()
        torch.set_num_threads(1 if _small(cfg) else threads)  # the thread count lab.train uses
        try:
            seconds, pngs, _ = naive_train(cfg, len(drawn))
        finally:
            torch.set_num_threads(threads)
        naive_s.append(seconds)
        counts.append((len(drawn), len(pngs)))
        ratios.append(naive_s[-1] / lab_s[-1])
    return {"ratio": _stats(ratios), "lab_seconds": _stats(lab_s),
            "naive_seconds": _stats(naive_s), "frames": counts[0]}


def bench_batched(cfg: Config, sizes: list[int], repeats: int) -> dict:
    """N runs of one architecture (seeds) trained together vs one after another."""
    train_many([cfg.replace(seed=s) for s in range(2)])  # warm
    out = {}
    for n in sizes:
        configs = [cfg.replace(seed=s) for s in range(n)]
        seq, bat, ratios = [], [], []
        for _ in range(repeats if n <= 8 else 1):
            seq.append(_timed(lambda configs=configs: [lab.train(c) for c in configs]))
            bat.append(_timed(lambda configs=configs: train_many(configs)))
            ratios.append(seq[-1] / bat[-1])
        out[str(n)] = {"ratio": _stats(ratios), "sequential_seconds": _stats(seq),
                       "batched_seconds": _stats(bat)}
    return out


def bench_cuda_graph(cfg: Config, repeats: int) -> dict:
    """CUDA only: the bare loop eager vs with its step captured once as a CUDA graph."""
    bare_train(cfg)
    graphed_bare_train(cfg)
    eager, graphed = [], []
    for _ in range(repeats):
        eager.append(_timed(lambda: bare_train(cfg)))
        graphed.append(_timed(lambda: graphed_bare_train(cfg)))
    e, g = _stats(eager), _stats(graphed)
    return {"eager_seconds": e, "graph_seconds": g, "ratio": e["median"] / g["median"]}


def machine() -> dict:
    """What the numbers were measured on."""
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    dev = resolve_device("auto")
    info = {"platform": platform.platform(), "cpu": cpu, "cores": os.cpu_count(),
            "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "device": str(dev)}
    if dev.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(dev)
    return info


def main(argv: list[str] | None = None) -> dict:
    """Run the suite, print a table, write JSON; return the results."""
    parser = argparse.ArgumentParser(prog="python -m lab.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (under a minute)")
    parser.add_argument("--out", default="bench.json", help="JSON file to write")
    parser.add_argument("--only", default="", metavar="A,B",
                        help=f"run only these sections: {', '.join(SECTIONS)}")
    args = parser.parse_args(argv)
    only = [name for name in args.only.split(",") if name]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        parser.error(f"--only {','.join(unknown)}: unknown section; one of {', '.join(SECTIONS)}")
    quick = args.quick
    reps = 3 if quick else 9
    cfg = Config()
    cuda = resolve_device(cfg.device).type == "cuda"
    results: dict = {"machine": machine(), "quick": quick}

    def section(name: str, fn: Callable[[], dict]) -> None:
        if only and name not in only:
            return
        t0 = time.perf_counter()
        print(f"... {name}", file=sys.stderr, flush=True)
        results[name] = fn()
        results[name]["bench_seconds"] = time.perf_counter() - t0

    section("inspect", lambda: bench_inspect(cfg, 5 * reps))
    section("default_run", lambda: bench_default_run(cfg, reps))
    section("recording_overhead", lambda: bench_overhead(cfg, reps))
    section("frame", lambda: bench_frame(cfg, reps))
    section("dashboard_split", lambda: bench_dashboard_split(cfg, 3 if quick else 5))
    section("end_to_end", lambda: bench_end_to_end(cfg, 1 if quick else 3))
    short = cfg.replace(steps=100) if quick else cfg
    section("batched", lambda: {"steps": short.steps, **bench_batched(
        short, [2, 8] if quick else [2, 8, 32], 1 if quick else 3)})
    section("scaling", lambda: bench_scaling(
        cfg, [1, 10, 100] if quick else [1, 2, 5, 10, 20, 50, 100],
        [16, 256, 1024] if quick else [16, 64, 256, 1024], (5, 15) if quick else (10, 30)))
    if cuda:
        section("cuda_graph", lambda: bench_cuda_graph(cfg, reps))
    results["budget"] = budget(results) if not only else []
    print_report(results, SECTIONS)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {args.out}")
    return results


def budget(r: dict) -> list[dict]:
    """Each budget line of issue 6 with the measured value and whether it is met."""
    return budget_lines(r, BUDGET)


if __name__ == "__main__":
    main()
