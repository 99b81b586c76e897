"""A student's Jupyter server under JupyterHub: the demo site's viewer settings for Voila's
server extension (config/jupyterhub_config.py puts this folder on JUPYTER_CONFIG_PATH).

config/voila.py holds the settings; this file loads it and carries over to the Jupyter server
what only the stand-alone Voila app would read. What applies where (checked by
tests/test_hub.py):
- VoilaConfiguration (no tracebacks, no sources, file allow/deny lists, no ?template= / ?theme=
  override), VoilaExecutor (cell, output and kernel-start timeouts), MappingKernelManager
  (culling idle kernels), KernelManager (Unix sockets) and the one-thread environment: read by
  the server and its Voila extension as they are.
- Voila.kernel_websocket_connection_class (v1-only kernel websockets): the Jupyter server's
  own setting, ServerApp.kernel_websocket_connection_class. The extension's pages use the
  server's kernel websocket, which reads the legacy protocol correctly; refusing it keeps one
  protocol, the one every Voila and JupyterLab page asks for.
- The light theme: `make demo` gives it on the command line; here VoilaConfiguration.theme.
- Not carried over: the preheated kernel pool (LAB_POOL, LAB_POOL_DELAY) exists only in the
  stand-alone app (its VoilaKernelManager): a student's kernel starts when their page opens.
  Voila.identity_provider_class (the _xsrf cookie of the unload beacon): JupyterHub's login
  sets that cookie on the student's server.
- Each server also stops itself after 30 idle minutes (no kernel, no request), as Zero to
  JupyterHub's idle culler does for the Kubernetes set-up.
"""

import os
import signal
import sys
from pathlib import Path

from jupyter_core.paths import jupyter_runtime_dir

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file

load_subconfig("voila.py", path=str(Path(__file__).resolve().parent))  # noqa: F821 - traitlets

# A kernel's Unix sockets are named <runtime>/kernel-<uuid>-ipc-<n>, and such a path must fit in
# 107 bytes (sockaddr_un). config/jupyterhub_config.py gives each student a short runtime folder;
# where it is still too long, TCP ports on 127.0.0.1 instead of a page that cannot start its
# kernel ("ipc path ... is longer than 107 characters").
SOCKET_PATH_MAX, SOCKET_NAME = 107, len("/kernel-00000000-0000-0000-0000-000000000000-ipc-9")
if len(jupyter_runtime_dir().encode()) + SOCKET_NAME > SOCKET_PATH_MAX:
    c.KernelManager.transport = "tcp"

c.ServerApp.kernel_websocket_connection_class = c.Voila.kernel_websocket_connection_class
c.VoilaConfiguration.theme = "light"
c.ServerApp.shutdown_no_activity_timeout = 1800

# JupyterHub's local spawner stops a student's server with SIGINT. Without a terminal (a hub run
# as a service, or by the load test) the Jupyter server takes SIGINT as a KeyboardInterrupt: it
# leaves its loop without its clean-up (kernels left to notice their parent is gone, its
# jpserver-*.json left behind) and exited ~15 s later, so the hub waited 10 s per server before
# its SIGTERM (make loadtest HUB=1). SIGTERM is the server's clean stop: SIGINT becomes it.
if "JUPYTERHUB_SERVICE_URL" in os.environ and not (sys.stdin and sys.stdin.isatty()):
    signal.signal(signal.SIGINT, lambda sig, frame: os.kill(os.getpid(), signal.SIGTERM))
