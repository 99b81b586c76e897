"""The viewers of tools/loadtest.py: headless chromium pages, or bare widget-protocol clients.

Both do the same session: open the dashboard, wait for the first figure and the end of the first
training, then move the depth slider a few times, each time waiting for the new network's first
figure (the status line names the new depth once its figure has been sent) and the end of its
training. Every wait has a timeout; every error is recorded, never raised.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import uuid
from dataclasses import asdict, dataclass, field
from urllib.parse import urlencode

DEPTHS = (12, 8, 14, 6, 16, 10)  # the depth slider's successive values (default depth: 10)
DONE = r"finished|diverged at|stopped (early|at the)|stopped by an error"  # a run that has ended
PROBLEMS = ("Traceback", "There was an error when executing cell")

FIGURE = ".lab-figure img, img.lab-figure"
FIGURE_JS = """() => {
    const img = document.querySelector(FIGURE);
    return !!img && /^(blob:|data:)/.test(img.src) && img.complete && img.naturalWidth > 0;
}""".replace("FIGURE", json.dumps(FIGURE))
STATUS_JS = """(pattern) => {
    const el = document.querySelector('.lab-status');
    return !!el && new RegExp(pattern).test(el.innerText);
}"""
KERNEL_JS = """() => {
    const el = document.getElementById('jupyter-config-data');
    try { return el ? JSON.parse(el.textContent).kernelId || null : null; }
    catch (e) { return null; }
}"""
PROBLEM_JS = """() => {
    const text = document.body ? document.body.innerText : '';
    const msg = document.querySelector('.lab-message');
    if (/Traceback|There was an error when executing cell/.test(text)) return text.slice(0, 300);
    if (msg && /Something went wrong/.test(msg.innerText)) return msg.innerText.slice(0, 300);
    return null;
}"""


@dataclass
class Session:
    """What one viewer saw; times in seconds from the page request or the control change."""

    index: int
    spawn_s: float | None = None  # JupyterHub: login -> the student's server answers
    kernel_id: str | None = None
    warm_kernel: bool | None = None  # True: the kernel was in the pool before the load began
    first_figure_s: float | None = None
    first_finished_s: float | None = None
    change_to_figure_s: list[float] = field(default_factory=list)
    change_to_finished_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)  # also counted in errors
    external_failures: int = 0  # requests to other hosts (no network here): not errors

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("spawn_s", "first_figure_s", "first_finished_s"):
            d[key] = None if d[key] is None else round(d[key], 3)
        for key in ("change_to_figure_s", "change_to_finished_s"):
            d[key] = [round(x, 3) for x in d[key]]
        return d


async def _staggered(index: int, args) -> None:
    if args.ramp > 0 and args.sessions > 1:
        await asyncio.sleep(args.ramp * index / (args.sessions - 1))


async def _bounded(coro, session: Session, args) -> Session:
    """Run one session with its overall timeout; a timeout is an error of that session."""
    try:
        await asyncio.wait_for(coro, args.session_timeout)
    except asyncio.TimeoutError:
        session.errors.append(f"session not done after {args.session_timeout:.0f} s")
    except Exception as e:  # noqa: BLE001 - one viewer's failure is a result, not a crash
        session.errors.append(f"{type(e).__name__}: {str(e)[:300]}")
    return session


# ---------------------------------------------------------------- chromium pages

BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-quic",
                "--no-first-run"]


async def browser_sessions(url: str, args, warm: set[str], sessions: list[Session]) -> None:
    """One page per session in one headless chromium, each in a context of its own."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=args.chromium, headless=True,
                                           args=BROWSER_ARGS)
        contexts = []
        try:
            for _ in sessions:
                contexts.append(await browser.new_context(viewport={"width": 1400,
                                                                    "height": 1000}))
            await asyncio.gather(*(
                _bounded(_browser_session(ctx, s, url, args, warm), s, args)
                for ctx, s in zip(contexts, sessions, strict=True)))
        finally:
            # Leaving a page sends Voila's shutdown beacon: its kernel stops at once.
            await asyncio.gather(*(_leave(ctx) for ctx in contexts), return_exceptions=True)
            await browser.close()


async def _leave(context) -> None:
    try:
        for page in context.pages:
            await page.goto("about:blank", timeout=10_000)
    finally:
        await context.close()


async def _browser_session(context, s: Session, url: str, args, warm: set[str]) -> None:
    await _staggered(s.index, args)
    page = await context.new_page()
    page.set_default_timeout(args.wait * 1000)
    host = url.split("/")[2]
    done = []  # once the session is over, leaving the page may abort requests: not errors

    def on_pageerror(e) -> None:
        if not done:
            s.errors.append(f"page error: {str(e)[:300]}")

    def on_console(msg) -> None:
        if msg.type != "error" or done:
            return
        where = (msg.location or {}).get("url", "")
        if msg.text.startswith("Failed to load resource") and host not in where:
            return  # counted by on_failed as an external failure
        s.console_errors.append(msg.text[:300])
        s.errors.append(f"console error: {msg.text[:300]}")

    def on_failed(request) -> None:
        if done:
            return
        if request.url.split("/")[2:3] != [host]:
            s.external_failures += 1  # e.g. the template's font-awesome CSS from a CDN
        else:
            s.errors.append(f"request failed: {request.url} {request.failure}")

    page.on("pageerror", on_pageerror)
    page.on("console", on_console)
    page.on("requestfailed", on_failed)
    try:
        await _browse(page, s, url, args, warm)
    finally:
        done.append(True)


async def _browse(page, s: Session, url: str, args, warm: set[str]) -> None:
    """The session's steps in an open page; events are recorded by _browser_session."""

    async def wait(js: str, arg, what: str) -> bool:
        try:
            await page.wait_for_function(js, arg=arg, polling=50)
            return True
        except Exception as e:  # noqa: BLE001 - a timeout or a closed page
            problem = await _problem(page)
            s.errors.append(f"no {what} after {args.wait:.0f} s ({type(e).__name__})"
                            + (f": {problem}" if problem else ""))
            return False

    t0 = time.perf_counter()
    response = await page.goto(url, wait_until="commit")
    if response is not None and response.status >= 400:
        s.errors.append(f"HTTP {response.status} for the page")
        return
    if not await wait(FIGURE_JS, None, "first figure"):
        return
    s.first_figure_s = time.perf_counter() - t0
    s.kernel_id = await page.evaluate(KERNEL_JS)
    s.warm_kernel = s.kernel_id in warm if s.kernel_id else None
    if not await wait(STATUS_JS, DONE, "end of the first training"):
        return
    s.first_finished_s = time.perf_counter() - t0
    readout = page.locator(".lab-control-depth .widget-readout").first
    for depth in DEPTHS[:args.changes]:
        await asyncio.sleep(args.think)
        await readout.click()
        await page.keyboard.press("Control+A")
        await page.keyboard.type(str(depth))
        t1 = time.perf_counter()
        await page.keyboard.press("Enter")
        if not await wait(STATUS_JS, rf"depth {depth}\b", f"figure for depth {depth}"):
            return
        s.change_to_figure_s.append(time.perf_counter() - t1)
        if not await wait(STATUS_JS, rf"depth {depth}\b[\s\S]*({DONE})",
                          f"end of training for depth {depth}"):
            return
        s.change_to_finished_s.append(time.perf_counter() - t1)
    problem = await _problem(page)
    if problem:
        s.errors.append(f"error shown on the page: {problem}")


async def _problem(page) -> str | None:
    try:
        return await page.evaluate(PROBLEM_JS)
    except Exception:  # noqa: BLE001 - the page is gone
        return None


# ---------------------------------------------------------------- protocol clients


@dataclass(frozen=True)
class Target:
    """Where one ws client goes: the page, the server's base URL, the cookies to send."""

    page: str  # the dashboard's URL
    base: str  # the Jupyter (or Voila) server's base URL, ending in "/"
    cookie: str = ""  # a Cookie header value (JupyterHub's login), or none


async def ws_sessions(url: str, args, warm: set[str], sessions: list[Session],
                      prepare=None) -> None:
    """Clients that fetch the page over HTTP and drive the widgets over the kernel websocket.

    prepare(http, session) -> Target, when given, runs first in each session (JupyterHub's login
    and spawn); without it every session opens `url` on the stand-alone Voila server.
    """
    from tornado.httpclient import AsyncHTTPClient

    http = AsyncHTTPClient(force_instance=True, max_clients=max(10, len(sessions)))
    try:
        await asyncio.gather(*(_bounded(_ws_session(http, s, url, args, warm, prepare), s, args)
                               for s in sessions))
    finally:
        http.close()


V1 = "v1.kernel.websocket.jupyter.org"  # the protocol of Voila's pages (config/voila.py: only it)


def _msg(msg_type: str, content: dict, session: str, metadata: dict | None = None) -> bytes:
    """A shell message in the v1 kernel websocket protocol."""
    from jupyter_server.services.kernels.connection.base import serialize_msg_to_ws_v1

    header = {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "username": "loadtest",
              "session": session, "date": "", "version": "5.3"}
    parts = [json.dumps(x).encode() for x in (header, {}, metadata or {}, content)]
    return serialize_msg_to_ws_v1(parts, "shell")


class _Widgets:
    """The dashboard's widget models as seen through comm messages."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}  # "figure" / "status" / "depth" -> model id
        self.status = ""
        self.figure_seen = False
        self.changed = asyncio.Condition()

    def on_states(self, states: dict, buffer_paths: list, buffers: list) -> None:
        roles = {"lab-figure": "figure", "lab-status": "status", "lab-control-depth": "depth"}
        states = {k: v.get("state", {}) for k, v in states.items()}  # {id: {model_name, state}}
        for model_id, state in states.items():
            for cls in state.get("_dom_classes", ()):
                if cls in roles:
                    self.ids[roles[cls]] = model_id
        fig = self.ids.get("figure")
        for path, buf in zip(buffer_paths, buffers, strict=False):  # [[id, "state", "value"]]
            if path[:1] == [fig] and path[-1:] == ["value"] and len(buf) > 0:
                self.figure_seen = True
        if "status" in self.ids:
            self.status = states[self.ids["status"]].get("value", self.status)

    def on_update(self, comm_id: str, state: dict, buffers: list) -> None:
        if comm_id == self.ids.get("figure") and buffers and len(buffers[0]) > 0:
            self.figure_seen = True
        if comm_id == self.ids.get("status") and "value" in state:
            self.status = state["value"]


async def _ws_session(http, s: Session, url: str, args, warm: set[str], prepare=None) -> None:
    from websockets.asyncio.client import connect

    await _staggered(s.index, args)
    target = Target(url, url) if prepare is None else await prepare(http, s)
    if target is None:  # the login or the spawn failed: prepare recorded why
        return
    cookies = {"Cookie": target.cookie} if target.cookie else {}
    t0 = time.perf_counter()
    resp = await http.fetch(target.page, request_timeout=args.wait, raise_error=False,
                            headers=cookies)
    if resp.code != 200:
        s.errors.append(f"HTTP {resp.code} for the page")
        return
    page = resp.body.decode(errors="replace")
    for problem in PROBLEMS:
        if problem in page:
            s.errors.append(f"error shown on the page: {problem}")
    found = re.search(r'"kernelId":\s*"([0-9a-f-]{36})"', page)
    if not found:
        s.errors.append("no kernel id in the page")
        return
    s.kernel_id = found[1]
    s.warm_kernel = s.kernel_id in warm
    # Double-submit XSRF token for the shutdown request: the same value as cookie and field
    # (under JupyterHub, the _xsrf cookie its login set for the student's server).
    xsrf = next((c.split("=", 1)[1].split(";")[0] for c in resp.headers.get_list("Set-Cookie")
                 if c.startswith("_xsrf=")), None) or _cookie(target.cookie, "_xsrf")
    client_session = uuid.uuid4().hex
    ws_url = (target.base.replace("http://", "ws://", 1)
              + f"api/kernels/{s.kernel_id}/channels?session_id={client_session}")
    widgets = _Widgets()
    try:
        async with connect(ws_url, subprotocols=[V1], max_size=None, open_timeout=args.wait,
                           additional_headers=cookies) as ws:
            reader = asyncio.ensure_future(_read(ws, widgets, s))
            try:
                await _drive(ws, widgets, s, t0, args, client_session)
            finally:
                reader.cancel()
    finally:  # what the page's beforeunload beacon does: the kernel stops now
        await _shutdown(http, target, s.kernel_id, xsrf)


def _cookie(header: str, name: str) -> str:
    """The value of cookie `name` in a Cookie header ("a=1; b=2"), or a fresh random token."""
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return uuid.uuid4().hex


def _with_cookie(header: str, name: str, value: str) -> str:
    """A Cookie header with `name` set to `value`, in place of any value it had."""
    kept = [x.strip() for x in header.split(";")
            if x.strip() and x.strip().partition("=")[0] != name]
    return "; ".join([*kept, f"{name}={value}"])


async def _shutdown(http, target: Target, kernel_id: str, xsrf: str) -> None:
    try:
        body = urlencode({"_xsrf": xsrf})
        await http.fetch(f"{target.base}voila/api/shutdown/{kernel_id}", method="POST",
                         body=body,
                         headers={"Cookie": _with_cookie(target.cookie, "_xsrf", xsrf),
                                  "Content-Type": "application/x-www-form-urlencoded"},
                         raise_error=False, request_timeout=30)
    except Exception:  # noqa: BLE001 - the server stops every kernel at the end anyway
        pass


async def _read(ws, widgets: _Widgets, s: Session) -> None:
    try:
        await _read_messages(ws, widgets, s)
    except asyncio.CancelledError:
        raise
    except Exception as e:  # noqa: BLE001 - e.g. the connection closed: the waits time out
        s.errors.append(f"websocket: {type(e).__name__}: {str(e)[:200]}")


async def _read_messages(ws, widgets: _Widgets, s: Session) -> None:
    from jupyter_server.services.kernels.connection.base import deserialize_msg_from_ws_v1

    async for raw in ws:
        channel, parts = deserialize_msg_from_ws_v1(raw)
        if channel != "iopub" or len(parts) < 4:
            continue
        kind = json.loads(parts[0])["msg_type"]
        if kind not in ("comm_msg", "error"):
            continue
        content, buffers = json.loads(parts[3]), parts[4:]
        if kind == "error":
            s.errors.append(f"kernel error: {content.get('ename')}: {content.get('evalue')}")
            continue
        data = content.get("data", {})
        if data.get("method") == "update_states":
            widgets.on_states(data.get("states", {}), data.get("buffer_paths", []), buffers)
        elif data.get("method") == "update":
            widgets.on_update(content.get("comm_id"), data.get("state", {}), buffers)
        else:
            continue
        async with widgets.changed:
            widgets.changed.notify_all()


async def _drive(ws, widgets: _Widgets, s: Session, t0: float, args, client: str) -> None:
    async def until(pred, what: str) -> bool:
        try:
            async with widgets.changed:
                await asyncio.wait_for(widgets.changed.wait_for(pred), args.wait)
            return True
        except asyncio.TimeoutError:
            s.errors.append(f"no {what} after {args.wait:.0f} s (status: {widgets.status!r})")
            return False

    control = uuid.uuid4().hex  # ipywidgets' control comm: all widget states on request
    await ws.send(_msg("comm_open", {"comm_id": control, "target_name": "jupyter.widget.control",
                                     "data": {}}, client, {"version": "1.0.0"}))
    request = _msg("comm_msg", {"comm_id": control, "data": {"method": "request_states"}}, client)
    known = lambda: {"figure", "status", "depth"} <= set(widgets.ids)  # noqa: E731
    for _ in range(3):  # the kernel may see the request before the comm is open: ask again
        await ws.send(request)
        try:
            async with widgets.changed:
                await asyncio.wait_for(widgets.changed.wait_for(known), 5.0)
            break
        except asyncio.TimeoutError:
            continue
    if not await until(known, "widget states"):
        return
    if not await until(lambda: widgets.figure_seen, "first figure"):
        return
    s.first_figure_s = time.perf_counter() - t0
    if not await until(lambda: re.search(DONE, widgets.status), "end of the first training"):
        return
    s.first_finished_s = time.perf_counter() - t0
    for depth in DEPTHS[:args.changes]:
        await asyncio.sleep(args.think)
        update = {"method": "update", "state": {"value": depth}, "buffer_paths": []}
        t1 = time.perf_counter()
        await ws.send(_msg("comm_msg", {"comm_id": widgets.ids["depth"], "data": update},
                           client))
        new = re.compile(rf"depth {depth}\b")
        if not await until(lambda n=new: n.search(widgets.status), f"figure for depth {depth}"):
            return
        s.change_to_figure_s.append(time.perf_counter() - t1)
        done = re.compile(rf"depth {depth}\b[\s\S]*({DONE})")
        if not await until(lambda d=done: d.search(widgets.status),
                           f"end of training for depth {depth}"):
            return
        s.change_to_finished_s.append(time.perf_counter() - t1)


def family_of(proc) -> list:
    """`proc` and every process it started, its children's own sessions included."""
    import psutil

    try:
        root = psutil.Process(proc.pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def stop_group(proc, family: list, term_wait: float) -> None:
    """SIGTERM `proc`'s process group, then SIGKILL it, then whatever of `family` is left
    (processes that run in sessions of their own: kernels, students' servers)."""
    import signal
    import subprocess

    import psutil

    for sig, wait in ((signal.SIGTERM, term_wait), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    _, alive = psutil.wait_procs(family, timeout=10)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)
