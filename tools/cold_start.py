"""Cold start: CPU seconds a fresh process spends importing the lab and showing the dashboard.

    .venv/bin/python tools/cold_start.py [--repeat 3]

Each row runs in a fresh interpreter (nothing cached in memory; the OS file cache is warm after
the first repeat). CPU seconds are user + system time of that process and its children
(resource.getrusage), which a busy shared machine inflates less than wall-clock time.

Rows:
- `python -c pass`: the interpreter alone, for reference.
- `import lab`, `import lab.config`: the package and its value object.
- controls alone: every control lab.controls makes, in one box, rendered: what a dashboard
  costs to show its controls when nothing else it imports needs torch.
- dashboard: the code of notebooks/dashboard.ipynb run as a Voila kernel would (no widget
  frontend: ipywidgets builds its models headless), timed at "controls shown" (the Dashboard
  exists and has rendered its mimebundle), "first figure" (its first PNG, the initialization
  frame) and "trained" (the default run's final figure). The result cache is off
  (LAB_CACHE_DIR empty), as on a fresh server.
  `torch first` is the CPU time at which torch began importing, from an audit hook.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = Path("notebooks") / "dashboard.ipynb"

# Runs inside the measured process: an audit hook notes when torch starts importing.
PRELUDE = """
import json, resource, sys, time
def _cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
_marks = {"torch first": None}
def _hook(event, args):
    if event == "import" and args[0] == "torch" and _marks["torch first"] is None:
        _marks["torch first"] = _cpu()
sys.addaudithook(_hook)
"""
IMPORT_BODY = """
import {module}
_marks["done"] = _cpu()
_marks["torch imported"] = "torch" in sys.modules
print(json.dumps(_marks))
"""
CONTROLS_BODY = """
import ipywidgets as W
from lab import controls
from lab.config import Config
_box = W.VBox([controls.make_control(f, getattr(Config(), f)) for f in controls.LABELS])
_box._repr_mimebundle_()
_marks["controls shown"] = _cpu()
_marks["torch before controls"] = "torch" in sys.modules
print(json.dumps(_marks))
"""
DASHBOARD_BODY = """
import os
os.environ["QUERY_STRING"] = ""
_ns = {{}}
for _code in {cells!r}:
    exec(compile(_code, "<dashboard cell>", "exec"), _ns)
_dash = _ns["dashboard"]
_dash._repr_mimebundle_()  # what the kernel sends the page: the controls are shown
_marks["controls shown"] = _cpu()
_marks["torch before controls"] = _marks["torch first"] is not None
_deadline = time.monotonic() + 300
while not _dash.last_png and time.monotonic() < _deadline:
    time.sleep(0.005)
_marks["first figure"] = _cpu() if _dash.last_png else None
_dash.wait(300)
_marks["trained"] = _cpu()  # the final figure of the default run is drawn
_dash.close()
print(json.dumps(_marks))
"""


def notebook_cells(root: Path = ROOT) -> list[str]:
    """The code cells of the dashboard notebook under `root`, as source text."""
    nb = json.loads((root / NOTEBOOK).read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def measure(body: str, root: Path = ROOT) -> dict:
    """Run PRELUDE + body in a fresh interpreter on the lab in `root`; its marks plus its total
    CPU seconds."""
    env = {**os.environ, "PYTHONPATH": str(root), "LAB_CACHE_DIR": "", "OMP_NUM_THREADS": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([sys.executable, "-c", PRELUDE + body], env=env, cwd=root,
                         capture_output=True, text=True, check=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    marks = json.loads(out.strip().splitlines()[-1])
    marks["process total"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return marks


def _median(values: list) -> float | None:
    numbers = [v for v in values if v is not None]
    return statistics.median(numbers) if numbers else None


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def main(argv: list[str] | None = None) -> int:
    """Measure every row `repeat` times; print the medians as a table (and JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="also write the raw measurements to this file")
    parser.add_argument("--root", type=Path, action="append",
                        help="a checkout of the lab to measure (repeat to compare checkouts: "
                             "their runs alternate, so a busy machine slows each alike)")
    args = parser.parse_args(argv)
    roots = args.root or [ROOT]
    raw = {}
    for _ in range(args.repeat):
        for root in roots:
            for name, body in _rows(root).items():
                raw.setdefault(f"{name} [{root.name}]" if len(roots) > 1 else name,
                               []).append(measure(body, root))
    _print(raw, args.repeat)
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=1))
    return 0


def _rows(root: Path) -> dict[str, str]:
    """The measured rows: name -> code run after PRELUDE."""
    return {
        "python -c pass": "_marks['done'] = _cpu(); _marks['torch imported'] = False\n"
                          "print(json.dumps(_marks))",
        "import lab": IMPORT_BODY.format(module="lab"),
        "import lab.config": IMPORT_BODY.format(module="lab.config"),
        "controls alone (lab.controls)": CONTROLS_BODY,
        "dashboard (notebook cells)": DASHBOARD_BODY.format(cells=notebook_cells(root)),
    }


def _print(raw: dict[str, list[dict]], repeat: int) -> None:
    """The medians as a table."""
    width = max(28, *(len(n) for n in raw))
    print(f"CPU seconds (user+sys), median of {repeat} fresh processes")
    print(f"{'row':{width}s} {'done':>6s} {'torch@':>7s} {'shown':>6s} {'figure':>7s} "
          f"{'trained':>7s} {'total':>6s}  torch imported")
    for name, runs in raw.items():
        cols = [_median([r.get(k) for r in runs])
                for k in ("done", "torch first", "controls shown", "first figure", "trained",
                          "process total")]
        torch = [r.get("torch before controls", r.get("torch imported")) for r in runs]
        said = ("before controls" if "controls shown" in runs[0] else "yes") if all(torch) else (
            "no" if not any(torch) else "sometimes")
        print(f"{name:{width}s} {_fmt(cols[0]):>6s} {_fmt(cols[1]):>7s} {_fmt(cols[2]):>6s} "
              f"{_fmt(cols[3]):>7s} {_fmt(cols[4]):>7s} {_fmt(cols[5]):>6s}  {said}")


if __name__ == "__main__":
    sys.exit(main())
