"""JupyterHub on one machine, for trying the hub set-up here (`make hub`, `make loadtest HUB=1`).

Each student logs in (any name, any password: the dummy authenticator, so loopback only) and
gets a Jupyter server of their own, started from this repository's virtualenv by the 'simple'
local process spawner, which opens the dashboard at /user/<name>/voila/render/notebooks/
dashboard.ipynb. That server reads config/jupyter_server_config.py (through JUPYTER_CONFIG_PATH),
which applies the demo site's viewer settings of config/voila.py to Voila's server extension.

Only for trying the hub on this machine: the simple spawner runs every student's server as the
hub's own Unix user, with no isolation between students. A real class uses the Kubernetes set-up
of the README (More students: JupyterHub or Binder), whose settings follow the ones here.

    jupyterhub -f config/jupyterhub_config.py [--port=8000]

LAB_HUB_DIR: the hub's own files (database, cookie secret, students' home folders; default
.hub/ in the repository). LAB_HUB_PROXY: the configurable-http-proxy command (default: the one
`make hub` installs into .hub/node_modules, else the one on PATH).
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file

ROOT = Path(__file__).resolve().parents[1]
STATE = Path(os.environ.get("LAB_HUB_DIR") or ROOT / ".hub").resolve()
DASHBOARD_URL = "/voila/render/notebooks/dashboard.ipynb"
THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # as `make demo` exports
# Kernels talk over Unix sockets (config/voila.py) named after their connection files, and a
# socket's path must fit in 107 bytes. In a student's home folder here (.hub/home/<name>/.local/
# share/jupyter/runtime/kernel-<uuid>-ipc-1) it did not, and every page failed with "ipc path
# ... is longer than 107 characters" (make loadtest HUB=1). A short folder per student instead.
RUNTIME = Path(tempfile.gettempdir()) / f"lab-hub-{os.getuid()}"


def runtime_dir(spawner) -> str:
    """The student's Jupyter runtime folder (connection files, kernel sockets): a short path."""
    return str(RUNTIME / spawner.user.name)


def proxy_command(environ=os.environ) -> list[str]:
    """configurable-http-proxy: LAB_HUB_PROXY, else .hub/node_modules' one, else on PATH."""
    named = environ.get("LAB_HUB_PROXY", "").strip()
    if named:
        return [named]
    local = ROOT / ".hub" / "node_modules" / ".bin" / "configurable-http-proxy"
    if local.exists():
        return [str(local)]
    return [shutil.which("configurable-http-proxy") or "configurable-http-proxy"]


def singleuser_environment(environ=os.environ) -> dict:
    """What each student's server gets besides the hub's own variables."""
    env = {
        **THREADS,
        # config/jupyter_server_config.py: the viewer settings for Voila's server extension.
        "JUPYTER_CONFIG_PATH": str(ROOT / "config"),
        "JUPYTER_RUNTIME_DIR": runtime_dir,
        # The virtualenv's font cache, as the Makefile sets it (a student's HOME is a new folder
        # here: each first kernel would build a font cache of its own there).
        "MPLCONFIGDIR": environ.get("MPLCONFIGDIR") or str(Path(sys.prefix) / "matplotlib"),
    }
    # One result cache for the whole class, as with `make demo`. Unset, each student's kernel
    # would use its own home folder's cache (the simple spawner gives each its own HOME).
    if "LAB_CACHE_DIR" not in environ:
        from lab.cache import cache_dir

        folder = cache_dir({})
        env["LAB_CACHE_DIR"] = str(folder) if folder else ""
    return env


# --- The hub: reachable on 127.0.0.1 only (the dummy authenticator lets anyone in).
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = 8000
c.JupyterHub.hub_ip = "127.0.0.1"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:8001"
c.ConfigurableHTTPProxy.command = proxy_command()
c.ConfigurableHTTPProxy.pid_file = str(STATE / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.authenticator_class = "dummy"
c.JupyterHub.cleanup_servers = True  # stopping the hub stops every student's server

# --- Each student's server: this repository's virtualenv, the dashboard as its start page.
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = str(STATE / "home" / "{username}")
c.Spawner.cmd = [str(Path(sys.executable).with_name("jupyterhub-singleuser"))]
c.Spawner.notebook_dir = str(ROOT)
c.Spawner.default_url = DASHBOARD_URL
c.Spawner.environment = singleuser_environment()
# The hub's variables a student's server keeps: the virtualenv's PATH, the locale, PYTHONPATH
# (a checkout not installed into the virtualenv) and the dashboard's own LAB_* limits.
c.Spawner.env_keep = ["PATH", "LANG", "LC_ALL", "PYTHONPATH", "JUPYTERHUB_SINGLEUSER_APP",
                      *sorted(k for k in os.environ if k.startswith("LAB_") and k != "LAB_HUB_DIR")]
# How long a student's server may take to answer after its start (JupyterHub's default: 30 s).
# 20 students logging in at once on 2 cores start 20 servers together (~2-2.5 CPU s each):
# 16 of 20 logins failed with "Server at .../user/<name>/api didn't respond in 30 seconds"
# (make loadtest HUB=1 N=20 CLIENT=ws). A slow login is better than a failed one.
c.Spawner.http_timeout = 180
c.Spawner.start_timeout = 180
if os.geteuid() == 0:  # a container's root, as here: Jupyter refuses root unless told
    c.Spawner.args = ["--allow-root"]
