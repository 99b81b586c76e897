"""NewestWorker: one thread that runs the newest request only, cancelling older ones.

A request bumps a generation number; a handler asks `cancelled(generation)` and stops (and
drops its output) once a newer request has come. Requests that arrive while one runs replace
each other: only the newest waits, so a burst of slider moves trains the last config, once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger("lab.worker")


class NewestWorker(Generic[T]):
    """Runs `handle(generation, item)` on its own thread for the newest submitted item only."""

    def __init__(self, handle: Callable[[int, T], None], name: str = "lab-worker"):
        self._handle = handle
        self._cond = threading.Condition()
        self._request: tuple[int, T] | None = None  # newest item not yet started
        self.generation = 0  # of the newest request; older ones are cancelled
        self._busy = False  # the thread is handling an item
        self._in_flight = 0  # handlers running now (never more than 1)
        self.max_in_flight = 0
        self._closed = False
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.thread.start()

    def submit(self, item: T, before: Callable[[], None] | None = None) -> int:
        """Queue `item` in place of any waiting one, cancelling the running one; its generation.

        `before()` runs under the lock first, so what it sets is seen with the new generation.
        """
        with self._cond:
            if before is not None:
                before()
            self.generation += 1
            self._request = (self.generation, item)
            self._cond.notify_all()
            return self.generation

    def cancelled(self, generation: int) -> bool:
        """True once a newer item was submitted or the worker closed."""
        return self._closed or generation != self.generation

    def wait(self, timeout: float = 60.0) -> bool:
        """Block until nothing is running or waiting; False if `timeout` seconds pass first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._busy or self._request is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread (the running handler sees itself cancelled) and join it."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self.thread.join(timeout=timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._request is None and not self._closed:
                    self._busy = False
                    self._cond.notify_all()
                    self._cond.wait()
                if self._closed:
                    self._busy = False
                    self._cond.notify_all()
                    return
                generation, item = self._request
                self._request = None
                self._busy = True
                self._in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self._in_flight)
            try:
                self._handle(generation, item)  # the handler reports its own errors
            except Exception:  # one that escapes is logged: the thread serves the next request
                log.exception("worker %s: unhandled error", self.thread.name)
            finally:
                with self._cond:
                    self._in_flight -= 1
