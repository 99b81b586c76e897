"""JupyterHub for tools/loadtest.py --hub: the hub of config/jupyterhub_config.py on free
127.0.0.1 ports, and a student's login through its dummy authenticator up to their own server.

The hub starts configurable-http-proxy (the students' way in) and, per login, a Jupyter server
of the student's own (the 'simple' local process spawner) that serves the dashboard through
Voila's server extension. Hub.stop() ends the hub, the proxy, every student's server and every
kernel, whatever happened.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

import psutil
from load_clients import Session, Target, family_of, stop_group

ROOT = Path(__file__).resolve().parents[1]
HUB_CONFIG = "config/jupyterhub_config.py"
DASHBOARD = "voila/render/notebooks/dashboard.ipynb"  # under /user/<name>/
PASSWORD = "loadtest"  # the dummy authenticator takes any


def hub_command(port: int, hub_port: int, api_port: int, python: str = sys.executable) -> list:
    """`make hub`'s command line, with the proxy, the hub and the proxy's API on these ports."""
    hub = Path(python).with_name("jupyterhub")
    exe = [str(hub)] if hub.exists() else [python, "-m", "jupyterhub"]
    return [*exe, "-f", HUB_CONFIG, f"--port={port}", f"--JupyterHub.hub_port={hub_port}",
            f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{api_port}"]


def student(index: int) -> str:
    """The user name of session `index`: student01, student02, ..."""
    return f"student{index + 1:02d}"


def user_urls(base: str, name: str) -> tuple[str, str]:
    """(the student's server's base URL, the dashboard's URL) behind the proxy at `base`."""
    server = urljoin(base, f"user/{name}/")
    return server, server + DASHBOARD


@dataclass
class CookieJar:
    """The cookies a browser keeps for one host: each sent to the paths under its own."""

    cookies: dict[tuple[str, str], str] = field(default_factory=dict)  # (path, name) -> value

    def update(self, set_cookie_headers: list[str]) -> None:
        for header in set_cookie_headers:
            parsed = SimpleCookie()
            parsed.load(header)
            for name, morsel in parsed.items():
                path = morsel["path"] or "/"
                if str(morsel["max-age"]) == "0" or not morsel.value:
                    self.cookies.pop((path, name), None)  # cleared
                else:
                    self.cookies[(path, name)] = morsel.value

    def header(self, url: str) -> str:
        """The Cookie header for `url`: the longest path's value of each name first."""
        path = urlsplit(url).path or "/"
        chosen: dict[str, str] = {}
        for (where, name), value in sorted(self.cookies.items(), key=lambda kv: -len(kv[0][0])):
            prefix = where if where.endswith("/") else where + "/"
            if (path == where or path.startswith(prefix)) and name not in chosen:
                chosen[name] = value
        return "; ".join(f"{k}={v}" for k, v in chosen.items())


async def login(http, base: str, s: Session, args) -> Target | None:
    """Log student `s` in, follow the spawn until their server answers; None (and why) if not.

    What a browser does: GET /hub/login (its _xsrf cookie), POST the form, follow the redirects
    to /hub/spawn-pending/<name> and ask again every half second until it sends the student on
    to /user/<name>/, then through the server's OAuth hand-shake with the hub. s.spawn_s: from
    the POST to the server's first answer to the student.
    """
    name = student(s.index)
    server, page = user_urls(base, name)
    jar = CookieJar()
    deadline = time.perf_counter() + args.spawn_timeout

    async def fetch(url: str, **kw):
        resp = await http.fetch(url, follow_redirects=False, raise_error=False,
                                request_timeout=args.wait,
                                headers={"Cookie": jar.header(url), **kw.pop("headers", {})}, **kw)
        jar.update(resp.headers.get_list("Set-Cookie"))
        return resp

    await fetch(urljoin(base, "hub/login"))
    t0 = time.perf_counter()
    xsrf = jar.cookies.get(("/hub/", "_xsrf"), "")
    resp = await fetch(urljoin(base, "hub/login"), method="POST",
                       body=urlencode({"username": name, "password": PASSWORD, "_xsrf": xsrf}),
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    url = urljoin(base, "hub/login")
    while True:
        if resp.code in (301, 302, 303, 307):
            url = urljoin(url, resp.headers["Location"])
            if (urlsplit(url).path == urlsplit(page).path  # at the dashboard, logged in
                    and (urlsplit(server).path, f"jupyterhub-user-{name}") in jar.cookies):
                s.spawn_s = time.perf_counter() - t0
                return Target(page, server, jar.header(page))
        elif resp.code == 200 and "/hub/spawn-pending/" in url:
            if time.perf_counter() > deadline:
                s.errors.append(f"{name}'s server not started after {args.spawn_timeout:.0f} s")
                return None
            await asyncio.sleep(0.5)  # the pending page: a browser waits for its progress events
        else:
            text = resp.body.decode(errors="replace") if resp.body else ""
            found = re.search(r"<p[^>]*>\s*([^<]{5,300})", text)
            s.errors.append(f"login/spawn of {name}: HTTP {resp.code} at {urlsplit(url).path}"
                            + (f": {found[1].strip()}" if found else ""))
            return None
        resp = await fetch(url)


def hub_config(environ: dict | None = None):
    """config/jupyterhub_config.py as JupyterHub loads it (with `environ` as the environment)."""
    from traitlets.config.loader import PyFileConfigLoader

    saved = dict(os.environ)
    try:
        if environ is not None:
            os.environ.clear()
            os.environ.update(environ)
        return PyFileConfigLoader(Path(HUB_CONFIG).name,
                                  path=str(ROOT / Path(HUB_CONFIG).parent)).load_config()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def missing_parts() -> str:
    """What --hub needs and is not installed ('' when nothing): jupyterhub, the proxy."""
    import shutil
    from importlib.util import find_spec

    if find_spec("jupyterhub") is None:
        return "the jupyterhub package (pip install -e '.[hub]')"
    proxy = hub_config().ConfigurableHTTPProxy.command[0]
    if not (os.access(proxy, os.X_OK) or shutil.which(proxy)):
        return (f"configurable-http-proxy ({proxy}; npm install --prefix .hub "
                "configurable-http-proxy)")
    return ""


def hub_settings() -> dict:
    """What loadtest.json records of the hub's set-up."""
    cfg = hub_config()
    return {"hub": f"{cfg.JupyterHub.spawner_class} spawner, {cfg.JupyterHub.authenticator_class}"
                   " authenticator", "preheat_kernel": False, "pool_size": 0,
            "pool_refill_delay_s": 0.0, "default_url": cfg.Spawner.default_url}


class Hub:
    """The hub of `make hub` on free ports; the interface of loadtest.Server for its Meter."""

    term_wait = 45  # the hub stops every student's server (each up to ~15 s) before it exits

    def __init__(self, ports: tuple[int, int, int], log_path: Path, state: Path,
                 env: dict | None = None):
        self.ports, self.log_path, self.state = ports, log_path, state
        self.env = {**(env or {}), "LAB_HUB_DIR": str(state)}
        self.url = f"http://127.0.0.1:{ports[0]}/"
        self.proc: subprocess.Popen | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        env = {**os.environ, **self.env}
        self.state.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                hub_command(*self.ports), cwd=ROOT, env=env, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_ready(self, timeout: float) -> dict:
        """Wait until the hub answers through the proxy; return the seconds it took."""
        t0 = time.monotonic()
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyterhub exited ({self.proc.returncode}):\n"
                                   f"{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "hub/api/", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > t0 + timeout:
                raise RuntimeError(f"jupyterhub not answering after {timeout:.0f} s")
            time.sleep(0.25)
        return {"http_s": round(time.monotonic() - t0, 1)}

    def family(self) -> list[psutil.Process]:
        """The hub and everything it started: the proxy, students' servers and their kernels."""
        return family_of(self.proc)

    @staticmethod
    def role(p: psutil.Process) -> str:
        """'hub' for the hub and the proxy, 'server' for a student's Jupyter server."""
        try:
            cmd = " ".join(p.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return "hub"
        return "server" if "jupyterhub-singleuser" in cmd else "hub"

    def kernel_ids(self) -> list[str]:
        return re.findall(r"Kernel started: ([0-9a-f-]{36})", self.log())

    def stop(self) -> None:
        """SIGTERM the hub (it stops the servers and the proxy), then SIGKILL what is left."""
        if self.proc is None:
            return
        # students' servers and kernels run in sessions of their own
        stop_group(self.proc, self.family()[1:], self.term_wait)
