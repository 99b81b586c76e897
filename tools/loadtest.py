"""Load test of the demo site: N viewers at once on the Voila server of `make demo`.

    make loadtest N=10             # N headless chromium pages (one browser, a context each)
    make loadtest N=10 CLIENT=ws   # N protocol clients: the HTTP page + the kernel websocket
    make loadtest HUB=1 N=10 CLIENT=ws   # the same through JupyterHub (`make hub`): N students

Starts Voila as `make demo` does (config/voila.py, one torch/OpenMP thread per kernel) on a free
127.0.0.1 port, waits until its preheated kernel pool is ready and idle, then opens N sessions
at once. Each session opens the dashboard and waits for its first figure and the end of the
first training; then it moves the depth slider CHANGES times, each time waiting for the new
network's first figure and the end of its training, with THINK seconds between changes.

Prints a table and writes loadtest.json: time to first figure (p50/p95/max), control change to
new figure and to the end of training, which sessions got a kernel from the warm pool,
per-kernel memory (RSS, and PSS: shared library pages split between the processes sharing
them), the server's and the client's memory and CPU, and every error (page errors, console
errors, HTTP errors, Voila error pages, the dashboard's "Something went wrong", timeouts).
Voila, its kernels and chromium are stopped on every way out (errors, timeouts, Ctrl-C).

With --hub, JupyterHub (config/jupyterhub_config.py, tools/hub.py) instead of Voila: each
session logs a student in (the dummy authenticator), follows the spawn of their own Jupyter
server, then opens the dashboard there through the hub's proxy and drives it as above; spawn time
is measured too. The hub, its proxy, the students' servers and their kernels are stopped on every
way out; only the ws client is supported there.

The browser client measures what a viewer sees (an image decoded on the page) but spends the
same two cores as the server: its CPU is reported. The ws client (no browser) speaks the
widget protocol itself (ipywidgets' jupyter.widget.control comm) and costs almost nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import hub as jhub
import psutil
from load_clients import Session, browser_sessions, family_of, stop_group, ws_sessions

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "notebooks/dashboard.ipynb"
CONFIG_DIR = "config"  # what `make demo` passes as --Voila.config_file_paths
THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # as `make demo` exports
MIB = 2**20


def voila_command(port: int, python: str = sys.executable, extra: tuple = ()) -> list[str]:
    """The command line of `make demo`, on `port` (tests/test_loadtest.py compares them)."""
    voila = Path(python).with_name("voila")
    exe = [str(voila)] if voila.exists() else [python, "-m", "voila"]
    return [*exe, NOTEBOOK, f"--port={port}", "--no-browser", "--Voila.ip=127.0.0.1",
            "--theme=light", f"--Voila.config_file_paths={CONFIG_DIR}", *extra]


def cache_env(mode: str, folder: str) -> dict[str, str]:
    """LAB_CACHE_DIR for the server: off (every run trains), fresh (empty folder), or as set."""
    if mode == "off":
        return {"LAB_CACHE_DIR": ""}
    if mode == "fresh":
        return {"LAB_CACHE_DIR": folder}
    return {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serving_settings() -> dict:
    """The settings of config/voila.py that decide how many viewers a server holds."""
    from traitlets.config.loader import PyFileConfigLoader

    cfg = PyFileConfigLoader("voila.py", path=str(ROOT / CONFIG_DIR)).load_config()
    vc, mkm = cfg.VoilaConfiguration, cfg.MappingKernelManager
    return {
        "preheat_kernel": bool(vc.get("preheat_kernel", False)),
        "pool_size": int(vc.get("default_pool_size", 1)) if vc.get("preheat_kernel") else 0,
        "cull_idle_timeout_s": mkm.get("cull_idle_timeout", 0),
        "cull_interval_s": mkm.get("cull_interval", 300),
        "cull_connected": mkm.get("cull_connected", False),
        "threads_per_kernel": int(THREAD_ENV["OMP_NUM_THREADS"]),
        "cell_timeout_s": cfg.VoilaExecutor.get("timeout"),
        "pool_refill_delay_s": cfg.VoilaKernelManager.get("fill_delay", 1.0),
    }


# ---------------------------------------------------------------- the server


class Server:
    """Voila started as by `make demo`; stop() ends it and every kernel, whatever happened."""

    def __init__(self, port: int, log_path: Path, extra: tuple = (), env: dict | None = None):
        self.port, self.log_path, self.extra = port, log_path, tuple(extra)
        self.env = dict(env or {})
        self.url = f"http://127.0.0.1:{port}/"
        self.proc: subprocess.Popen | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        env = {**os.environ, **THREAD_ENV, **self.env}
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                voila_command(self.port, extra=self.extra), cwd=ROOT, env=env, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def _check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"voila exited ({self.proc.returncode}):\n{self.log()[-3000:]}")

    def wait_ready(self, timeout: float) -> dict:
        """Wait for HTTP, a filled pool and two quiet seconds; return the seconds each took."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        while True:  # a static file: asking for the page would take a pooled kernel
            self._check_alive()
            found = re.search(r"running at:\s*(http://\S+/)", self.log())
            if found:  # another port if this one was taken meanwhile
                self.url = found[1]
            try:
                with urllib.request.urlopen(self.url + "voila/static/voila.js", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"voila not answering after {timeout:.0f} s")
            time.sleep(0.25)
        t_http = time.monotonic() - t0
        while "is filled with" not in self.log():
            self._check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"voila's kernel pool not filled after {timeout:.0f} s")
            if "Kernel started" not in self.log() and time.monotonic() > t0 + t_http + 10:
                break  # no preheated pool
            time.sleep(0.25)
        t_pool = time.monotonic() - t0
        quiet = 0
        while quiet < 2 and time.monotonic() < deadline:  # pooled kernels import torch first
            procs = self.family()
            for p in procs:
                _try(p.cpu_percent, None)
            time.sleep(1.0)
            busy = sum(_try(p.cpu_percent, None) or 0.0 for p in procs)
            quiet = quiet + 1 if busy < 10 else 0
        return {"http_s": round(t_http, 1), "pool_s": round(t_pool, 1),
                "settled_s": round(time.monotonic() - t0, 1)}

    def family(self) -> list[psutil.Process]:
        """Voila and everything it started (kernels run in sessions of their own)."""
        return family_of(self.proc)

    def kernel_ids(self) -> list[str]:
        return re.findall(r"Kernel started: ([0-9a-f-]{36})", self.log())

    def stop(self) -> None:
        """SIGTERM Voila's process group, then SIGKILL whatever is left, kernels included."""
        if self.proc is not None:
            stop_group(self.proc, self.family()[1:], 15)


def _try(fn, *args):
    try:
        return fn(*args)
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


# ---------------------------------------------------------------- memory and CPU


def _is_kernel(p: psutil.Process) -> bool:
    cmd = _try(p.cmdline) or []
    return any("ipykernel" in part for part in cmd)


class Meter:
    """Samples the server's and the client's processes (a thread: PSS reads take a while)."""

    def __init__(self, server: Server, pss_every: float = 10.0):
        import threading

        self.server, self.pss_every = server, pss_every
        self.kernel_rss: dict[str, int] = {}  # kernel id -> peak RSS
        self.kernel_pss: dict[str, int] = {}  # kernel id -> peak PSS
        self.cpu: dict[int, tuple[str, float]] = {}  # pid -> (role, CPU seconds, last seen)
        self.cpu0: dict[int, float] = {}  # CPU seconds at the start, for processes then alive
        self.kernels: set[int] = set()  # pids seen as kernels
        self.roles: dict[int, str] = {}  # pid -> role of the other server processes
        self.server_rss: dict[int, int] = {}  # pid -> peak RSS of a student's Jupyter server
        self.server_rss_peak = self.server_pss_peak = self.client_rss_peak = 0
        self.kernels_peak = 0
        self.machine_used0 = _machine_used()
        self.machine_used_peak = self.machine_used0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="meter", daemon=True)

    def start(self) -> None:
        for _, p in self._processes():
            t = _try(p.cpu_times)
            if t is not None:
                self.cpu0[p.pid] = t.user + t.system
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.sample(pss=True)

    def _processes(self) -> list[tuple[str, psutil.Process]]:
        server = self.server.family()
        pids = {p.pid for p in server}
        # Once a kernel, always a kernel: an exiting kernel (a zombie until Voila reaps it) has
        # no command line left, and its CPU seconds would be counted as Voila's.
        out = []
        role = getattr(self.server, "role", lambda p: "voila")  # hub mode: hub / server
        for p in server:
            if p.pid in self.kernels or _is_kernel(p):
                self.kernels.add(p.pid)
                out.append(("kernel", p))
            else:
                out.append((self.roles.setdefault(p.pid, role(p)), p))
        me = psutil.Process()
        out.append(("client", me))
        for p in _try(me.children, True) or []:  # playwright's driver and chromium
            if p.pid not in pids:
                out.append(("client", p))
        return out

    def _loop(self) -> None:
        last_pss = 0.0
        while not self._stop.wait(1.0):
            now = time.monotonic()
            pss = now - last_pss >= self.pss_every
            if pss:
                last_pss = now
            self.sample(pss)

    def sample(self, pss: bool = False) -> None:
        server_rss = server_pss = client_rss = kernels = 0
        for role, p in self._processes():
            mem = _try(p.memory_full_info) if pss and role != "client" else _try(p.memory_info)
            t = _try(p.cpu_times)
            if mem is None or t is None:
                continue
            self.cpu[p.pid] = (role, t.user + t.system)
            if role == "client":
                client_rss += mem.rss
                continue
            server_rss += mem.rss
            if role == "server":
                self.server_rss[p.pid] = max(self.server_rss.get(p.pid, 0), mem.rss)
            if pss:
                server_pss += mem.pss
            if role == "kernel":
                kernels += 1
                kid = _kernel_id(p)
                self.kernel_rss[kid] = max(self.kernel_rss.get(kid, 0), mem.rss)
                if pss:
                    self.kernel_pss[kid] = max(self.kernel_pss.get(kid, 0), mem.pss)
        self.server_rss_peak = max(self.server_rss_peak, server_rss)
        self.server_pss_peak = max(self.server_pss_peak, server_pss)
        self.client_rss_peak = max(self.client_rss_peak, client_rss)
        self.kernels_peak = max(self.kernels_peak, kernels)
        self.machine_used_peak = max(self.machine_used_peak, _machine_used())

    def report(self, session_kernels: set[str]) -> dict:
        """Peaks; per-kernel memory apart for kernels that served a viewer and the others."""
        cpu: dict[str, float] = {"kernel": 0.0, "voila": 0.0, "client": 0.0}
        for pid, (role, seconds) in self.cpu.items():
            cpu[role] = cpu.get(role, 0.0) + seconds - self.cpu0.get(pid, 0.0)

        def mib(peaks: dict[str, int], served: bool) -> dict:
            return _stats([v / MIB for k, v in peaks.items()
                           if (k in session_kernels) == served])

        return {
            "kernels_peak": self.kernels_peak,
            "kernel_rss_mib": mib(self.kernel_rss, True),  # kernels that served a session
            "kernel_pss_mib": mib(self.kernel_pss, True),
            "idle_kernel_rss_mib": mib(self.kernel_rss, False),  # pooled, never used
            "idle_kernel_pss_mib": mib(self.kernel_pss, False),
            "server_rss_peak_mib": round(self.server_rss_peak / MIB),
            "server_pss_peak_mib": round(self.server_pss_peak / MIB),
            "client_rss_peak_mib": round(self.client_rss_peak / MIB),
            "machine_used_before_mib": round(self.machine_used0 / MIB),
            "machine_used_peak_mib": round(self.machine_used_peak / MIB),
            "cpu_s": {k: round(v, 1) for k, v in cpu.items()},
            # JupyterHub: each student's Jupyter server (Voila's server extension in it)
            "user_server_rss_mib": _stats([v / MIB for v in self.server_rss.values()]),
        }


def _kernel_id(p: psutil.Process) -> str:
    """The kernel's id, from its connection file name (kernel-<id>.json); else its pid."""
    found = re.search(r"kernel-([0-9a-f-]{36})\.json", " ".join(_try(p.cmdline) or []))
    return found[1] if found else str(p.pid)


def _machine_used() -> int:
    vm = psutil.virtual_memory()
    return vm.total - vm.available


# ---------------------------------------------------------------- numbers


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0..100), linear between the closest ranks; None if no values."""
    xs = sorted(values)
    if not xs:
        return None
    k = (len(xs) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def _stats(values: list[float]) -> dict:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "max": None}
    return {"n": len(values), "p50": round(percentile(values, 50), 2),
            "p95": round(percentile(values, 95), 2), "max": round(max(values), 2)}


def summarize(sessions: list[Session]) -> dict:
    """Latency statistics and error counts over all sessions."""
    ok = [s for s in sessions if not s.errors]
    return {
        "sessions": len(sessions),
        "sessions_without_error": len(ok),
        "spawn_s": _stats([s.spawn_s for s in sessions if s.spawn_s]),
        "errors": sum(len(s.errors) for s in sessions),
        "first_figure_s": _stats([s.first_figure_s for s in sessions if s.first_figure_s]),
        "first_finished_s": _stats([s.first_finished_s for s in sessions
                                    if s.first_finished_s]),
        "change_to_figure_s": _stats([x for s in sessions for x in s.change_to_figure_s]),
        "change_to_finished_s": _stats([x for s in sessions for x in s.change_to_finished_s]),
        "changes_done": sum(len(s.change_to_finished_s) for s in sessions),
        "warm_pool_sessions": sum(1 for s in sessions if s.warm_kernel is True),
        "on_demand_sessions": sum(1 for s in sessions if s.warm_kernel is False),
    }


def print_report(result: dict) -> None:
    s, m, cfg = result["summary"], result["resources"], result["settings"]
    print()
    if cfg.get("hub"):
        print(f"Through JupyterHub ({cfg['hub']}): a Jupyter server per student, "
              "no preheated pool")
    print(f"Gradient Lab load test: {s['sessions']} {result['client']} sessions at once, "
          f"{result['changes']} depth changes each; pool {cfg['pool_size']}, "
          f"{cfg['threads_per_kernel']} thread per kernel, culling after "
          f"{cfg['cull_idle_timeout_s']} s idle; result cache {cfg['cache']}; "
          f"pool refilled after {cfg['pool_refill_delay_s']:g} s; "
          f"{result['machine']['cpus']} CPUs, "
          f"{result['machine']['memory_gib']} GiB")
    if cfg["voila_args_added"]:
        print(f"NOT the committed settings: voila started with {' '.join(cfg['voila_args_added'])}")
    print(f"{'':34}{'p50':>8}{'p95':>8}{'max':>8}{'n':>5}")
    rows = (("spawn_s", "login -> own server answers"),) if s["spawn_s"]["n"] else ()
    for key, label in (*rows, ("first_figure_s", "open -> first figure"),
                       ("first_finished_s", "open -> first run finished"),
                       ("change_to_figure_s", "depth change -> new figure"),
                       ("change_to_finished_s", "depth change -> run finished")):
        st = s[key]
        cells = "".join(f"{st[k]:>7.1f}s" if st[k] is not None else f"{'-':>8}"
                        for k in ("p50", "p95", "max"))
        print(f"{label:34}{cells}{st['n']:>5}")
    print(f"sessions without error: {s['sessions_without_error']}/{s['sessions']} "
          f"({s['errors']} errors); kernel from the warm pool: {s['warm_pool_sessions']}, "
          f"started on demand: {s['on_demand_sessions']}; kernels at peak: {m['kernels_peak']}")
    rows = [("per viewer's kernel", m["kernel_rss_mib"], m["kernel_pss_mib"])]
    if not cfg.get("hub"):  # no pool under the hub (the others are exiting kernels)
        rows.append(("per idle pooled kernel", m["idle_kernel_rss_mib"],
                     m["idle_kernel_pss_mib"]))
    for label, rss, pss in rows:
        if rss["n"]:
            print(f"{label} (peak): PSS p50 {pss['p50'] or 0:.0f} MiB (max {pss['max'] or 0:.0f}),"
                  f" RSS p50 {rss['p50']:.0f} MiB (max {rss['max']:.0f}); {rss['n']} kernels")
    what = "hub, proxy, servers + kernels" if cfg.get("hub") else "voila + kernels"
    print(f"server ({what}) peak: PSS {m['server_pss_peak_mib']} MiB, "
          f"RSS {m['server_rss_peak_mib']} MiB; client peak RSS {m['client_rss_peak_mib']} MiB; "
          f"machine used {m['machine_used_before_mib']} -> {m['machine_used_peak_mib']} MiB")
    cpu = m["cpu_s"]
    if cfg.get("hub"):
        us = m["user_server_rss_mib"]
        print(f"per student's Jupyter server (peak): RSS p50 {us['p50'] or 0:.0f} MiB "
              f"(max {us['max'] or 0:.0f}); {us['n']} servers")
        print(f"CPU: kernels {cpu['kernel']} s, students' servers {cpu.get('server', 0.0)} s, "
              f"hub + proxy {cpu.get('hub', 0.0)} s, client {cpu['client']} s "
              f"in {result['load_wall_s']} s of wall time")
    else:
        print(f"CPU: kernels {cpu['kernel']} s, voila {cpu['voila']} s, client {cpu['client']} s "
              f"in {result['load_wall_s']} s of wall time")
    for sess in result["sessions"]:
        for err in sess["errors"]:
            print(f"  session {sess['index']}: {err}")


# ---------------------------------------------------------------- main


async def _run_sessions(args, server: Server, warm: set[str], sessions: list[Session]) -> None:
    """Run the sessions (results land in `sessions`), all within --max-minutes."""
    if args.hub:
        async def prepare(http, s: Session):
            return await jhub.login(http, server.url, s, args)

        job = ws_sessions(server.url, args, warm, sessions, prepare)
    else:
        run = browser_sessions if args.client == "browser" else ws_sessions
        job = run(server.url, args, warm, sessions)
    try:
        await asyncio.wait_for(job, args.max_minutes * 60)
    except asyncio.TimeoutError:
        for s in sessions:
            if not s.errors and len(s.change_to_finished_s) < args.changes:
                s.errors.append(f"not done when the load test stopped ({args.max_minutes} min)")


def _interrupt(signum, frame) -> None:
    """SIGTERM and SIGHUP end the run as Ctrl-C does: sessions cancelled, everything stopped."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-n", "--sessions", type=int, default=5, help="concurrent viewers (5)")
    p.add_argument("--client", choices=("browser", "ws"), default="browser")
    p.add_argument("--hub", action="store_true",
                   help="through JupyterHub (config/jupyterhub_config.py): each session logs a "
                        "student in and waits for their own server (needs --client ws)")
    p.add_argument("--spawn-timeout", type=float, default=300.0,
                   help="--hub: seconds from a login to the student's server answering (300)")
    p.add_argument("--changes", type=int, default=3, help="depth changes per session (3)")
    p.add_argument("--think", type=float, default=1.0,
                   help="seconds between a finished run and the next change (1)")
    p.add_argument("--ramp", type=float, default=0.0,
                   help="spread the session starts over this many seconds (0: all at once)")
    p.add_argument("--wait", type=float, default=300.0,
                   help="seconds any one wait in a session may take (300)")
    p.add_argument("--session-timeout", type=float, default=900.0,
                   help="seconds a whole session may take (900)")
    p.add_argument("--max-minutes", type=float, default=20.0, help="for the whole load (20)")
    p.add_argument("--cache", choices=("off", "fresh", "env"), default="off",
                   help="the result cache of the server's kernels: off (default; every run "
                        "trains, the worst case), fresh (an empty shared one: identical configs "
                        "train once), env (LAB_CACHE_DIR as set, as `make demo` uses)")
    p.add_argument("--pool", default=None, metavar="K",
                   help="preheated kernels (LAB_POOL, as `make demo POOL=K`; default: "
                        "config/voila.py's 2)")
    p.add_argument("--pool-delay", default=None, metavar="S",
                   help="seconds before a used pooled kernel is replaced (LAB_POOL_DELAY, as "
                        "`make demo POOL_DELAY=S`; default: 1)")
    p.add_argument("--voila-arg", action="append", default=[], metavar="ARG",
                   help="an extra Voila option, to compare with the committed settings, e.g. "
                        "--voila-arg=--VoilaConfiguration.default_pool_size=0 (repeatable)")
    p.add_argument("--chromium", default=os.environ.get("CHROMIUM") or "/usr/bin/chromium")
    p.add_argument("--json", default=str(ROOT / "loadtest.json"), help="where to write results")
    p.add_argument("--log", default=None,
                   help="the server's log (loadtest-voila.log; --hub: loadtest-hub.log)")
    args = p.parse_args(argv)
    if args.sessions < 1:
        p.error("--sessions must be at least 1")
    if args.hub and args.client != "ws":
        p.error("--hub drives the students' dashboards with protocol clients: add --client ws "
                "(make loadtest HUB=1 CLIENT=ws)")
    if args.hub:
        missing = jhub.missing_parts()
        if missing:
            p.error(f"--hub needs {missing} (make hub installs them)")
    if args.client == "browser" and not os.access(args.chromium, os.X_OK):
        p.error(f"no chromium at {args.chromium} (set $CHROMIUM, or use --client ws)")

    # Ctrl-C works even where SIGINT came in ignored (a background job); asyncio turns it into a
    # cancellation of the sessions, whose clean-up (pages left, chromium closed) then runs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    if args.pool:  # the server inherits it; serving_settings() reads it as config/voila.py does
        os.environ["LAB_POOL"] = args.pool
    if args.pool_delay:
        os.environ["LAB_POOL_DELAY"] = args.pool_delay
    try:
        settings = serving_settings()
    except SystemExit as e:  # config/voila.py refused LAB_POOL
        p.error(str(e))
    settings["voila_args_added"] = args.voila_arg  # none: exactly `make demo`'s server
    for arg in args.voila_arg:
        found = re.fullmatch(r"--VoilaConfiguration\.default_pool_size=(\d+)", arg)
        if found:
            settings["pool_size"] = int(found[1])
    load_before = [round(x, 2) for x in os.getloadavg()]
    cache_folder = tempfile.mkdtemp(prefix="lab-loadtest-cache-")
    if args.hub:
        hub_state = Path(tempfile.mkdtemp(prefix="lab-loadtest-hub-"))
        server = jhub.Hub((_free_port(), _free_port(), _free_port()),
                          Path(args.log or ROOT / "loadtest-hub.log"), hub_state,
                          {**THREAD_ENV, **cache_env(args.cache, cache_folder)})
        settings.update(jhub.hub_settings())
    else:
        hub_state = None
        server = Server(_free_port(), Path(args.log or ROOT / "loadtest-voila.log"),
                        args.voila_arg,
                        cache_env(args.cache, cache_folder))
    settings["cache"] = args.cache
    meter = None
    sessions: list[Session] = []
    result: dict = {}
    t_load = time.monotonic()
    try:
        what = "jupyterhub" if args.hub else "voila"
        print(f"starting {what} on {server.url} (log: {server.log_path}) ...", flush=True)
        server.start()
        ready = server.wait_ready(timeout=180)
        warm = set(server.kernel_ids())  # the pool, ready before any viewer came
        print(f"{what} ready: {ready}; {len(warm)} preheated kernel(s); opening "
              f"{args.sessions} {args.client} session(s) ...", flush=True)
        meter = Meter(server)
        meter.start()
        t_load = time.monotonic()
        sessions = [Session(i) for i in range(args.sessions)]
        asyncio.run(_run_sessions(args, server, warm, sessions))
        result["load_wall_s"] = round(time.monotonic() - t_load, 1)
        meter.stop()
        log = server.log()  # before the shutdown, whose kernels log their closed sockets
        result["voila_ready"] = ready
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: stopping the server(s) and kernels", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - reported, and the server is still stopped
        print(f"load test failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # let the clean-up finish
            signal.signal(sig, signal.SIG_IGN)
        if meter is not None and meter._thread.is_alive():
            meter._stop.set()
        server.stop()
        shutil.rmtree(cache_folder, ignore_errors=True)
        if hub_state is not None:
            shutil.rmtree(hub_state, ignore_errors=True)
    result.update({
        "client": args.client, "changes": args.changes, "think_s": args.think,
        "ramp_s": args.ramp, "settings": settings,
        "machine": {"cpus": psutil.cpu_count(), "platform": platform.platform(),
                    "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
                    "load_average_before": load_before},
        "voila_log": {"kernels_started": len(re.findall(r"Kernel started:", log)),
                      "preheated_used": log.count("Using pre-heated kernel"),
                      "not_allowed_messages": log.count("which is not allowed"),
                      "tracebacks": log.count("Traceback (most recent call last)")},
        "summary": summarize(sessions),
        "resources": meter.report({x.kernel_id for x in sessions if x.kernel_id}),
        "sessions": [s.to_dict() for s in sessions],
    })
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print_report(result)
    print(f"written: {args.json}")
    return 0 if result["summary"]["errors"] == 0 else 2


if __name__ == "__main__":
    sys.exit(main())
