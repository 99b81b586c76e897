"""The benchmark's report: the table `python -m lab.bench` prints and the budget comparison.

lab/bench.py measures (its `bench_*` functions, BUDGET and SECTIONS); this module only formats
their results, so it imports neither torch nor the lab's engine.
"""

from __future__ import annotations

from collections.abc import Callable


def budget_lines(r: dict, budget: dict[str, float]) -> list[dict]:
    """Each line of `budget` (lab.bench.BUDGET: issue 6) with the measured value of the results
    `r` and whether it is met."""
    cuda = r["machine"]["device"].startswith("cuda")
    lines = [
        ("inspect latency", r["inspect"]["median"] * 1000, "<=", budget["inspect_ms"], "ms"),
        ("inspect + frame drawn", r["frame"]["inspect_and_frame"]["median"] * 1000, "<=",
         budget["inspect_frame_ms"], "ms"),
        ("default run" + (" (CUDA)" if cuda else ""), r["default_run"]["seconds"]["median"],
         "<=", budget["cuda_default_run_s" if cuda else "default_run_s"], "s"),
        ("recording overhead", r["recording_overhead"]["ratio"]["median"], "<=",
         budget["overhead_x"], "x"),
        ("frame: rebuild / update", r["frame"]["ratio"], ">=", budget["frame_x"], "x"),
        ("naive / lab, end to end", r["end_to_end"]["ratio"]["median"], ">=",
         budget["naive_x"], "x"),
        ("sequential / batched, N=8", r["batched"]["8"]["ratio"]["median"], ">=",
         budget["batched8_x"], "x"),
    ]
    if "dashboard_split" in r:
        lines.append(("drawing share, dashboard run (cold)",
                      r["dashboard_split"]["cold"]["share"]["median"], "<=", budget["draw_share"],
                      ""))
    return [{"what": w, "value": v, "op": op, "budget": b, "unit": u,
             "met": bool(v <= b if op == "<=" else v >= b)} for w, v, op, b, u in lines]


def print_report(r: dict, sections: tuple[str, ...]) -> None:
    """The table of the results `r`, section by section in the order of `sections` (lab.bench.
    SECTIONS; those that were not run are left out), then the budget lines."""
    print(f"machine: {r['machine']}")
    for name in sections:
        if name in r:
            _PRINTERS[name](r[name])
    if r["budget"]:
        print("budget:")
    for line in r["budget"]:
        mark = "met" if line["met"] else "NOT MET"
        print(f"  {line['what']:32s} {line['value']:8.3f} {line['unit']:2s} "
              f"(budget {line['op']} {line['budget']}) {mark}")


def _fmt(s: dict, unit: float = 1.0, suffix: str = "s") -> str:
    return (f"{s['median'] * unit:8.3f} {suffix}  "
            f"(min {s['min'] * unit:.3f}, max {s['max'] * unit:.3f}, n={s['n']})")


def _p_inspect(i: dict) -> None:
    print(f"{'inspect latency':34s} {_fmt(i, 1000, 'ms')}")


def _p_default_run(d: dict) -> None:
    print(f"{'default run':34s} {_fmt(d['seconds'])}  {d['steps_per_second']:.0f} steps/s")
    print(f"{'time to first frame':34s} {_fmt(d['first_frame'])}")


def _p_overhead(o: dict) -> None:
    print(f"{'recording overhead (ratio)':34s} {_fmt(o['ratio'], 1, 'x')}  bare loop best on "
          f"{o['best_threads']} thread(s), lab on {o['lab_threads']}")


def _p_frame(f: dict) -> None:
    print(f"{'frame: update + render':34s} {_fmt(f['update_render'], 1000, 'ms')}")
    print(f"{'frame: build anew + render':34s} {_fmt(f['rebuild_render'], 1000, 'ms')}  "
          f"ratio {f['ratio']:.2f}x, PNG {f['png_bytes'] / 1024:.0f} KiB")
    print(f"{'inspect + frame drawn':34s} {_fmt(f['inspect_and_frame'], 1000, 'ms')}")
    print(f"{'  after a slider move':34s} {_fmt(f['slider_inspect_and_frame'], 1000, 'ms')}")
    print(f"{'  streamed frames of a run':34s} {_fmt(f['stream_frame'], 1000, 'ms')}  "
          f"mean {f['stream_frame']['mean'] * 1000:.0f} ms")


def _p_dashboard_split(r: dict) -> None:
    for kind in ("cold", "warm", "long", "new depth"):
        if kind not in r:
            continue
        d = r[kind]
        ms = {name: f"{cost * 1000:.0f}" for name, cost in d["per_frame"].items()}
        label = f"{kind} ({d['steps']} steps)" if kind == "long" else kind
        print(f"{'dashboard run: CPU split, ' + label:34s} train {d['train']['median']:.2f} s, "
              f"draw {d['draw']['median']:.2f} s, {d['frames']['median']:.0f} frames, drawing "
              f"{d['share']['median']:.1%} (min {d['share']['min']:.1%}, max "
              f"{d['share']['max']:.1%}, n={d['share']['n']})")
        print(f"{'  per frame, CPU ms':34s} " + ", ".join(f"{k} {v}" for k, v in ms.items())
              + f"; {d['frame_bytes'] / 1024:.0f} KiB a frame (step 0: "
              f"{d['first_frame_bytes'] / 1024:.0f} KiB)")


def _p_end_to_end(e: dict) -> None:
    print(f"{'end to end: naive / lab':34s} {_fmt(e['ratio'], 1, 'x')}  lab "
          f"{e['lab_seconds']['median']:.2f} s, naive {e['naive_seconds']['median']:.2f} s, "
          f"{e['frames'][0]} frames")


def _p_batched(b: dict) -> None:
    for n in ("2", "8", "32"):
        if n in b:
            label = f"batched N={n} ({b['steps']} steps)"
            print(f"{label:34s} {_fmt(b[n]['ratio'], 1, 'x')}  "
                  f"sequential {b[n]['sequential_seconds']['median']:.2f} s, batched "
                  f"{b[n]['batched_seconds']['median']:.2f} s")


def _p_scaling(s: dict) -> None:
    for axis in ("depth", "width"):
        row = ", ".join(f"{p[axis]}: {p['seconds_per_step'] * 1000:.2f} ms/{p['peak_mib']:.0f} MiB"
                        for p in s[axis])
        print(f"{'per step / peak memory by ' + axis:34s} {row}")
    fit = s["depth_fit"]
    print(f"{'  linear in depth':34s} {fit['seconds_per_layer_step'] * 1e6:.1f} us per layer-step"
          f" + {fit['intercept'] * 1000:.2f} ms, r^2 = {fit['r2']:.3f}")


def _p_cuda_graph(g: dict) -> None:
    print(f"{'bare loop: eager / CUDA graph':34s} {g['ratio']:.2f}x  eager "
          f"{g['eager_seconds']['median']:.3f} s, graph {g['graph_seconds']['median']:.3f} s")


_PRINTERS: dict[str, Callable[[dict], None]] = {
    "inspect": _p_inspect, "default_run": _p_default_run, "recording_overhead": _p_overhead,
    "frame": _p_frame, "dashboard_split": _p_dashboard_split, "end_to_end": _p_end_to_end,
    "batched": _p_batched, "scaling": _p_scaling, "cuda_graph": _p_cuda_graph,
}
