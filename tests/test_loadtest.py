"""tools/loadtest.py without running it: the server it starts is `make demo`'s; its numbers."""

from __future__ import annotations

import importlib.util
import re
import shlex
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def loadtest():
    sys.path.insert(0, str(ROOT / "tools"))  # loadtest imports its sibling load_clients
    try:
        spec = importlib.util.spec_from_file_location("loadtest", ROOT / "tools" / "loadtest.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(ROOT / "tools"))


def _recipe(target: str) -> tuple[str, str]:
    """(prerequisites, recipe) of a Makefile target, continuation lines joined."""
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    head, body = text.split(f"\n{target}:", 1)[1].split("\n", 1)
    lines = []
    for line in body.splitlines():
        if not line.startswith("\t"):
            break
        lines.append(line.strip())
    return head, " ".join(lines)


def test_make_loadtest_runs_the_tool_and_is_not_part_of_make_test():
    prerequisites, recipe = _recipe("loadtest")
    assert "tools/loadtest.py" in recipe and "$(N)" in recipe
    test_prerequisites, test_recipe = _recipe("test")
    assert "loadtest" not in test_prerequisites + test_recipe


def test_the_server_is_started_as_make_demo_starts_it(loadtest):
    _, demo = _recipe("demo")
    demo_args = shlex.split(demo.split("voila", 1)[1])
    ours = loadtest.voila_command(9999)
    assert ours[ours.index(loadtest.NOTEBOOK):] == [
        "--port=9999" if a.startswith("--port=") else a for a in demo_args]
    for name, value in loadtest.THREAD_ENV.items():
        assert f"{name}={value}" in demo


def test_serving_settings_are_read_from_the_committed_config(loadtest):
    settings = loadtest.serving_settings()
    assert settings["preheat_kernel"] is True and settings["pool_size"] >= 1
    assert settings["cull_idle_timeout_s"] > 0 and settings["threads_per_kernel"] == 1


@pytest.mark.parametrize("raw, pool, preheat", [("", 2, True), ("20", 20, True), (" 7 ", 7, True),
                                                ("0", 0, False), ("64", 64, True)])
def test_the_pool_size_comes_from_lab_pool(loadtest, monkeypatch, raw, pool, preheat):
    monkeypatch.setenv("LAB_POOL", raw)
    settings = loadtest.serving_settings()
    assert (settings["pool_size"], settings["preheat_kernel"]) == (pool, preheat)


@pytest.mark.parametrize("raw", ["-1", "65", "2.5", "lots", "1e9", "3;rm"])
def test_a_bad_lab_pool_stops_voila_with_a_message(loadtest, monkeypatch, raw):
    monkeypatch.setenv("LAB_POOL", raw)
    with pytest.raises(SystemExit, match=rf"LAB_POOL={re.escape(repr(raw))}: .* from 0 to 64"):
        loadtest.serving_settings()


@pytest.mark.parametrize("raw, delay", [("", 1.0), ("90", 90.0), ("0.5", 0.5), ("0", 0.0)])
def test_the_pool_refill_delay_comes_from_lab_pool_delay(loadtest, monkeypatch, raw, delay):
    monkeypatch.setenv("LAB_POOL_DELAY", raw)
    assert loadtest.serving_settings()["pool_refill_delay_s"] == delay


@pytest.mark.parametrize("raw", ["-1", "3601", "nan", "inf", "soon", "1;rm"])
def test_a_bad_lab_pool_delay_stops_voila_with_a_message(loadtest, monkeypatch, raw):
    monkeypatch.setenv("LAB_POOL_DELAY", raw)
    with pytest.raises(SystemExit, match=rf"LAB_POOL_DELAY={re.escape(repr(raw))}: .* 0 to 3600"):
        loadtest.serving_settings()


def test_percentiles_and_summary(loadtest):
    assert loadtest.percentile([], 50) is None
    assert loadtest.percentile([3.0], 95) == 3.0
    assert loadtest.percentile([1, 2, 3, 4, 5], 50) == 3
    assert loadtest.percentile(list(range(1, 21)), 95) == pytest.approx(19.05)
    Session = loadtest.Session
    sessions = [Session(0, warm_kernel=True, first_figure_s=2.0, first_finished_s=9.0,
                        change_to_figure_s=[1.0, 1.5], change_to_finished_s=[4.0, 5.0]),
                Session(1, warm_kernel=False, first_figure_s=12.0,
                        errors=["no end of the first training after 300 s"])]
    summary = loadtest.summarize(sessions)
    assert summary["sessions"] == 2 and summary["sessions_without_error"] == 1
    assert summary["errors"] == 1
    assert summary["first_figure_s"] == {"n": 2, "p50": 7.0, "p95": 11.5, "max": 12.0}
    assert summary["change_to_figure_s"]["n"] == 2 and summary["changes_done"] == 2
    assert (summary["warm_pool_sessions"], summary["on_demand_sessions"]) == (1, 1)
    assert sessions[0].to_dict()["first_figure_s"] == 2.0
