"""Voila settings for `make demo` and tests/test_browser.py (both pass
--Voila.config_file_paths=config, so Voila loads this file as its `voila.py`).

It lives in config/ rather than at the repository root: a voila.py at the root would shadow
the voila package for `python -m ...` run from there (and with it voila.utils.wait_for_request).
Settings given on the command line still win over the ones here.
"""

import inspect
import os

from jupyter_server.auth.identity import PasswordIdentityProvider
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection
from tornado import web

V1_PROTOCOL = "v1.kernel.websocket.jupyter.org"
c = get_config()  # noqa: F821 - provided by traitlets when it loads this file

# One torch/OpenMP thread per kernel: several viewers share the machine's cores. The Makefile
# exports these as well; this covers a plain `voila --Voila.config_file_paths=config ...`.
# Kernels (pooled ones included) inherit Voila's environment.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

# Viewers see "There was an error when executing cell", never a traceback or our source.
c.VoilaConfiguration.show_tracebacks = False
c.VoilaConfiguration.strip_sources = True  # Voila's default, kept explicit: no code in the page

# --- What a viewer can reach (tests/test_security.py and tests/test_browser.py check it).
# Voila >= 0.5.6 (pyproject.toml) has the fix for CVE-2024-30265 (any file through /static/).
# Viewers can only send widget messages: Voila's kernel manager forwards comm_open/comm_msg/
# comm_close/comm_info_request/kernel_info_request/shutdown_request and drops the rest
# (execute_request included) with "which is not allowed. Ignoring." in its log. Keep it so: no
# handler or server extension here that runs text a viewer sends.
#
# /voila/files/<path> serves files under the notebook's folder (notebooks/) that match one
# allowlist pattern and no denylist pattern (full match, case-insensitive). The dashboard uses no
# such file (its figure arrives as widget bytes), so only plain images may be served: no SVG
# (it can carry script), no notebook, no source, no hidden file, no "..". docs/ is outside
# notebooks/ and never reachable. Any other path under the single-notebook server redirects to
# /voila/files/<path>, where these rules refuse it with 403.
c.VoilaConfiguration.file_allowlist = [r"(?:[\w-]+/)*[\w-][\w.-]*\.(?:png|jpe?g|gif)"]
c.VoilaConfiguration.file_denylist = [r".*\.(?:ipynb|py)", r"(?:.*/)?\..*"]  # Voila's + hidden

# Kernel websockets speak only the v1 protocol (v1.kernel.websocket.jupyter.org), which every
# Voila and JupyterLab page asks for. Voila 0.5.13 reads every binary message it forwards as v1
# (voila/tornado/kernel_websocket_handler.py, read_header_from_binary_message); a client that
# asks for no subprotocol gets the legacy format, whose first 8 bytes read as v1 give an offset
# count near 1e17, and the first widget message with bytes (each figure frame) then locks Voila's
# event loop in a list that grows ~30 MB/s: every page on the server freezes until it is killed.
# This refuses such a connection with HTTP 400 before the websocket opens.
class V1OnlyKernelConnection(ZMQChannelsWebsocketConnection):
    """Kernel websocket connection that refuses clients not asking for the v1 protocol."""

    async def prepare(self):
        offered = self.websocket_handler.request.headers.get("Sec-WebSocket-Protocol", "")
        if V1_PROTOCOL not in (p.strip() for p in offered.split(",")):
            raise web.HTTPError(400, f"kernel websockets need the {V1_PROTOCOL} subprotocol")
        await super().prepare()


c.Voila.kernel_websocket_connection_class = V1OnlyKernelConnection

# Voila's own query parameters ?template= and ?theme= would let a viewer pick another page
# template or theme; the page is always the lab template with the light theme. (Such a
# request still skips the preheated pool, like a visitor who finds the pool empty.)
c.VoilaConfiguration.allow_template_override = "NO"
c.VoilaConfiguration.allow_theme_override = "NO"

# Preheated kernels: a small pool of kernels that have already imported torch and run the
# notebook up to its first `voila.utils.wait_for_request()` (inside Dashboard.from_query), so a
# page shows its first figure sooner. The request's QUERY_STRING reaches a pooled kernel only
# through that call, which the dashboard makes before reading it (checked by
# tests/test_browser.py, `?depth=30&activation=sigmoid`). That call reaches Voila at
# ws://127.0.0.1:<port>, so serve on 127.0.0.1 or 0.0.0.0, not on another address only.
# Measured on a 2-core machine: page open -> first figure ~3 s preheated, ~19 s without.
# Each pooled kernel holds ~320 MiB (torch) and the refill after a viewer takes one competes
# with that viewer's training for the CPU, hence a pool of 2 by default; LAB_POOL sets the size
# (`make demo POOL=20`): as many as the students who arrive at once (README, Serving a class).
POOL_ENV, DEFAULT_POOL, MAX_POOL = "LAB_POOL", 2, 64


def pool_size(environ=os.environ) -> int:
    """Preheated kernels: LAB_POOL (unset or empty: 2); a bad value stops Voila with why."""
    raw = environ.get(POOL_ENV, "").strip()
    if not raw:
        return DEFAULT_POOL
    if not raw.isdigit() or int(raw) > MAX_POOL:
        # SystemExit: Voila logs and ignores an exception in its config file, which would
        # serve with some other pool than the one asked for.
        raise SystemExit(f"{POOL_ENV}={raw!r}: the number of preheated kernels must be a whole "
                         f"number from 0 to {MAX_POOL} (0: no pool)")
    return int(raw)


POOL = pool_size()
c.VoilaConfiguration.preheat_kernel = POOL > 0
c.VoilaConfiguration.default_pool_size = max(1, POOL)

# Each pooled kernel a visitor takes is replaced after LAB_POOL_DELAY seconds (Voila's default:
# 1). When a class takes 20 pooled kernels at once, 20 replacements importing torch at once
# fight the students' first runs: first figure after 63 s with 1 s, 20 s with 90 s
# (make loadtest N=20 POOL=20 CLIENT=ws). A visitor who finds the pool empty meanwhile waits
# for the delay and a kernel start, so keep it short for a small pool.
POOL_DELAY_ENV, MAX_POOL_DELAY = "LAB_POOL_DELAY", 3600


def pool_delay(environ=os.environ) -> float:
    """Seconds before a used pooled kernel is replaced: LAB_POOL_DELAY (unset or empty: 1)."""
    raw = environ.get(POOL_DELAY_ENV, "").strip()
    if not raw:
        return 1.0
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 <= value <= MAX_POOL_DELAY:  # NaN and inf included
        raise SystemExit(f"{POOL_DELAY_ENV}={raw!r}: the seconds before a used pooled kernel is "
                         f"replaced must be a number from 0 to {MAX_POOL_DELAY}")
    return value


c.VoilaKernelManager.fill_delay = pool_delay()

# Shut down kernels idle (no execution, no messages) for 10 minutes, checking every minute,
# unless a browser tab is still connected to them (cull_connected=False keeps an open page
# working). Voila asks for a kernel's shutdown when its tab closes; this reclaims the kernels of
# tabs that vanished without asking (crash, lost network) and of pages fetched without a
# browser. Voila never culls its pooled (preheated) kernels.
c.MappingKernelManager.cull_idle_timeout = 600
c.MappingKernelManager.cull_interval = 60
c.MappingKernelManager.cull_connected = False

# A cell that runs longer than 2 minutes fails (the page shows an error, no traceback) instead
# of hanging the page. Exception: a cell that waits for its request. A pooled kernel executes
# it ahead of time and sits in wait_for_request until a viewer arrives, however long that
# takes, and a plain timeout would fail that cell (and the page of whoever takes the kernel).
CELL_TIMEOUT_S = 120
_WAITS_FOR_REQUEST = ("wait_for_request", "get_query_string", "from_query")


def cell_timeout(cell):
    source = cell.get("source", "")
    return None if any(name in source for name in _WAITS_FOR_REQUEST) else CELL_TIMEOUT_S


c.VoilaExecutor.timeout = CELL_TIMEOUT_S
c.VoilaExecutor.timeout_func = cell_timeout
# After a cell's reply, how long to wait for its outputs (nbclient's default: 4 s). The
# dashboard cell's output (the widget itself) queues behind the first figure's bytes; with 5
# pages opening at once on 2 cores it came later than 4 s, Voila left the cell without output,
# and those pages never showed the dashboard (make loadtest N=5: 2 of 5 pages; N=20 with a pool
# of 20: 7 of 20 pages at 60 s). A slow page is better than an empty one.
c.VoilaExecutor.iopub_timeout = 300
# How long a new kernel may take to answer (Voila's default: 60 s). 20 pages opening at once on
# 2 cores start 20 kernels together, each importing torch; one of them took over 60 s and its
# page failed with "Kernel didn't respond in 60 seconds".
c.VoilaExecutor.startup_timeout = 180

# Kernels talk to Voila over Unix sockets instead of TCP ports on 127.0.0.1: with 20 kernels
# starting at once, two were handed the same free port ("ZMQError: Address already in use") and
# one page never got its kernel. A socket file per kernel (in Voila's connection folder, mode
# 0700) cannot collide, and no other user of the machine can connect to it.
c.KernelManager.transport = "ipc"

# Closing a tab sends Voila's beacon POST /voila/api/shutdown/<kernel>, with the page's _xsrf
# cookie as its form field. Voila's page never sets that cookie, so every beacon was refused
# (403 "'_xsrf' argument missing") and each closed or reloaded tab left its kernel (~450 MiB)
# running until culled. Reading handler.xsrf_token sets the cookie (tornado's double-submit
# token: a random value, readable by the page by design); the XSRF check itself is unchanged.
class XsrfCookieIdentityProvider(PasswordIdentityProvider):
    """Voila's identity provider, which also sets the _xsrf cookie on every page it serves."""

    async def get_user(self, handler):
        user = super().get_user(handler)
        if inspect.isawaitable(user):
            user = await user
        if (handler.request.method == "GET"
                and handler.request.headers.get("Upgrade", "").lower() != "websocket"):
            handler.current_user = user  # what prepare() sets next; xsrf_token reads it
            handler.xsrf_token  # noqa: B018 - the property sets the cookie
        return user


c.Voila.identity_provider_class = XsrfCookieIdentityProvider
