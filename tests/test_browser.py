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


@pytest.fixture(scope="module")
def latencies():
    record: dict[str, float] = {}
    yield record
    if record:
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "latency.json").write_text(json.dumps(record, indent=2) + "\n")


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
