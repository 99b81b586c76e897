"""Measure every claim over seeds and CPU kernel settings: the evidence for its tolerance.

Usage: python tools/spread.py [--seeds 0,1,2] [--settings native,compat]
                              [--jobs 2] [--out docs/claims.json]

Each (setting, seed) pass runs the lesson notebooks (nbval) and tests/test_presets.py with
LAB_CLAIMS_LOG set, so every `lab.claims.claim` call records its value instead of raising.
A seed other than 0 becomes the default seed of every `lab.Config` (data, init, batches,
dropout) through a sitecustomize module on PYTHONPATH, in pytest and in the notebook kernels
alike, so the notebooks run unchanged. Settings:
  native   torch's best kernels for this CPU (AVX2, AVX-512, NEON ...)
  avx2     ATEN_CPU_CAPABILITY=avx2
  default  ATEN_CPU_CAPABILITY=default (generic kernels, as on a CPU without vector units)
  compat   ATEN_CPU_CAPABILITY=default and MKL_CBWR=COMPATIBLE (MKL's reproducible code path)
The result, docs/claims.json, holds each claim's bounds and its values per pass;
tests/test_claims.py requires every claim's bounds to contain all of them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ["notebooks", "tests/test_presets.py"]
SETTINGS = {
    "native": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "default": {"ATEN_CPU_CAPABILITY": "default"},
    "compat": {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE"},
}
# Imported at start-up by every Python process of a pass (pytest and each notebook kernel).
SITECUSTOMIZE = '''\
import dataclasses
import os

_seed = int(os.environ.get("LAB_SPREAD_SEED", "0"))
if _seed:
    from lab.config import Config

    _names = [f.name for f in dataclasses.fields(Config) if f.init]
    _defaults = list(Config.__init__.__defaults__)
    _defaults[_names.index("seed") - (len(_names) - len(_defaults))] = _seed
    Config.__init__.__defaults__ = tuple(_defaults)
'''


def run_pass(setting: str, seed: int, targets: list[str],
             keep: Path) -> tuple[str, list[dict], str]:
    """One pytest run of `targets` under `setting` and default seed `seed`: (key, claims, tail).

    The pass's claims go to keep/SETTING-seedN[--TARGETS].jsonl and its last line to .tail
    beside it, so that a later run of some targets only (a notebook that changed) replaces just
    their claims when everything kept is merged.
    """
    key = f"{setting}/seed{seed}"
    part = "" if targets == TARGETS else "--" + "-".join(Path(t).stem[:12] for t in targets)
    log = keep / f"{setting}-seed{seed}{part}.jsonl"
    log.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "sitecustomize.py").write_text(SITECUSTOMIZE)
        env = {k: v for k, v in os.environ.items()
               if k not in ("ATEN_CPU_CAPABILITY", "MKL_CBWR")}
        env.update(SETTINGS[setting])
        env.update({
            "LAB_CLAIMS_LOG": str(log), "LAB_SPREAD_SEED": str(seed), "LAB_CACHE_DIR": "",
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join(p for p in (tmp, env.get("PYTHONPATH")) if p),
        })
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--nbval"]
        proc = subprocess.run([*command, *targets], cwd=ROOT, env=env, capture_output=True,
                              text=True)
        lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
        tail = lines[-1] if lines else proc.stderr[-300:]
    log.with_suffix(".tail").write_text(tail)
    # which tests failed (under a seed other than 0, nbval's exact comparisons are expected to)
    failed = [ln for ln in lines if ln.startswith(("FAILED", "ERROR"))]
    log.with_suffix(".failed").write_text("\n".join(failed) + "\n")
    key, claims, tail = load_pass(log)
    print(f"{key:18s} {len(claims):3d} claims  {tail}", flush=True)
    return key, claims, tail


def load_pass(log: Path) -> tuple[str, list[dict], str]:
    """A finished pass from its files in the keep folder."""
    key = log.stem.split("--")[0].replace("-seed", "/seed")
    claims = [json.loads(ln) for ln in log.read_text().splitlines()] if log.exists() else []
    return key, claims, log.with_suffix(".tail").read_text()


def merge(passes: list[tuple[str, list[dict], str]], base: dict | None = None) -> dict:
    """Claims keyed by name: bounds, and the value each pass measured (later passes win).

    `base` (the claims of an earlier docs/claims.json) is what later passes start from.
    """
    out: dict[str, dict] = {what: {"low": None, "high": None, "values": dict(c["values"])}
                            for what, c in (base or {}).items()}
    for key, claims, _ in passes:
        seen = set()
        for c in claims:
            if c["what"] in seen:
                raise SystemExit(f"claim {c['what']!r} is checked twice in one pass ({key}): "
                                 "give each check its own name")
            seen.add(c["what"])
            entry = out.setdefault(c["what"], {"values": {}})
            entry.update(low=c["low"], high=c["high"])
            entry["values"][key] = c["value"]
    for entry in out.values():
        finite = [v for v in entry["values"].values() if v is not None]
        entry["min"] = min(finite) if finite else None
        entry["max"] = max(finite) if finite else None
    return dict(sorted(out.items()))


def recorded(claims: dict) -> dict:
    """What docs/claims.json keeps of a claim: its values, not the bounds (they live in code)."""
    return {what: {k: v for k, v in c.items() if k not in ("low", "high")}
            for what, c in claims.items()}


def main() -> None:
    """Run every pass, write the merged claims file, list the claims that fail."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--settings", default="native,compat")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "docs" / "claims.json"))
    ap.add_argument("--keep", default=str(ROOT / ".spread"),
                    help="folder for each pass's claims (default .spread/)")
    ap.add_argument("--merge", action="store_true",
                    help="run nothing: merge every pass kept in --keep into --out")
    ap.add_argument("targets", nargs="*", default=TARGETS)
    args = ap.parse_args()
    keep = Path(args.keep)
    keep.mkdir(parents=True, exist_ok=True)
    if not args.merge:
        seeds = [int(s) for s in args.seeds.split(",")]
        settings = args.settings.split(",")
        for s in settings:
            if s not in SETTINGS:
                ap.error(f"--settings: {s!r} is not one of {', '.join(SETTINGS)}")
        jobs = [(setting, seed) for seed in seeds for setting in settings]
        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(lambda job: run_pass(*job, args.targets, keep), jobs))
    # everything kept, oldest first, so that a later run of some targets replaces their claims
    logs = sorted(keep.glob("*.jsonl"), key=lambda log: log.stat().st_mtime)
    passes = [load_pass(log) for log in logs]
    tails = {load_pass(log)[0]: load_pass(log)[2] for log in logs if "--" not in log.stem}
    # A run of some targets only updates the claims file; a whole run replaces it.
    out = Path(args.out)
    base = None
    if (args.merge or args.targets != TARGETS) and out.exists():
        earlier = json.loads(out.read_text())
        base, tails = earlier["claims"], {**earlier["passes"], **tails}
    import torch  # for the record of what measured it; after the passes, which set their own

    claims = merge(passes, base)
    record = {
        "command": "python tools/spread.py " + " ".join(sys.argv[1:]),
        "torch": torch.__version__, "machine": platform.machine(),
        "cpu": torch.backends.cpu.get_cpu_capability(),
        "passes": dict(sorted(tails.items())),  # each pass's pytest summary (whole run)
        "claims": recorded(claims),
    }
    out.write_text(json.dumps(record, indent=1) + "\n")
    keys = set(tails)
    bad = [(what, c) for what, c in claims.items()
           if len(c["values"]) < len(keys) or None in c["values"].values()
           or (c["low"] is not None and c["min"] < c["low"])
           or (c["high"] is not None and c["max"] > c["high"])]
    for what, c in bad:
        print(f"OUTSIDE or missing: {what}: bounds [{c['low']}, {c['high']}], measured "
              f"[{c['min']}, {c['max']}] in {len(c['values'])} of {len(keys)} passes")
    print(f"{len(claims)} claims, {len(bad)} outside their bounds or not measured in every pass;"
          f" wrote {args.out}")


if __name__ == "__main__":
    main()
