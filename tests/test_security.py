"""Security of the demo site, without a server: versions, query strings, Voila's settings.

The same rules against a live Voila server (crafted URLs in a browser, static file requests,
an execute_request over the kernel websocket) are in tests/test_browser.py.
"""

from __future__ import annotations

import asyncio
import html
import importlib.metadata
import inspect
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version
from tornado import web
from traitlets.config.loader import PyFileConfigLoader

from lab.config import Config, lenient_from_query
from lab.ui import Dashboard

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
FIXED = Version("0.5.6")  # CVE-2024-30265 (GHSA-2q59-h24c-w6fg): any file through /static/
V1 = "v1.kernel.websocket.jupyter.org"

# query -> (field, the value as the message shows it)
CRAFTED = {
    "dataset=../../etc/passwd": ("dataset", "'../../etc/passwd'"),
    "depth=1e9": ("depth", "'1e9'"),
    "lr=nan": ("lr", "nan"),
    "activation=relu;rm": ("activation", "'relu;rm'"),
    "activation=relu%3Brm%20-rf%20%2F": ("activation", "'relu;rm -rf /'"),
    "init_gain=inf": ("init_gain", "inf"),
    "width=-1": ("width", "-1"),
    "steps=99999999999999999999": ("steps", "'99999999999999999999'"),
}
ISSUE = ("dataset=../../etc/passwd", "depth=1e9", "lr=nan", "activation=relu;rm")  # issue 7


@pytest.fixture(scope="module")
def voila_config():
    """config/voila.py as Voila loads it (--Voila.config_file_paths=config)."""
    return PyFileConfigLoader("voila.py", path=str(ROOT / "config")).load_config()


# ---------------------------------------------------------------- versions


def test_installed_voila_has_the_static_file_fix():
    assert Version(importlib.metadata.version("voila")) >= FIXED


def test_pyproject_and_environment_require_the_fixed_voila():
    with open(ROOT / "pyproject.toml", "rb") as f:
        deps = [Requirement(d) for d in tomllib.load(f)["project"]["dependencies"]]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [Requirement(d) for d in env["dependencies"] if isinstance(d, str)
             and d.split(">")[0].split("=")[0].strip() == "voila"]
    for reqs in (deps, conda):
        (voila,) = [r for r in reqs if r.name == "voila"]
        assert not voila.specifier.contains("0.5.5") and voila.specifier.contains("0.5.6")


# ---------------------------------------------------------------- query strings


@pytest.mark.parametrize("query", sorted(CRAFTED))
def test_crafted_query_is_named_and_replaced_by_the_default(query):
    field, shown = CRAFTED[query]
    cfg, problems = lenient_from_query(query)
    assert cfg == Config()  # only the bad field was given: everything is the default
    assert len(problems) == 1
    assert problems[0].startswith(f"{field}={shown}:"), problems
    assert f"using the default {field}" in problems[0]
    with pytest.raises(ValueError, match=re.escape(f"{field}={shown}")):
        Config.from_query(query)  # the strict parser (command line, code) refuses it


def test_crafted_values_keep_the_valid_ones():
    cfg, problems = lenient_from_query("depth=20&dataset=../../etc/passwd&lr=nan&activation=tanh")
    assert (cfg.depth, cfg.activation) == (20, "tanh")
    assert (cfg.dataset, cfg.lr) == (Config().dataset, Config().lr)
    assert [p.split("=")[0] for p in problems] == ["dataset", "lr"]


def test_dashboard_from_a_crafted_query_shows_the_message_and_uses_the_defaults():
    dash = Dashboard.from_query("&".join(ISSUE), autostart=False)  # all four in one link
    try:
        assert dash.config == Config()
        message = html.unescape(dash.message.value)
        for field, shown in (CRAFTED[q] for q in ISSUE):
            assert f"{field}={shown}" in message
        assert "<script" not in dash.message.value
        for name, control in dash.controls.items():
            assert control.value == getattr(Config(), name), name
    finally:
        dash.close()


def test_markup_in_a_query_is_escaped_in_the_message():
    dash = Dashboard.from_query("activation=<img src=x onerror=alert(1)>", autostart=False)
    try:
        assert "<img" not in dash.message.value and "&lt;img" in dash.message.value
    finally:
        dash.close()


# ---------------------------------------------------------------- Voila's settings


def test_viewers_get_no_traceback_and_no_source(voila_config):
    vc = voila_config.VoilaConfiguration
    assert vc.show_tracebacks is False
    assert vc.strip_sources is True
    assert vc.allow_template_override == "NO" and vc.allow_theme_override == "NO"


@pytest.mark.parametrize("path, served", [
    ("figure.png", True),
    ("img/diagram.JPG", True),
    ("a/b/c.gif", True),
    ("dashboard.ipynb", False),
    ("01_vanishing_gradients.ipynb", False),
    ("../lab/config.py", False),
    ("../pyproject.toml", False),
    ("../docs/dashboard.png", False),  # docs/ is outside the notebooks folder Voila serves
    ("img/../../lab/x.png", False),
    (".ipynb_checkpoints/figure.png", False),
    ("img/.hidden.png", False),
    ("drawing.svg", False),  # SVG can carry script
    ("notes.md", False),
    ("x.png.py", False),
    ("x.py", False),
    ("etc/passwd", False),
])
def test_voila_files_serves_only_plain_images(voila_config, path, served):
    """The rule of Voila's AllowListFileHandler (/voila/files/): one allow, no deny match."""
    vc = voila_config.VoilaConfiguration
    allowed = any(re.fullmatch(p, path, re.IGNORECASE) for p in vc.file_allowlist)
    denied = any(re.fullmatch(p, path, re.IGNORECASE) for p in vc.file_denylist)
    assert (allowed and not denied) is served


def test_voila_forwards_only_widget_messages_to_kernels():
    """Voila builds its kernel manager with a fixed allowed_message_types (no execute)."""
    import voila.app

    source = inspect.getsource(voila.app.Voila.init_settings)
    found = re.search(r"allowed_message_types=\[(.*?)\]", source, re.S)
    assert found, "Voila no longer sets allowed_message_types: check what viewers may send"
    allowed = set(re.findall(r'"(\w+)"', found[1]))
    assert allowed == {"comm_open", "comm_close", "comm_msg", "comm_info_request",
                       "kernel_info_request", "shutdown_request"}


def _handshake(protocols: str | None):
    headers = {} if protocols is None else {"Sec-WebSocket-Protocol": protocols}
    return SimpleNamespace(websocket_handler=SimpleNamespace(
        request=SimpleNamespace(headers=headers)))


@pytest.mark.parametrize("offered", [None, "", "kernel.websocket.jupyter.org", "v1"])
def test_kernel_websocket_without_the_v1_protocol_is_refused(voila_config, offered):
    """Voila 0.5.13 locks up on the legacy protocol's first binary message (config/voila.py)."""
    connection = voila_config.Voila.kernel_websocket_connection_class
    with pytest.raises(web.HTTPError) as e:
        asyncio.run(connection.prepare(_handshake(offered)))
    assert e.value.status_code == 400


def test_kernel_websocket_with_the_v1_protocol_is_let_through(voila_config, monkeypatch):
    from jupyter_server.services.kernels.connection.channels import (
        ZMQChannelsWebsocketConnection,
    )

    connection = voila_config.Voila.kernel_websocket_connection_class
    assert issubclass(connection, ZMQChannelsWebsocketConnection)
    called = []

    async def parent_prepare(self):  # the kernel-side checks, which need a real kernel
        called.append(True)

    monkeypatch.setattr(ZMQChannelsWebsocketConnection, "prepare", parent_prepare)

    class Offering(connection):
        websocket_handler = _handshake(f"other.protocol, {V1}").websocket_handler

    asyncio.run(Offering.__new__(Offering).prepare())
    assert called == [True]
