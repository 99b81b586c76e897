"""Trace: opt-in timestamps of a dashboard's steps (tools/live_feel.py), off unless LAB_TRACE.

`LAB_TRACE=<file>` makes every `mark(event, **fields)` append one JSON line
{"t": time.time(), "cpu": time.thread_time(), "thread": name, "event": ..., "pid": ...,
**fields} to that file. time.time() is the machine's epoch clock, the one a browser page reads
as performance.timeOrigin + performance.now(), so kernel and page steps line up; "cpu" is the
marking thread's CPU time, so two marks of one thread give the CPU spent between them however
busy the machine is. Without LAB_TRACE a mark costs one environment look-up. Torch-free and
widget-free: any layer may call it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

ENV = "LAB_TRACE"
_lock = threading.Lock()  # the kernel thread and the worker thread both mark


def path() -> str | None:
    """The trace file LAB_TRACE names, or None when tracing is off (unset or empty)."""
    return os.environ.get(ENV) or None


def mark(event: str, **fields: Any) -> None:
    """Append `event` with the epoch time and `fields` (JSON values) to the trace file, if any."""
    target = path()
    if target is None:
        return
    record = {"t": time.time(), "cpu": time.thread_time(),
              "thread": threading.current_thread().name, "event": event, "pid": os.getpid(),
              **fields}
    line = json.dumps(record, default=str) + "\n"
    with _lock, open(target, "a", encoding="utf-8") as f:  # one write per line: readable live
        f.write(line)


def read(file: str | Path) -> list[dict[str, Any]]:
    """The records of a trace file in order of time; a line cut short by a crash is skipped."""
    records = []
    for line in Path(file).read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return sorted(records, key=lambda r: r["t"])
