"""Benchmarks: `python -m lab.bench [--quick] [--out FILE]` prints a table and writes JSON.

Every ratio is measured in one process with the two sides interleaved, so that load from other
tenants of a shared machine hits both sides alike; each figure is a median with min and max.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

import lab
from lab.config import Config
from lab.data import load
from lab.trainer import SINGLE_THREAD_WIDTH, Batches, lr_at, make_optimizer, resolve_device


def bare_train(cfg: Config) -> float:
    """Seconds for the same model, data, batches and optimizer with no recording at all."""
    t0 = time.perf_counter()
    dev = resolve_device(cfg.device)
    data = load(cfg)
    net = lab.build_model(cfg, data).to(dev)
    net.train()
    params = list(net.parameters())
    opt = make_optimizer(cfg, params)
    batches = Batches(cfg, len(data.x_train), dev)
    x, y = data.x_train.to(dev), data.y_train.to(dev)
    for t in range(cfg.steps):
        idx = batches.next()
        loss = F.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.clip == "norm":
            torch.nn.utils.clip_grad_norm_(params, cfg.clip_threshold, foreach=True)
        elif cfg.clip == "value":
            torch.nn.utils.clip_grad_value_(params, cfg.clip_threshold, foreach=True)
        for group in opt.param_groups:
            group["lr"] = lr_at(cfg, t)
        opt.step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def _stats(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_inspect(cfg: Config, repeats: int) -> dict:
    """Latency of lab.inspect (step-0 statistics) in seconds."""
    lab.inspect(cfg)  # warm: imports, dataset cache
    return _stats([_timed(lambda: lab.inspect(cfg)) for _ in range(repeats)])


def bench_default_run(cfg: Config, repeats: int) -> dict:
    """Seconds, steps per second and time to the first streamed frame of lab.train."""
    seconds, first = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        stamp: list[float] = []

        def first_frame(run, stamp=stamp, t0=t0):
            if not stamp:
                stamp.append(time.perf_counter() - t0)

        run = lab.train(cfg, on_frame=first_frame)
        seconds.append(run.seconds)
        first.append(stamp[0])
    s = _stats(seconds)
    return {"seconds": s, "steps_per_second": cfg.steps / s["median"], "first_frame": _stats(first)}


def bench_overhead(cfg: Config, repeats: int) -> dict:
    """lab.train time over the bare loop's, paired and interleaved, on the same thread count.

    lab.train runs small MLPs on one thread (SINGLE_THREAD_WIDTH); the bare loop gets the same,
    so the ratio measures recording alone.
    """
    threads = torch.get_num_threads()
    small = cfg.arch == "mlp" and cfg.width <= SINGLE_THREAD_WIDTH
    bare_threads = 1 if small else threads
    torch.set_num_threads(bare_threads)
    bare_train(cfg)
    ratios, bare_s, lab_s = [], [], []
    for _ in range(repeats):
        b = bare_train(cfg)
        r = lab.train(cfg).seconds
        bare_s.append(b)
        lab_s.append(r)
        ratios.append(r / b)
    torch.set_num_threads(threads)
    return {"ratio": _stats(ratios), "bare_seconds": _stats(bare_s), "lab_seconds": _stats(lab_s),
            "threads": bare_threads}


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
    png = figure.png()
    update, rebuild, inspect_frame = [], [], []
    for i in range(repeats):
        frame = frames[i % len(frames)]
        update.append(_timed(lambda frame=frame: (figure.update(frame), figure.png())))

        def anew(frame=frame):
            fresh = DashboardFigure()
            fresh.update(frame)
            fresh.png()

        rebuild.append(_timed(anew))
        inspect_frame.append(_timed(lambda: (figure.update(lab.inspect(cfg)), figure.png())))
    u, r = _stats(update), _stats(rebuild)
    other = cfg.replace(lr=cfg.lr * 10)
    other_frames: list = []
    lab.train(other, on_frame=other_frames.append, frame_every=max(1, cfg.steps // 10))
    slider, stream = [], []
    for i in range(max(2, repeats // 3)):
        now, now_frames = ((other, other_frames), (cfg, frames))[i % 2]
        slider.append(_timed(lambda now=now: (figure.update(lab.inspect(now)), figure.png())))
        stream += [_timed(lambda f=f: (figure.update(f), figure.png())) for f in now_frames]
    return {"update_render": u, "rebuild_render": r, "ratio": r["median"] / u["median"],
            "inspect_and_frame": _stats(inspect_frame), "png_bytes": len(png),
            "slider_inspect_and_frame": _stats(slider),
            "stream_frame": {**_stats(stream), "mean": statistics.fmean(stream)}}


def main(argv: list[str] | None = None) -> dict:
    """Run the suite, print a table, write JSON; return the results."""
    parser = argparse.ArgumentParser(prog="python -m lab.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (under a minute)")
    parser.add_argument("--out", default="bench.json", help="JSON file to write")
    args = parser.parse_args(argv)
    reps = 3 if args.quick else 9
    cfg = Config()
    results = {
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "device": str(resolve_device(cfg.device))},
        "inspect": bench_inspect(cfg, 5 * reps),
        "default_run": bench_default_run(cfg, reps),
        "recording_overhead": bench_overhead(cfg, reps),
        "frame": bench_frame(cfg, reps),
    }
    _print(results)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {args.out}")
    return results


def _print(r: dict) -> None:
    def fmt(s: dict, unit: float = 1.0, suffix: str = "s") -> str:
        return (f"{s['median'] * unit:8.3f} {suffix}  "
                f"(min {s['min'] * unit:.3f}, max {s['max'] * unit:.3f}, n={s['n']})")

    print(f"machine: {r['machine']}")
    print(f"{'inspect latency':32s} {fmt(r['inspect'], 1000, 'ms')}")
    d = r["default_run"]
    print(f"{'default run':32s} {fmt(d['seconds'])}  {d['steps_per_second']:.0f} steps/s")
    print(f"{'time to first frame':32s} {fmt(d['first_frame'])}")
    o = r["recording_overhead"]
    print(f"{'recording overhead (ratio)':32s} {fmt(o['ratio'], 1, 'x')}  "
          f"bare {o['bare_seconds']['median']:.3f} s on {o['threads']} thread(s)")
    f = r["frame"]
    print(f"{'frame: update + render':32s} {fmt(f['update_render'], 1000, 'ms')}")
    print(f"{'frame: build anew + render':32s} {fmt(f['rebuild_render'], 1000, 'ms')}  "
          f"ratio {f['ratio']:.2f}x")
    print(f"{'inspect + frame drawn':32s} {fmt(f['inspect_and_frame'], 1000, 'ms')}  "
          f"PNG {f['png_bytes'] / 1024:.0f} KiB")
    print(f"{'  after a slider move':32s} {fmt(f['slider_inspect_and_frame'], 1000, 'ms')}")
    print(f"{'  streamed frames of a run':32s} {fmt(f['stream_frame'], 1000, 'ms')}  "
          f"mean {f['stream_frame']['mean'] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
