"""Live feel for one student: slider -> first new figure and -> finished run, in a real browser.

    .venv/bin/python tools/live_feel.py              # 10 moves of the depth slider, idle server
    .venv/bin/python tools/live_feel.py --field lr   # the learning rate: the default network

Starts Voila as `make demo` does (tools/loadtest.py's Server: config/voila.py, one torch thread
per kernel, its preheated pool) with an empty result cache (every move trains) and LAB_TRACE
set, so the kernel appends its steps to a trace file (lab/trace.py). Opens the dashboard in
headless chromium at a desktop size, waits for the first run to finish, then moves the depth
slider (or the learning rate) MOVES times, each value new, and waits for each run to finish.

Every step is timed on one clock, the machine's epoch time: time.time() in the kernel,
performance.timeOrigin + performance.now() in the page. Per move, the way from the key press
in the slider's readout to the first new figure on screen is cut into stages (each from the
end of the one before): the page sending the widget message, the message reaching the kernel,
the kernel's control handler until inspect starts (worker, cache look-up), lab.inspect's step
0, the frame view (diagnosis), drawing (figure.update), rasterizing and encoding (figure.png),
the image reaching the page (send, Voila, websocket), the widget manager setting the <img>,
decoding, painting. The kernel's stages also get the worker thread's CPU time.
Prints p50/p95 per stage and writes test-artifacts/live_feel.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_clients import BROWSER_ARGS, DONE, FIGURE, STATUS_JS  # noqa: E402
from loadtest import Server, _free_port  # noqa: E402

from lab import trace  # noqa: E402

# each field's successive values, each one new: around the default depth 10 (a new figure
# layout per move), and around the default learning rate 0.003 on the log slider's grid of
# 0.05 decades (the default network; the figure keeps its layout)
VALUES = {"depth": (9, 11, 8, 12, 7, 13, 6, 14, 5, 15),
          "lr": tuple(float(f"{10 ** e:.6g}") for e in (-2.45, -2.55, -2.4, -2.6, -2.35,
                                                      -2.65, -2.3, -2.7, -2.25, -2.75))}
BIG = 20_000  # bytes: a websocket message this large carries the figure
# Installed before the page's scripts: timestamps of key presses, websocket traffic, the
# figure's <img> (src set, decoded, painted) and the status line, on the epoch clock.
INIT_JS = """
(() => {
  const now = () => performance.timeOrigin + performance.now();
  const events = [];
  window.__lab = {events};
  const size = d => d == null ? 0 : (d.byteLength ?? d.size ?? d.length ?? 0);
  const Native = window.WebSocket;
  class Traced extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', e => {
        const n = size(e.data);
        if (n >= BIG) events.push(['ws_in', now(), n]);
      });
    }
    send(data) { events.push(['ws_out', now(), size(data)]); return super.send(data); }
  }
  window.WebSocket = Traced;
  document.addEventListener('keydown', e => {
    if (e.key === 'Enter') events.push(['enter', now()]);
  }, true);
  let status = null;
  const watch = () => {
    new MutationObserver(records => {
      const t = now();
      for (const r of records) {
        const img = r.target;
        if (r.type === 'attributes' && img.tagName === 'IMG' && img.matches(FIGURE)
            && /^(blob:|data:)/.test(img.src)) {
          const src = img.src;
          events.push(['src', t, src]);
          img.decode().then(() => {
            events.push(['decoded', now(), src]);
            requestAnimationFrame(() => setTimeout(() => events.push(['painted', now(), src])));
          }, () => events.push(['decode_failed', now(), src]));
        }
      }
      const el = document.querySelector('.lab-status');
      const text = el ? el.innerText : null;
      if (text !== status) { status = text; events.push(['status', t, text]); }
    }).observe(document.documentElement, {subtree: true, childList: true, characterData: true,
                                           attributes: true, attributeFilter: ['src']});
  };
  if (document.documentElement) watch(); else addEventListener('DOMContentLoaded', watch);
})();
""".replace("BIG", str(BIG)).replace("FIGURE", json.dumps(FIGURE))

DISPLAY_JS = """() => {
    const img = document.querySelector(FIGURE);
    return {natural: img.naturalWidth, shown: img.clientWidth, dpr: window.devicePixelRatio};
}""".replace("FIGURE", json.dumps(FIGURE))
# True once the status line differs from `old` and says that a run ended
NEW_DONE_JS = """([old, pattern]) => {
    const el = document.querySelector('.lab-status');
    return !!el && el.innerText !== old && new RegExp(pattern).test(el.innerText);
}"""
# (name, what it is): consecutive, so that they add up to slider -> first figure painted
STAGES = (
    ("page_send", "key press -> widget message sent (page)"),
    ("to_kernel", "message -> kernel's control handler (Voila, zmq)"),
    ("handler", "handler -> inspect starts (worker wakes, cache look-up)"),
    ("inspect", "lab.inspect (step-0 Run: one forward/backward)"),
    ("view", "step-0 Run -> drawing starts (frame view, diagnosis)"),
    ("draw", "figure.update (artists; a new layout if depth changed)"),
    ("encode", "figure.png (rasterize changed panels, PNG encode)"),
    ("to_page", "PNG -> message in the page (trait, zmq, Voila, websocket)"),
    ("widget", "message -> <img> src set (widget manager)"),
    ("decode", "image decode"),
    ("paint", "decoded -> painted"),
)
# the worker thread's CPU time between two of its marks: (name, from, to)
CPU_STAGES = (("inspect", "inspect", "inspected"), ("view", "inspected", "draw"),
              ("draw", "draw", "drawn"), ("encode", "drawn", "encoded"))
# after the first figure's PNG, to the finished status line in the page (these add up too)
RUN_STAGES = (
    ("train", "step-0 PNG -> last frame's drawing starts (training, other frames)"),
    ("final_frame", "last frame: drawing, encoding"),
    ("final_to_page", "last PNG -> finished status line in the page"),
)


def _first(records: list, after: float, event: str, pred=lambda r: True):
    """The first record named `event` at or after `after` that satisfies `pred`, else None."""
    return next((r for r in records if r[0] == event and r[1] >= after and pred(r)), None)


def analyse(value: float, page: list, kernel: list[dict], field: str = "depth") -> dict:
    """One move's stage times (ms) from the page's events and the kernel's trace records.

    `page`: [name, epoch ms, detail] from INIT_JS; `kernel`: lab.trace records (epoch s).
    Wall times per stage (STAGES, RUN_STAGES), the worker thread's CPU time per kernel stage
    (CPU_STAGES), and per run: frames drawn, their drawing time, the figure bytes received.
    """
    k = sorted([[r["event"], r["t"] * 1000.0, r] for r in kernel], key=lambda r: r[1])
    p = sorted(page, key=lambda r: r[1])
    out: dict = {"value": value}
    enter = _first(p, 0, "enter")
    if enter is None:
        return {**out, "error": "no key press seen"}
    at = {"enter": enter}  # each step's first event after the one before
    marks = [("sent_msg", p, "ws_out", lambda r: True),
             ("control", k, "control", lambda r: r[2].get("field") == field),
             ("inspect", k, "inspect", lambda r: True),
             ("inspected", k, "inspected", lambda r: True),
             ("draw", k, "draw", lambda r: r[2].get("at_init")),
             ("drawn", k, "drawn", lambda r: True),
             ("encoded", k, "encoded", lambda r: True),
             ("ws_in", p, "ws_in", lambda r: True),
             ("src", p, "src", lambda r: True),
             ("decoded", p, "decoded", lambda r: r[2] == at["src"][2]),
             ("painted", p, "painted", lambda r: r[2] == at["src"][2])]
    last = enter[1]
    for name, records, event, pred in marks:
        found = _first(records, last, event, pred)
        if found is None:
            return {**out, "error": f"no {event} after the key press"}
        at[name] = found
        last = found[1]
    t = {name: r[1] for name, r in at.items()}
    done = _first(p, t["src"], "status", lambda r: bool(r[2]) and bool(re.search(DONE, r[2])))
    if done is None:  # the first run that ends after the new figure: the new one
        return {**out, "error": "no finished status"}
    order = ["enter", *(name for name, *_ in marks)]
    stages = {name: t[b] - t[a]
              for (name, _), a, b in zip(STAGES, order[:-1], order[1:], strict=True)}
    # the run after the first figure: training (and any intermediate frames) until the last
    # frame's drawing, that drawing and its encoding, then its status line in the page
    run = [r for r in k if t["encoded"] < r[1] <= done[1]]
    final = [r for r in run if r[0] == "draw"]
    final_png = [r for r in run if r[0] == "encoded"]
    if not final or not final_png:
        return {**out, "error": "no final frame in the kernel's trace"}
    stages.update(train=final[-1][1] - t["encoded"], final_frame=final_png[-1][1] - final[-1][1],
                  final_to_page=done[1] - final_png[-1][1])
    cpu = {f"{name}_cpu": 1000.0 * (at[b][2]["cpu"] - at[a][2]["cpu"])
           for name, a, b in CPU_STAGES}
    cpu["final_frame_cpu"] = 1000.0 * (final_png[-1][2]["cpu"] - final[-1][2]["cpu"])
    frames = [r for r in k if r[0] == "draw" and enter[1] <= r[1] <= done[1]]
    drawing = 0.0
    for start in frames:  # each frame's draw + encode, on the kernel's worker thread
        end = _first(k, start[1], "encoded")
        drawing += end[1] - start[1] if end is not None and end[1] <= done[1] else 0.0
    received = sum(r[2] for r in p if r[0] == "ws_in" and enter[1] <= r[1] <= done[1])
    # every large message of the move, until 0.3 s after the finished status (ms, bytes)
    large = [[round(r[1] - enter[1], 1), r[2]] for r in p if r[0] == "ws_in" and r[1] >= enter[1]]
    out.update(first_figure=t["decoded"] - t["enter"], first_painted=t["painted"] - t["enter"],
               finished=done[1] - t["enter"], **stages, **cpu, frames=len(frames),
               drawing_during_run=drawing, png_bytes=at["encoded"][2].get("bytes"),
               bytes_received=received, large_messages=large)
    return {key: round(v, 1) if isinstance(v, float) else v for key, v in out.items()}  # ms


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear between the closest ranks."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summary(moves: list[dict]) -> dict:
    """p50/p95 (ms) of every timed quantity over the moves that completed."""
    ok = [m for m in moves if "error" not in m]
    keys = ["first_figure", "first_painted", "finished", *(n for n, _ in STAGES + RUN_STAGES),
            *(f"{n}_cpu" for n, *_ in CPU_STAGES), "final_frame_cpu", "drawing_during_run",
            "frames", "png_bytes", "bytes_received"]
    return {key: {"p50": round(percentile([m[key] for m in ok], 50), 1),
                  "p95": round(percentile([m[key] for m in ok], 95), 1)} for key in keys}


def table(stats: dict) -> str:
    """The summary as aligned text."""
    names = {"first_figure": "slider -> first new figure decoded",
             "first_painted": "slider -> first new figure painted",
             "finished": "slider -> run finished (status line)", **dict(STAGES),
             **dict(RUN_STAGES),
             **{f"{n}_cpu": f"  CPU: {dict(STAGES + RUN_STAGES)[n]}"
                for n in [*(n for n, *_ in CPU_STAGES), "final_frame"]},
             "drawing_during_run": "draw + encode, all frames of the run",
             "frames": "frames drawn per run (count)", "png_bytes": "PNG size (bytes)",
             "bytes_received": "figure messages received per move (bytes)"}
    lines = [f"{'':58s} {'p50':>9s} {'p95':>9s}"]
    for key, label in names.items():
        s = stats[key]
        unit = "" if key in ("frames", "png_bytes", "bytes_received") else " ms"
        lines.append(f"{label[:58]:58s} {s['p50']:>9.1f} {s['p95']:>9.1f}{unit}")
    return "\n".join(lines)


async def drive(url: str, args, trace_file: Path) -> tuple[list[dict], dict]:
    """Open the dashboard, wait for the first run, then time each move of the control."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=args.chromium, headless=True,
                                           args=BROWSER_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1400, "height": 1000})
            await context.add_init_script(INIT_JS)
            page = await context.new_page()
            page.set_default_timeout(args.wait * 1000)
            await page.goto(url, wait_until="commit")
            await page.wait_for_function(STATUS_JS, arg=DONE, polling=50)
            readout = page.locator(f".lab-control-{args.field} .widget-readout").first
            moves = []
            for value in VALUES[args.field][:args.moves]:
                await asyncio.sleep(args.think)
                old = await page.evaluate(
                    "() => { window.__lab.events.length = 0; "
                    "return document.querySelector('.lab-status').innerText; }")
                start = time.time()
                await readout.click()
                await page.keyboard.press("Control+A")
                await page.keyboard.type(str(value))
                await page.keyboard.press("Enter")
                await page.wait_for_function(NEW_DONE_JS, arg=[old, DONE], polling=20)
                await asyncio.sleep(0.3)  # the last frame's paint
                events = await page.evaluate("() => window.__lab.events")
                kernel = [r for r in trace.read(trace_file) if r["t"] >= start - 1]
                move = analyse(value, events, kernel, args.field)
                moves.append(move)
                print(f"{args.field} {value}: first figure {move.get('first_figure')} ms, "
                      f"finished {move.get('finished')} ms {move.get('error', '')}", flush=True)
            display = await page.evaluate(DISPLAY_JS)
            await page.goto("about:blank")  # Voila's beacon stops the kernel
            return moves, display
        finally:
            await browser.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--moves", type=int, default=10, help="moves (at most 10)")
    p.add_argument("--field", choices=tuple(VALUES), default="depth",
                   help="the slider moved: depth (default) or lr")
    p.add_argument("--think", type=float, default=1.0, help="idle seconds before each move")
    p.add_argument("--wait", type=float, default=120.0, help="seconds any one wait may take")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--json", default="test-artifacts/live_feel.json")
    p.add_argument("--log", default="test-artifacts/live_feel-voila.log", help="Voila's log")
    args = p.parse_args(argv)
    for name in (args.json, args.log):
        Path(name).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lab-live-") as tmp:
        trace_file = Path(tmp) / "trace.jsonl"
        cache = Path(tmp) / "cache"
        cache.mkdir()
        server = Server(_free_port(), Path(args.log),
                        env={"LAB_CACHE_DIR": str(cache), trace.ENV: str(trace_file)})
        load = {"before": os.getloadavg()[0]}  # the machine may be shared: how busy it was
        try:
            server.start()
            ready = server.wait_ready(180)
            moves, display = asyncio.run(drive(server.url, args, trace_file))
        finally:
            server.stop()
        load["after"] = os.getloadavg()[0]
    stats = summary(moves)
    print(table(stats))
    print(f"figure: {display['natural']} px drawn, shown {display['shown']} CSS px wide at "
          f"devicePixelRatio {display['dpr']}")
    print(f"load average (1 min) before {load['before']:.2f}, after {load['after']:.2f}")
    result = {"field": args.field, "ready": ready, "display": display, "load_average": load,
              "summary": stats, "moves": moves}
    Path(args.json).write_text(json.dumps(result, indent=1))
    print(f"wrote {args.json}")
    return 0 if all("error" not in m for m in moves) else 1


if __name__ == "__main__":
    sys.exit(main())
