"""lab/trace.py and the dashboard's trace marks (tools/live_feel.py reads them)."""

from __future__ import annotations

import json
import threading
import time

import lab
from lab import trace
from lab.ui import Dashboard

FAST = lab.Config(steps=30, n_samples=300, width=16, depth=4)


def test_marks_are_json_lines_on_the_epoch_clock_with_the_threads_cpu(tmp_path, monkeypatch):
    file = tmp_path / "trace.jsonl"
    monkeypatch.setenv(trace.ENV, str(file))
    before = time.time()
    trace.mark("a", depth=7, name="x")
    start = time.thread_time()
    while time.thread_time() - start < 0.02:  # CPU spent between the two marks
        pass
    spent = time.thread_time() - start
    trace.mark("b")
    after = time.time()
    a, b = trace.read(file)
    assert (a["event"], a["depth"], a["name"], b["event"]) == ("a", 7, "x", "b")
    assert before <= a["t"] <= b["t"] <= after
    assert b["cpu"] - a["cpu"] >= spent  # the marks bracket the busy loop on one thread
    assert a["thread"] == b["thread"] == threading.current_thread().name


def test_off_without_the_variable_or_with_it_empty(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for value in (None, ""):
        if value is None:
            monkeypatch.delenv(trace.ENV, raising=False)
        else:
            monkeypatch.setenv(trace.ENV, value)
        assert trace.path() is None
        trace.mark("nothing", x=1)
    assert list(tmp_path.iterdir()) == []


def test_threads_write_whole_lines_and_read_sorts_and_skips_a_cut_line(tmp_path, monkeypatch):
    file = tmp_path / "trace.jsonl"
    monkeypatch.setenv(trace.ENV, str(file))

    def marks(who: str) -> None:
        for i in range(200):
            trace.mark(who, i=i)

    threads = [threading.Thread(target=marks, args=(w,), name=w) for w in ("p", "q")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(file, "a") as f:  # a writer killed mid-line
        f.write('{"t": 1, "event": "cut')
    lines = file.read_text().splitlines()
    assert len(lines) == 401
    records = trace.read(file)
    assert len(records) == 400
    for who in ("p", "q"):
        assert [r["i"] for r in records if r["event"] == who] == list(range(200))
        assert {r["thread"] for r in records if r["event"] == who} == {who}
    assert [r["t"] for r in records] == sorted(json.loads(x)["t"] for x in lines[:400])


SESSION = {"worker request", "queued", "training", "trained", "worker done"}


def test_a_control_move_marks_each_step_of_the_dashboard_in_order(tmp_path, monkeypatch):
    file = tmp_path / "trace.jsonl"
    monkeypatch.setenv(trace.ENV, str(file))
    d = Dashboard(FAST, cache=None)
    try:
        assert d.wait(120)
        file.unlink()
        d.controls["depth"].value = 5
        assert d.wait(120)
        records = trace.read(file)
    finally:
        d.close()
    # the handler on the calling thread, then the worker: step 0 first, then the trained run
    caller = [r for r in records if r["thread"] == threading.current_thread().name]
    assert [r["event"] for r in caller] == ["control", "handled"]
    assert caller[0]["field"] == "depth" and caller[0]["value"] == 5
    worker = [r for r in records if r["thread"] == "lab-trainer"]
    # the session's own marks: the request, the training once it has a core, its end
    session = [r["event"] for r in worker if r["event"] in SESSION]
    assert session == ["worker request", "training", "trained", "worker done"]
    events = [r["event"] for r in worker]
    assert events[0] == "worker request" and events[-1] == "worker done"
    assert events.index("training") > events.index("shown")  # step 0 shown before training
    worker = [r for r in worker if r["event"] not in SESSION]
    steps = [r["event"] for r in worker]
    per_frame = ["draw", "drawn", "encoded", "sent", "shown"]
    assert steps[:2] == ["inspect", "inspected"]  # lab.inspect, then its frame
    assert steps[2:] == per_frame * (len(steps[2:]) // len(per_frame)) and len(steps) > 7
    draws = [r for r in worker if r["event"] == "draw"]
    assert draws[0]["at_init"] and not any(r["at_init"] for r in draws[1:])
    assert {r["depth"] for r in draws} == {5}
    last_png = [r for r in worker if r["event"] == "encoded"][-1]
    assert last_png["bytes"] == len(d.image.value)  # the PNG the Image widget holds
    shown = [r for r in worker if r["event"] == "shown"]
    assert shown[0]["at_init"] and shown[-1]["finished"]
