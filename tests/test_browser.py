"""The dashboard in a real browser: Voila (configured as by `make demo`) + Debian's chromium.

Starts Voila on a free 127.0.0.1 port with config/voila.py (preheated kernels included) and
drives headless chromium through the playwright package. Screenshots, the Voila log and the
measured latencies (also printed as `LATENCY ...` lines, see `pytest -s`) go to
test-artifacts/. `playwright install` cannot download browsers here, so the browser is
$CHROMIUM or /usr/bin/chromium (.ci/run installs Debian's `chromium`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from lab import presets
from lab.config import Config

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
NOTEBOOK = "notebooks/dashboard.ipynb"
CONFIG_DIR = "config"  # what `make demo` passes as --Voila.config_file_paths
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
START_TIMEOUT_S = 60  # Voila answering HTTP
POOL_TIMEOUT_S = 90  # its preheated kernels ready (then pages don't wait for kernel start)
WAIT_MS = 90_000  # any one wait in a page

FIGURE = ".lab-figure img, img.lab-figure"
# The figure's src once it is a loaded blob:/data: image, else null; arg: a src to differ from.
NEW_FIGURE_JS = """(old) => {
    const img = document.querySelector(FIGURE);
    if (!img || !/^(blob:|data:)/.test(img.src) || !img.complete || !img.naturalWidth) return null;
    return img.src !== old ? img.src : null;
}""".replace("FIGURE", json.dumps(FIGURE))
# True once the status line matches the regular expression `arg`.
STATUS_JS = """(pattern) => {
    const el = document.querySelector('.lab-status');
    return !!el && new RegExp(pattern).test(el.innerText);
}"""

pytestmark = pytest.mark.timeout(300)  # each test, its share of the fixtures included


def _chromium() -> str:
    path = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
    if shutil.which(path) is None:
        reason = (f"no chromium at {path} (set $CHROMIUM or `apt-get install chromium`; "
                  "`playwright install` cannot download browsers here)")
        if os.environ.get("CI"):
            pytest.fail(f"CI must have a browser: {reason}")
        print(f"SKIP test_browser: {reason}")
        pytest.skip(reason)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _voila_command() -> list[str]:
    voila = Path(sys.executable).with_name("voila")
    return [str(voila)] if voila.exists() else [sys.executable, "-m", "voila"]


class Server:
    def __init__(self, port: int, log_path: Path):
        self.port = port
        self.url = f"http://127.0.0.1:{port}/"
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _wait_idle(proc: subprocess.Popen, timeout: float) -> bool:
    """Wait until Voila and its kernels use < 10% of a core for two 0.5 s samples in a row."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline:
        try:
            procs = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
            for p in procs:
                p.cpu_percent(None)
            time.sleep(0.5)
            busy = sum(p.cpu_percent(None) for p in procs if p.is_running())
        except psutil.NoSuchProcess:
            continue
        quiet = quiet + 1 if busy < 10 else 0
        if quiet == 2:
            return True
    return False


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM Voila's process group (Voila shuts its kernels down), then SIGKILL what is left,
    kernels included: jupyter_client starts each kernel in a session of its own."""
    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
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


@pytest.fixture(scope="module")
def browser_path():
    return _chromium()


@pytest.fixture(scope="module")
def server(browser_path):
    """Voila serving the dashboard as `make demo` does, on a free port; stopped at teardown."""
    ARTIFACTS.mkdir(exist_ok=True)
    port = _free_port()
    log_path = ARTIFACTS / "voila.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [*_voila_command(), NOTEBOOK, f"--port={port}", "--no-browser",
           "--Voila.ip=127.0.0.1", "--theme=light", f"--Voila.config_file_paths={CONFIG_DIR}"]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    srv = Server(port, log_path)
    try:
        t0 = time.perf_counter()
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:  # a static file: asking for the page would use up a pooled kernel
            assert proc.poll() is None, f"voila exited ({proc.returncode}):\n{srv.log()}"
            try:
                with urllib.request.urlopen(srv.url + "voila/static/voila.js", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"voila not answering:\n{srv.log()}"
            time.sleep(0.25)
        print(f"LATENCY voila answers HTTP after {time.perf_counter() - t0:.1f} s")
        # With preheat_kernel, the pool's kernels start at once; without, none start yet.
        t_up = time.monotonic()
        deadline = t_up + POOL_TIMEOUT_S
        while "is filled with" not in srv.log() and time.monotonic() < deadline:
            assert proc.poll() is None, f"voila exited ({proc.returncode}):\n{srv.log()}"
            if "Kernel started" not in srv.log() and time.monotonic() > t_up + 10:
                break
            time.sleep(0.25)
        srv.preheated = "is filled with" in srv.log()
        # Pooled kernels run the notebook up to wait_for_request (importing torch): measure
        # pages against a settled server, as a visitor after the first would see it.
        settled = _wait_idle(proc, POOL_TIMEOUT_S)
        print(f"LATENCY voila kernel pool ready after {time.perf_counter() - t0:.1f} s "
              f"(preheated: {srv.preheated}, idle: {settled})")
        yield srv
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def browser(browser_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=browser_path, headless=True, args=BROWSER_ARGS)
        try:
            yield b
        finally:
            b.close()


def _recorded(filename: str):
    """A dict the tests of this module fill, written to test-artifacts/`filename` at the end."""
    record: dict = {}
    yield record
    if record:
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / filename).write_text(json.dumps(record, indent=2) + "\n")


@pytest.fixture(scope="module")
def latencies():
    yield from _recorded("latency.json")


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.page_errors = errors
    try:
        yield pg
    finally:  # a screenshot for every test, failed ones included
        try:
            ARTIFACTS.mkdir(exist_ok=True)
            pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
            # Leaving the page sends Voila's shutdown beacon: its kernel stops training.
            pg.goto("about:blank", timeout=10_000)
        finally:
            context.close()


# ---------------------------------------------------------------- helpers


def _wait_figure(page, old: str | None = None) -> str:
    """Wait for a loaded figure whose src differs from `old`; return its src."""
    return page.wait_for_function(NEW_FIGURE_JS, arg=old, polling="raf").json_value()


def _figure_src(page) -> str:
    return page.locator(FIGURE).first.get_attribute("src") or ""


def _wait_status(page, pattern: str) -> None:
    try:
        page.wait_for_function(STATUS_JS, arg=pattern, polling="raf")
    except Exception as e:
        raise AssertionError(f"status never matched /{pattern}/: {_status(page)!r}") from e


def _status(page) -> str:
    return page.locator(".lab-status").first.inner_text()


def _open(page, server, query: str = "") -> float:
    """Navigate; return the navigation's start time (perf_counter)."""
    t0 = time.perf_counter()
    page.goto(server.url + query, wait_until="commit")
    return t0


def _depth(page) -> str:
    return page.locator(".lab-control-depth .widget-readout").first.inner_text().strip()


def _activation(page) -> str:
    return page.locator(".lab-control-activation select").first.input_value()


def _assert_no_error(page) -> None:
    content = page.content()
    assert "Traceback" not in content
    assert "There was an error when executing cell" not in content
    for text in page.locator(".jp-OutputArea-output").all_inner_texts():
        assert "Error" not in text, text
    assert not page.page_errors, page.page_errors


def _record(latencies: dict, name: str, seconds: float) -> None:
    latencies[name] = round(seconds, 3)
    print(f"LATENCY {name}: {seconds:.2f} s")


# ---------------------------------------------------------------- tests


def test_makefile_demo_uses_this_configuration():
    """The server below is `make demo`'s: same config directory, one thread per kernel."""
    recipe = (ROOT / "Makefile").read_text().split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    assert f"--Voila.config_file_paths={CONFIG_DIR}" in recipe
    assert "OMP_NUM_THREADS=1" in recipe and "MKL_NUM_THREADS=1" in recipe
    assert (ROOT / CONFIG_DIR / "voila.py").is_file()


def test_dashboard_renders_and_retrains_on_a_control_change(page, server, latencies):
    t0 = _open(page, server)
    src = _wait_figure(page)
    _record(latencies, "page_open_to_first_figure", time.perf_counter() - t0)
    _wait_status(page, r"finished")
    _record(latencies, "page_open_to_finished", time.perf_counter() - t0)
    assert re.search(r"depth 10\b", _status(page))
    # Voila read config/voila.py: its culling settings are in the log.
    assert "idle durations > 600 seconds at 60 second intervals" in server.log()
    page.screenshot(path=str(ARTIFACTS / "dashboard-default.png"), full_page=True)
    src = _figure_src(page)  # the final frame's

    readout = page.locator(".lab-control-depth .widget-readout").first
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("12")
    t1 = time.perf_counter()
    page.keyboard.press("Enter")
    _wait_figure(page, old=src)
    _record(latencies, "depth_change_to_first_new_figure", time.perf_counter() - t1)
    _wait_status(page, r"depth 12\b[\s\S]*finished")
    _record(latencies, "depth_change_to_finished", time.perf_counter() - t1)
    assert _depth(page) == "12"
    assert _figure_src(page) != src
    page.screenshot(path=str(ARTIFACTS / "dashboard-depth-12.png"), full_page=True)
    _assert_no_error(page)


def test_preset_sets_controls_lesson_and_figure(page, server, latencies):
    preset = presets.get("vanishing-sigmoid")
    _open(page, server)
    _wait_figure(page)
    _wait_status(page, r"finished")
    src = _figure_src(page)
    assert page.locator(".lab-lesson").first.inner_text().strip() == ""

    select = page.locator(".lab-presets select").first
    labels = [o.strip() for o in select.locator("option").all_inner_texts()]
    label = next(o for o in labels if "vanishing-sigmoid" in o)
    t1 = time.perf_counter()
    select.select_option(label=label)
    _wait_figure(page, old=src)
    _record(latencies, "preset_to_first_new_figure", time.perf_counter() - t1)
    page.wait_for_function(
        "() => document.querySelector('.lab-lesson')?.innerText.trim().length > 0")
    assert _activation(page) == "sigmoid"
    assert _depth(page) == str(preset.config.depth)
    _wait_status(page, rf"depth {preset.config.depth}\b[\s\S]*sigmoid[\s\S]*finished")
    _record(latencies, "preset_to_finished", time.perf_counter() - t1)
    assert _figure_src(page) != src
    _assert_no_error(page)


def test_query_string_sets_the_first_config(page, server, latencies):
    used_before = server.log().count("Using pre-heated kernel")
    t0 = _open(page, server, "?depth=30&activation=sigmoid")
    _wait_figure(page)
    _record(latencies, "query_page_open_to_first_figure", time.perf_counter() - t0)
    page.wait_for_function(
        "() => document.querySelector('.lab-control-depth .widget-readout')?.innerText.trim()"
        " === '30'")
    assert _activation(page) == "sigmoid"
    _wait_status(page, r"depth 30\b[\s\S]*sigmoid")
    if server.preheated:  # the query reached a pooled kernel (through wait_for_request)
        assert server.log().count("Using pre-heated kernel") > used_before
    assert page.locator(".lab-message").first.inner_text().strip() == ""
    _assert_no_error(page)


def test_bad_query_shows_a_message_and_the_defaults(page, server):
    default = Config()
    _open(page, server, "?depth=abc")
    _wait_figure(page)
    page.wait_for_function(
        "() => /depth/.test(document.querySelector('.lab-message')?.innerText || '')")
    _wait_status(page, rf"depth {default.depth}\b[\s\S]*{default.activation}")
    assert _depth(page) == str(default.depth)
    _assert_no_error(page)


def test_chinese_page_from_the_share_link_and_the_switch_back(page, server):
    """?lang=zh: the page in Chinese (screenshot: test-artifacts/dashboard-zh.png, to look at
    for missing glyphs); the switch relabels it in English without retraining."""
    _open(page, server, "?lang=zh&depth=6")
    _wait_figure(page)
    _wait_status(page, r"深度 6\b[\s\S]*已完成 300 步")
    page.wait_for_function(
        "() => /^诊断：/.test(document.querySelector('.lab-diagnosis')?.innerText.trim() || '')")
    text = page.locator(".lab-dashboard").first.inner_text()
    for shown in ("预设场景", "模型", "隐藏层数", "激活函数", "学习率", "固定为 A/B 对照", "分享"):
        assert shown in text, shown
    assert page.locator(".lab-link input").first.input_value() == "?depth=6&lang=zh"
    page.screenshot(path=str(ARTIFACTS / "dashboard-zh.png"), full_page=True)
    chinese_figure = _figure_src(page)
    page.locator(".lab-lang button", has_text="English").first.click()
    _wait_status(page, r"depth 6\b[\s\S]*finished 300 steps")  # the same run, relabelled
    _wait_figure(page, chinese_figure)  # and its figure redrawn with English text
    assert "Hidden layers" in page.locator(".lab-dashboard").first.inner_text()
    assert page.locator(".lab-link input").first.input_value() == "?depth=6"
    _assert_no_error(page)


# ---------------------------------------------------------------- security of the demo site
# (the same rules without a server: tests/test_security.py)

V1 = "v1.kernel.websocket.jupyter.org"
CRAFTED = {  # issue 7's crafted query strings -> how the page names each
    "dataset=../../etc/passwd": "dataset='../../etc/passwd'",
    "depth=1e9": "depth='1e9'",
    "lr=nan": "lr=nan",
    "activation=relu;rm": "activation='relu;rm'",
}
KERNEL_JS = """() => JSON.parse(
    document.getElementById('jupyter-config-data').textContent).kernelId"""
# Requests a viewer might craft, each refused (after the redirects Voila answers with). No
# response may carry the file: /etc/passwd, our source, a notebook, pyproject.toml, docs' PNG.
REFUSED = [
    "/static/etc/passwd",  # the request of CVE-2024-30265
    "/static/../../../../../../etc/passwd",
    "/static/lab/config.py",
    "/voila/static/../../lab/config.py",
    "/voila/static/..%2F..%2F..%2Flab%2Fconfig.py",
    "/voila/files/dashboard.ipynb",
    "/voila/files/notebooks/dashboard.ipynb",
    "/voila/files/lab/config.py",
    "/voila/files/../lab/config.py",
    "/voila/files/../pyproject.toml",
    "/voila/files/..%2Fpyproject.toml",
    "/voila/files/../docs/dashboard.png",  # an image, but outside notebooks/
    "/voila/files/..%2Fdocs%2Fdashboard.png",
    "/voila/files/01_vanishing_gradients.ipynb",
    "/lab/config.py",
    "/pyproject.toml",
    "/dashboard.ipynb",
    "/notebooks/dashboard.ipynb",
    "/files/dashboard.ipynb",
    "/tree",
    "/voila/tree",
    "/voila/render/dashboard.ipynb",
    "/api/contents",
    "/api/contents/dashboard.ipynb",
    "/voila/api/contents",
    "/api/kernels",
    "/api/sessions",
]
LEAKS = (b"root:", b"lenient_from_query", b'"nbformat"', b"[project]", b"\x89PNG")


def _request(server, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    """Send `path` as is (no normalization of .. or %2F), following up to 5 redirects."""
    import http.client
    from urllib.parse import urlsplit

    for _ in range(6):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            conn.request(method, path, body=body)
            resp = conn.getresponse()
            status, data, location = resp.status, resp.read(), resp.getheader("Location")
        finally:
            conn.close()
        if status not in (301, 302, 303, 307, 308) or not location:
            return status, data
        path, method, body = urlsplit(location)._replace(scheme="", netloc="").geturl(), "GET", None
    raise AssertionError(f"more than 5 redirects from {path}")


def test_files_beyond_what_the_page_needs_are_refused(server):
    status, _ = _request(server, "GET", "/voila/static/voila.js")
    assert status == 200  # the server answers; what follows is refused, not unreachable
    for path in REFUSED:
        status, data = _request(server, "GET", path)
        assert status in (403, 404), (path, status)
        assert not any(leak in data for leak in LEAKS), path
    # Voila's template-asset handler fails an assert on a path leaving its folder: a 500,
    # with nothing of the file.
    status, data = _request(server, "GET", "/voila/templates/lab/static/" + "../" * 8
                            + "etc/passwd")
    assert status in (403, 404, 500) and not any(leak in data for leak in LEAKS)
    for path in ("/api/kernels", "/api/sessions", "/api/contents/x.py"):
        status, data = _request(server, "POST", path, b'{"name": "python3"}')
        assert status in (403, 404, 405), (path, status)


def test_crafted_query_strings_are_named_on_the_page(page, server):
    default = Config()
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    _open(page, server, "?" + "&".join(CRAFTED))
    _wait_figure(page)
    page.wait_for_function(
        "() => /activation/.test(document.querySelector('.lab-message')?.innerText || '')")
    message = page.locator(".lab-message").first.inner_text()
    for shown in CRAFTED.values():
        assert shown in message, message
    _wait_status(page, rf"depth {default.depth}\b[\s\S]*{default.activation}")
    assert _depth(page) == str(default.depth)
    assert _activation(page) == default.activation
    _assert_no_error(page)
    # The page fetches no file of ours: its figure arrives as widget bytes (a blob: URL).
    assert not [u for u in requested if "/voila/files/" in u or "/api/contents" in u]


def _send(ws, msg_type: str, content: dict, session: str) -> str:
    import uuid

    from jupyter_server.services.kernels.connection.base import serialize_msg_to_ws_v1

    msg_id = uuid.uuid4().hex
    header = {"msg_id": msg_id, "msg_type": msg_type, "username": "viewer", "session": session,
              "date": "", "version": "5.3"}
    parts = [json.dumps(x).encode() for x in (header, {}, {}, content)]
    ws.send_binary(serialize_msg_to_ws_v1(parts, "shell"))
    return msg_id


def test_viewer_cannot_execute_code_over_the_kernel_websocket(page, server, tmp_path):
    import websocket
    from jupyter_server.services.kernels.connection.base import deserialize_msg_from_ws_v1

    _open(page, server)
    _wait_figure(page)
    kernel_id = page.evaluate(KERNEL_JS)
    url = f"ws://127.0.0.1:{server.port}/api/kernels/{kernel_id}/channels?session_id=viewer"
    # A client asking for no subprotocol (the legacy one, which locks Voila 0.5.13 up) is
    # refused before the websocket opens (config/voila.py).
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(url, timeout=30)
    assert refused.value.status_code == 400

    marker = tmp_path / "executed"
    ws = websocket.create_connection(url, timeout=30, subprotocols=[V1])
    parents: list[tuple[str, str]] = []  # (msg_type, parent msg_id) of every reply
    try:
        code = f"open({str(marker)!r}, 'w').write('viewer code ran')"
        executed = _send(ws, "execute_request", {
            "code": code, "silent": False, "store_history": False, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True}, "viewer")
        info = _send(ws, "kernel_info_request", {}, "viewer")
        ws.settimeout(0.5)
        deadline, quiet_until = time.monotonic() + 60, None
        while time.monotonic() < (quiet_until or deadline):
            try:
                _, data = ws.recv_data()
            except websocket.WebSocketTimeoutException:
                continue
            _, parts = deserialize_msg_from_ws_v1(data)
            parents.append((json.loads(parts[0])["msg_type"],
                            json.loads(parts[1]).get("msg_id", "")))
            if parents[-1] == ("kernel_info_reply", info) and quiet_until is None:
                quiet_until = time.monotonic() + 3  # and 3 s more for anything else
    finally:
        ws.close()
    assert ("kernel_info_reply", info) in parents  # the channel works: allowed messages pass
    assert [t for t, parent in parents if parent == executed] == []
    assert not marker.exists()
    assert 'Received message of type "execute_request", which is not allowed' in server.log()
    _assert_no_error(page)


KERNEL_ID_JS = """() => {
    const el = document.getElementById('jupyter-config-data');
    return el ? JSON.parse(el.textContent).kernelId || null : null;
}"""


def test_closing_the_tab_stops_its_kernel(browser, server):
    """Voila's beacon on leaving the page must be accepted (it carries the _xsrf cookie)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        pg = context.new_page()
        pg.set_default_timeout(WAIT_MS)
        _open(pg, server)
        _wait_figure(pg)
        kernel = pg.evaluate(KERNEL_ID_JS)
        assert kernel and re.fullmatch(r"[0-9a-f-]{36}", kernel)
        assert any(c["name"] == "_xsrf" for c in context.cookies()), "no _xsrf cookie"
        assert f"Kernel shutdown: {kernel}" not in server.log()
        pg.goto("about:blank", timeout=10_000)  # what closing the tab does: the beacon
        deadline = time.monotonic() + 30
        while f"Kernel shutdown: {kernel}" not in server.log():
            refused = re.search(rf"\d{{3}} POST /voila/api/shutdown/{kernel}\b.*", server.log())
            assert refused is None or refused[0].startswith("204"), refused[0]
            assert time.monotonic() < deadline, f"kernel {kernel} still running 30 s after"
            time.sleep(0.25)
    finally:
        context.close()


# ---------------------------------------------------------------- every screen a class uses
# (issue 14) Projector, laptop and phone sizes: the figure's on-screen width, nothing wider than
# the viewport, text wrapped in its column, and every control reachable, before and after each
# preset and with an error message on the page. One page per device kind; the desktop sizes
# are the same page resized. Viewport screenshots go to test-artifacts/layout-*.png
# (tools/dashboard_sizes.py composes docs/dashboard-sizes.png from them).

DESKTOPS = {"1920x1080": (1920, 1080), "1280x800": (1280, 800), "1024x768": (1024, 768)}
PHONE = (390, 844)
MIN_FIGURE_PX = {"1920x1080": 1200, "1280x800": 850, "1024x768": 600}  # the phone: its width
PAGE_MARGINS_PX = 40  # left and right together, on a phone
# A long unbroken value in the message, a bad view= and fields= (named, ignored), a bad depth.
ERROR_QUERY = "?depth=abc&dataset=" + "x" * 80 + "&view=foo&fields=depth,bogus"
# Where the figure is, what overflows the viewport's width, whether the page scrolls sideways.
LAYOUT_JS = """() => {
    const img = document.querySelector('.lab-figure');
    const r = img.getBoundingClientRect();
    const wide = [];
    for (const el of document.querySelectorAll('.lab-dashboard, .lab-dashboard *')) {
        const b = el.getBoundingClientRect();
        if (!b.width && !b.height) continue;  // not shown
        if (b.left < -1 || b.right > innerWidth + 1)
            wide.push(`${el.className} ${b.left}-${b.right}`);
    }
    for (const el of document.querySelectorAll('.lab-text .widget-html-content')) {
        if (el.scrollWidth > el.clientWidth + 1) wide.push(`${el.parentElement.className} text`);
    }
    const scrollers = [document.scrollingElement, document.getElementById('rendered_cells')];
    const sideways = scrollers.filter(s => s && s.scrollWidth > s.clientWidth + 1).length;
    return {width: r.width, height: r.height, left: r.left, right: r.right,
            innerWidth, innerHeight, wide: wide.slice(0, 10), sideways};
}"""
# Scroll each shown control into view (past the page's introduction first, as a teacher does
# once): the control and the whole figure must be on screen together. Returns the misses.
REACH_JS = """() => {
    const miss = [];
    document.querySelector('.lab-dashboard').scrollIntoView({block: 'start'});
    const inside = (b) => b.top >= -1 && b.bottom <= innerHeight + 1 && b.left >= -1
        && b.right <= innerWidth + 1;
    for (const el of document.querySelectorAll('.lab-controls [class*="lab-control-"]')) {
        if (!el.getClientRects().length) continue;  // hidden (projector mode)
        el.scrollIntoView({block: 'nearest'});
        const fig = document.querySelector('.lab-figure').getBoundingClientRect();
        if (!inside(el.getBoundingClientRect()) || !inside(fig))
            miss.push(`${el.className.match(/lab-control-\\w+/)[0]} fig ${fig.top}-${fig.bottom}`);
    }
    return miss;
}"""


def _layout(page, where: str, widths: dict) -> dict:
    """Measure; assert the figure is inside the viewport, 16:10, and nothing is wider."""
    m = page.evaluate(LAYOUT_JS)
    widths[where] = round(m["width"])
    assert m["left"] >= -1 and m["right"] <= m["innerWidth"] + 1, (where, m)
    assert m["height"] > 0 and abs(m["width"] / m["height"] - 1.6) < 0.02, (where, m)
    assert not m["wide"] and not m["sideways"], (where, m)
    return m


def _resize(page, w: int, h: int) -> None:
    """Set the viewport; wait until the page's (Lumino) layout has followed it."""
    page.set_viewport_size({"width": w, "height": h})
    page.wait_for_function("""([w, h]) => {
        const r = document.getElementById('rendered_cells')?.getBoundingClientRect();
        return innerWidth === w && innerHeight === h && !!r && Math.abs(r.width - w) < 1
            && Math.abs(r.height - h) < 1;
    }""", arg=[w, h])


def _pick(page, name: str) -> None:
    """Choose preset `name`; wait for its lesson, its share link and a status of its config."""
    preset = presets.get(name)
    select = page.locator(".lab-presets select").first
    select.scroll_into_view_if_needed()
    label = next(o.strip() for o in select.locator("option").all_inner_texts() if name in o)
    select.select_option(label=label)
    page.wait_for_function("""([lesson, link]) =>
        document.querySelector('.lab-lesson')?.innerText.trim() === lesson
        && document.querySelector('.lab-link input')?.value === link""",
                           arg=[preset.lesson, "?" + preset.config.to_query()])
    cfg = preset.config
    _wait_status(page, rf"depth {cfg.depth}\b[\s\S]*{cfg.activation}[\s\S]*{cfg.optimizer}")


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"layout-{name}.png"))


@pytest.fixture(scope="module")
def widths():
    yield from _recorded("layout.json")


def test_layout_fits_projector_and_laptop_screens(page, server, widths):
    def each_size(state: str) -> None:
        for size, (w, h) in DESKTOPS.items():
            _resize(page, w, h)
            m = _layout(page, f"{size} {state}", widths)
            assert m["width"] >= MIN_FIGURE_PX[size], (size, state, m)

    _open(page, server)
    _wait_figure(page)
    each_size("initial")
    for size, (w, h) in DESKTOPS.items():  # the figure and any control, on screen together
        _resize(page, w, h)
        assert page.evaluate(REACH_JS) == [], size
    for name in presets.names():
        _pick(page, name)
        if name == "vanishing-sigmoid":  # finished, for the README's picture
            _wait_status(page, r"finished")
            for size, (w, h) in DESKTOPS.items():
                _resize(page, w, h)
                _shot(page, size)
        each_size(f"preset {name}")
    _open(page, server, ERROR_QUERY)
    _wait_figure(page)
    page.wait_for_function(
        "() => /view='foo'/.test(document.querySelector('.lab-message')?.innerText || '')")
    each_size("error message")
    _assert_no_error(page)


def _touch_drag(page, handle, dx: float) -> None:
    """Drag `handle` by dx CSS pixels with one finger (Chromium's touch events, via CDP)."""
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("Input.dispatchTouchEvent",
                 {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
        for i in range(1, 6):
            cdp.send("Input.dispatchTouchEvent",
                     {"type": "touchMove", "touchPoints": [{"x": x + dx * i / 5, "y": y}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    finally:
        cdp.detach()


def test_layout_fits_a_phone_and_its_controls_work_by_touch(browser, server, widths):
    w, h = PHONE
    context = browser.new_context(viewport={"width": w, "height": h}, is_mobile=True,
                                  has_touch=True, device_scale_factor=2)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.page_errors = []
    page.on("pageerror", lambda e: page.page_errors.append(str(e)))
    full_width = w - PAGE_MARGINS_PX
    try:
        _open(page, server)
        _wait_figure(page)
        assert _layout(page, "390x844 initial", widths)["width"] >= full_width
        for name in presets.names():
            _pick(page, name)
            if name == "vanishing-sigmoid":
                _wait_status(page, r"finished")
                page.locator(".lab-dashboard").first.scroll_into_view_if_needed()
                _shot(page, "390x844")
            m = _layout(page, f"390x844 preset {name}", widths)
            assert m["width"] >= full_width, (name, m)
        # every control can be brought on screen, within the phone's width
        for control in page.locator('.lab-controls [class*="lab-control-"]').all():
            control.scroll_into_view_if_needed()
            box = control.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= w + 1, box
        # a finger moves the depth slider: the dashboard retrains at the new depth
        src, depth = _figure_src(page), _depth(page)
        handle = page.locator(".lab-control-depth .noUi-handle").first
        handle.scroll_into_view_if_needed()
        _touch_drag(page, handle, 40)
        page.wait_for_function(
            "(old) => document.querySelector('.lab-control-depth .widget-readout')"
            "?.innerText.trim() !== old", arg=depth)
        new = _depth(page)
        assert int(new) > int(depth)
        _wait_status(page, rf"depth {new}\b")
        _wait_figure(page, old=src)
        _layout(page, "390x844 after a touch", widths)
        _open(page, server, ERROR_QUERY)
        _wait_figure(page)
        page.wait_for_function(
            "() => /view='foo'/.test(document.querySelector('.lab-message')?.innerText || '')")
        assert _layout(page, "390x844 error message", widths)["width"] >= full_width
        _assert_no_error(page)
    finally:
        try:
            page.screenshot(path=str(ARTIFACTS / "layout-phone-last.png"), full_page=True)
            page.goto("about:blank", timeout=10_000)
        finally:
            context.close()


def test_projector_mode_shows_a_large_figure_and_the_lesson_steps_controls(page, server,
                                                                           widths):
    page.set_viewport_size({"width": 1024, "height": 768})  # before the page is laid out
    _open(page, server, "?view=present&depth=20&activation=sigmoid")
    _wait_figure(page)
    _wait_status(page, r"depth 20\b[\s\S]*sigmoid")
    m = _layout(page, "1024x768 present", widths)
    assert m["width"] >= MIN_FIGURE_PX["1024x768"]
    shown = page.evaluate("""() => [...document.querySelectorAll(
        '.lab-controls [class*="lab-control-"]')].filter(e => e.getClientRects().length)
        .map(e => e.className.match(/lab-control-(\\w+)/)[1])""")
    assert shown == ["depth", "activation"]
    # text readable from the back of a room: 20 px, the controls' labels and values included
    sizes = page.evaluate("""() => ['.lab-status', '.lab-diagnosis', '.lab-presets .widget-label',
        '.lab-control-depth .widget-label', '.lab-control-depth .widget-readout',
        '.lab-control-activation select'].map(s => parseFloat(getComputedStyle(
            document.querySelector(s)).fontSize))""")
    assert min(sizes) >= 20, sizes
    # no introduction above it: figure and controls on screen at once, unscrolled
    assert page.evaluate("() => document.getElementById('rendered_cells').scrollTop") == 0
    assert m["height"] + page.evaluate(
        "() => document.querySelector('.lab-figure').getBoundingClientRect().top") <= 768
    assert page.evaluate(REACH_JS) == []
    _shot(page, "present-1024x768")
    _assert_no_error(page)
