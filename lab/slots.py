"""TrainingSlots: at most one training per core across every kernel of a server, in turn.

When twenty students share two cores, twenty trainings at once each run at a tenth of the speed
and all finish late together; two at a time, in order of arrival, finish one after the other, so
the average student waits half as long and the first ones hardly at all. Kernels are separate
processes, so the queue lives in a folder (LAB_QUEUE_DIR; default a per-user folder in the
temporary directory) and uses advisory file locks (flock), which the OS releases when a process
dies: a killed kernel never holds a slot or a place in the line.

- A slot is a file `slot-<i>.lock`; whoever holds its lock trains.
- A waiter holds the lock of a ticket file in `queue/`, named by its arrival time; tickets whose
  lock is free belong to dead processes and are removed. A waiter with r live tickets ahead of
  it takes a slot only when more than r slots are free, so the line is first come, first served.

LAB_TRAININGS sets the number of slots (default: the cores this process may use; 0 or off: no
queue).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

TRAININGS_ENV = "LAB_TRAININGS"
QUEUE_DIR_ENV = "LAB_QUEUE_DIR"
MAX_TRAININGS = 256
POLL_SECONDS = 0.05  # a waiter looks at the line 20 times a second: a few file opens each
# A waiter whose place has not moved for this long trains anyway (a warning is logged): a line
# that does not move (a holder stuck, a bug) must never stop a student for good. Measured on
# 2 cores with 20 students retraining without pause, the place moves every ~1 s.
PATIENCE_SECONDS = 120.0
_OFF = ("0", "off", "none", "no")
log = logging.getLogger("lab.slots")


def default_folder() -> Path:
    """The queue's folder when LAB_QUEUE_DIR is unset: one per user of the machine."""
    return Path(tempfile.gettempdir()) / f"gradient-lab-{os.getuid()}" / "trainings"


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def try_lock(fd: int) -> bool:
    """Take `fd`'s exclusive flock if nobody holds it; False if somebody does."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise


class Held:
    """A flock held through an open file; `release()` (or leaving the `with`) drops it."""

    def __init__(self, fd: int | None):
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops its flock
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class Slot(Held):
    """A held training slot; releasing it frees it for the next in line."""

    def __init__(self, fd: int | None, index: int):
        super().__init__(fd)
        self.index = index


class TrainingSlots:
    """`count` training slots shared by every process that uses the same `folder`."""

    def __init__(self, folder: str | os.PathLike, count: int, poll: float = POLL_SECONDS,
                 patience: float = PATIENCE_SECONDS):
        if not 1 <= count <= MAX_TRAININGS:
            raise ValueError(f"{TRAININGS_ENV}={count!r}: the trainings at once must be a whole "
                             f"number from 1 to {MAX_TRAININGS}, or 0 / off for no queue")
        self.folder, self.count, self.poll = Path(folder), int(count), poll
        self.patience = patience
        self.line = self.folder / "queue"
        self.line.mkdir(parents=True, exist_ok=True, mode=0o700)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TrainingSlots | None:
        """The slots LAB_TRAININGS and LAB_QUEUE_DIR set; None when the queue is off."""
        env = os.environ if environ is None else environ
        text = env.get(TRAININGS_ENV, "").strip().lower()
        if text in _OFF:
            return None
        if text and not text.isdigit():
            raise ValueError(f"{TRAININGS_ENV}={text!r}: the trainings at once must be a whole "
                             f"number from 1 to {MAX_TRAININGS}, or 0 / off for no queue")
        folder = env.get(QUEUE_DIR_ENV, "").strip()
        return cls(Path(folder).expanduser() if folder else default_folder(),
                   int(text) if text else cores())

    # ------------------------------------------------------------------ the line
    def acquire(self, cancel: Callable[[], bool] = lambda: False,
                on_wait: Callable[[int], None] | None = None,
                background: bool = False) -> Slot | None:
        """Wait in line for a slot and return it; None if `cancel()` came true first.

        `on_wait(ahead)` is called whenever the number of live waiters ahead changes, the first
        time included, unless a slot is free at once. `background` work (a pooled kernel loading
        torch) yields to everyone: it counts every waiter as ahead, whenever they came. A place
        that has not moved for `patience` seconds gets a slot of its own (index -1, no lock).
        """
        with self._ticket(background) as mine:
            told, moved = None, time.monotonic()
            while True:
                ahead = self._ahead(mine)
                if ahead < self.count:
                    slot = self._take(ahead)
                    if slot is not None:
                        return slot
                if cancel():
                    return None
                if told is None or ahead < told:
                    moved = time.monotonic()
                elif time.monotonic() - moved > self.patience:
                    log.warning("training line %s: no move for %.0f s with %d ahead; training "
                                "without a slot", self.line, self.patience, ahead)
                    return Slot(None, -1)
                if on_wait is not None and ahead != told:
                    on_wait(ahead)
                told = ahead
                time.sleep(self.poll)

    def waiting(self) -> int:
        """Live waiters in line now (for status pages and tests)."""
        return sum(1 for name in self._tickets() if self._alive(name))

    def busy(self) -> int:
        """Slots held now."""
        held = 0
        for i in range(self.count):
            fd = self._open_slot(i)
            try:
                if not try_lock(fd):
                    held += 1
            finally:
                os.close(fd)
        return held

    @contextlib.contextmanager
    def _ticket(self, background: bool) -> Iterator[str]:
        # the ticket is locked before it appears in the line, so a live waiter's ticket is never
        # seen unlocked (and removed as a dead one's); names sort by arrival
        kind = "b" if background else "f"
        name = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}-{kind}"
        tmp = self.line / f".{name}"
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.replace(tmp, self.line / name)
            yield name
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.line / name)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            os.close(fd)

    def _tickets(self) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self.line) if not n.startswith("."))
        except FileNotFoundError:
            return []

    def _alive(self, name: str) -> bool:
        """True if the ticket's owner still waits; a dead owner's ticket is removed."""
        try:
            fd = os.open(self.line / name, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            if not try_lock(fd):
                return True
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.line / name)
            return False
        finally:
            os.close(fd)

    def _ahead(self, mine: str) -> int:
        """Live tickets before `mine`: those that came earlier, and for background work every
        foreground one (background tickets end in "-b", foreground ones in "-f")."""
        background = mine.endswith("-b")
        return sum(1 for name in self._tickets()
                   if name != mine and (name < mine or background and name.endswith("-f"))
                   and (background or name.endswith("-f")) and self._alive(name))

    def _open_slot(self, i: int) -> int:
        return os.open(self.folder / f"slot-{i}.lock", os.O_CREAT | os.O_RDWR, 0o600)

    def _take(self, ahead: int) -> Slot | None:
        """A slot if more than `ahead` are free (the waiters ahead take theirs first)."""
        free: list[tuple[int, int]] = []
        for i in range(self.count):
            fd = self._open_slot(i)
            if try_lock(fd):
                free.append((fd, i))
                if len(free) > ahead:
                    break
            else:
                os.close(fd)
        if len(free) > ahead:
            keep_fd, keep_i = free.pop()
            for fd, _ in free:
                os.close(fd)
            return Slot(keep_fd, keep_i)
        for fd, _ in free:
            os.close(fd)
        return None
