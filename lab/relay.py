"""Relay: when several kernels ask for one config at once, one trains it and the others follow.

A class moves in lockstep ("now everyone set 20 hidden layers"), and the result cache alone does
not help then: a Run is stored only when it ends, so twenty kernels asking at the same moment
would all train it. Beside the cache's folder, `relay/` holds per config (named by lab.cache.key):

- `<key>.lock`: the leader holds its flock from its claim to its end. The OS drops the lock when
  the leader's process dies, so a follower that finds the lock free takes over: it finds the
  finished Run in the cache, or trains the config itself. Nobody waits on a dead leader.
- `<key>.frame`: the leader's latest frame (a pickled `Published`: the Run, the image it drew and
  what shaped that image), replaced atomically at every frame it draws. Followers show it: a
  follower whose figure would look the same (same language, nothing pinned) shows the leader's
  image as it is and draws nothing, so twenty students cost one training and one drawing.

The leader's step-0 frame is drawn before it waits for a training slot (lab/slots.py), so no
student's first figure of a change waits behind other students' trainings.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lab import trace
from lab.cache import key
from lab.slots import Held, try_lock
from lab.trainer import inspect, train

if TYPE_CHECKING:
    from lab.cache import ResultCache
    from lab.config import Config
    from lab.run import Run
    from lab.slots import TrainingSlots

log = logging.getLogger("lab.relay")
POLL_SECONDS = 0.05  # a follower looks for a new frame 20 times a second (a stat() each)
FOLLOW_DRAW_EVERY = 2.0  # s between intermediate frames a follower must draw itself, at least
STALE_SECONDS = 600  # frame files of configs nobody leads are removed after this long
# Show(run, image, source) draws `run` unless `image` is given, shows it, and returns the image
# shown (None if a newer request replaced this one). source: None, "cache" or "shared".
Show = Callable[["Run", "bytes | None", "str | None"], "bytes | None"]


@dataclass
class Published:
    """One frame as the leader drew it: the Run, and its image per figure signature."""

    run: Run
    images: dict[Hashable, bytes] = field(default_factory=dict)
    ahead: int | None = None  # the leader waits for a training slot with this many ahead
    seq: int = 0  # the leader's frame count, so followers see each frame once

    @property
    def final(self) -> bool:
        """The leader's finished Run (a time-limited one included): nothing more will come."""
        return self.run.finished and not self.run.cancelled and not self.run.at_init


class Lead(Held):
    """This process leads a config: it trains it and publishes every frame it draws; releasing
    it lets the next claimant or follower take over."""

    def __init__(self, relay: Relay, name: str, fd: int):
        super().__init__(fd)
        self.relay, self.name, self.seq = relay, name, 0

    def publish(self, run: Run, image: bytes | None = None, signature: Hashable | None = None,
                ahead: int | None = None) -> None:
        """Replace the published frame with this one (atomically: readers see old or new)."""
        self.seq += 1
        images = {signature: image} if image is not None and signature is not None else {}
        self.relay.write(self.name, Published(run, images, ahead, self.seq))


class Relay:
    """The relay folder: claims, published frames, and their clean-up."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._seen: dict[str, tuple[int, int]] = {}  # name -> (mtime_ns, size) last read

    @classmethod
    def beside(cls, cache: ResultCache) -> Relay:
        """The relay of a result cache: its folder's `relay/`, shared by the same kernels."""
        return cls(Path(cache.directory) / "relay")

    def claim(self, name: str) -> Lead | None:
        """Lead `name` if nobody does; None if someone does.

        An old frame file stays until the new leader's step 0 replaces it: a follower that
        reads a previous leader's final frame of this config shows a true result of it.
        """
        fd = os.open(self.folder / f"{name}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        if not try_lock(fd):
            os.close(fd)
            return None
        self._sweep()
        return Lead(self, name, fd)

    def write(self, name: str, published: Published) -> None:
        """Publish a frame (a temporary file renamed over the old one)."""
        tmp = self.folder / f".{name}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as f:
                pickle.dump(published, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.folder / f"{name}.frame")
        except OSError as e:  # a full disk: the followers take over when the lead ends
            log.warning("relay %s: cannot publish (%s)", self.folder, e)
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def read(self, name: str, only_new: bool = True) -> Published | None:
        """The published frame of `name`; None if there is none (or, with only_new, if this
        process has read it already)."""
        path = self.folder / f"{name}.frame"
        try:
            st = os.stat(path)
            stamp = (st.st_mtime_ns, st.st_size)
            if only_new and self._seen.get(name) == stamp:
                return None
            with open(path, "rb") as f:
                published = pickle.load(f)
        except FileNotFoundError:
            return None
        except Exception as e:  # noqa: BLE001 - a torn or foreign file: as if none
            log.warning("relay %s: unreadable frame %s (%s: %s)", self.folder, name,
                        type(e).__name__, e)
            return None
        self._seen[name] = stamp
        return published if isinstance(published, Published) else None

    def _sweep(self) -> None:
        """Remove frame files nobody has written for STALE_SECONDS (configs long finished)."""
        cutoff = time.time() - STALE_SECONDS
        with contextlib.suppress(OSError), os.scandir(self.folder) as entries:
            for e in entries:
                if e.name.endswith((".frame", ".tmp")) and e.stat().st_mtime < cutoff:
                    with contextlib.suppress(OSError):
                        os.unlink(e.path)


def train_shared(cfg: Config, show: Show, cancel: Callable[[], bool], *,
                 cache: ResultCache | None, slots: TrainingSlots | None = None,
                 signature: Callable[[], Hashable | None] = lambda: None,
                 on_queue: Callable[[int], None] | None = None,
                 max_seconds: float | None = None,
                 frame_due: Callable[[], bool] | None = None) -> Run | None:
    """`cfg`'s Run for the dashboard: from the cache, from a leader that trains it, or trained.

    Every frame goes to `show` (see Show). Trainings wait in `slots`' line, and `on_queue(ahead)`
    tells how many wait before this one. Returns the last Run shown (None if cancelled first).
    """
    relay = Relay.beside(cache) if cache is not None else None
    name = key(cfg) if relay is not None else ""  # the relay's file names; no relay, no name
    hit = cache.get(cfg) if cache is not None else None
    if hit is not None:
        published = relay.read(name, only_new=False) if relay is not None else None
        image = _image(published, signature, final=True)
        show(hit, image, "cache")
        return hit
    shown: Run | None = None  # the last Run shown: a follower that takes over keeps its step 0
    while True:
        lead = relay.claim(name) if relay is not None else None
        if lead is not None or relay is None:
            with lead or contextlib.nullcontext():
                if lead is not None and cache is not None:
                    hit = cache.get(cfg)  # a leader that finished just before this claim
                    if hit is not None:
                        published = relay.read(name, only_new=False)
                        show(hit, _image(published, signature, final=True), "cache")
                        return hit
                return _train(cfg, show, cancel, lead, cache, slots, signature, on_queue,
                              max_seconds, frame_due, shown)
        shown, done = _follow(relay, name, show, cancel, signature, on_queue, shown)
        if done or cancel():
            return shown


def _image(published: Published | None, signature: Callable[[], Hashable | None],
           final: bool = False) -> bytes | None:
    """The published image that this process's figure would draw too, if there is one."""
    if published is None or (final and not published.final):
        return None
    sig = signature()
    return published.images.get(sig) if sig is not None else None


def _train(cfg: Config, show: Show, cancel: Callable[[], bool], lead: Lead | None,
           cache: ResultCache | None, slots: TrainingSlots | None,
           signature: Callable[[], Hashable | None], on_queue: Callable[[int], None] | None,
           max_seconds: float | None, frame_due: Callable[[], bool] | None,
           shown: Run | None) -> Run | None:
    """Lead: step 0 at once (published), then wait for a slot, train, publish, store."""
    def publish(run: Run, image: bytes | None, ahead: int | None = None) -> None:
        if lead is not None:
            lead.publish(run, image, signature(), ahead)

    # a follower taking over keeps what it shows until its own training's frames come
    initial = shown if shown is not None and shown.at_init else inspect(cfg)
    image = show(initial, None, None) if shown is None else None
    publish(initial, image)
    if cancel():
        return initial

    def waiting(ahead: int) -> None:
        trace.mark("queued", ahead=ahead)
        if on_queue is not None:
            on_queue(ahead)
        publish(initial, image, ahead)

    slot = slots.acquire(cancel, waiting) if slots is not None else contextlib.nullcontext()
    if slot is None:  # cancelled in line
        trace.mark("left the line")
        return initial
    trace.mark("training", slot=getattr(slot, "index", None))

    def on_frame(run: Run) -> None:
        publish(run, show(run, None, None))

    with slot:
        run = train(cfg, on_frame=on_frame, cancel=cancel, max_seconds=max_seconds,
                    frame_due=frame_due)
    trace.mark("trained", status=run.status())
    if cache is not None:
        cache.put(run)  # before the lead ends: who claims next finds it there
    return run


def _follow(relay: Relay, name: str, show: Show, cancel: Callable[[], bool],
            signature: Callable[[], Hashable | None], on_queue: Callable[[int], None] | None,
            shown: Run | None) -> tuple[Run | None, bool]:
    """Show the leader's frames until its final one (done) or until it is gone (not done)."""
    last_drawn = 0.0  # when this process last drew an intermediate frame itself
    told: int | None = None
    while not cancel():
        vacant = _vacant(relay, name)  # before the read: a final frame published just before
        published = relay.read(name)  # the lead ended is still seen
        if published is not None:
            run, image = published.run, _image(published, signature)
            if published.final:
                show(run, image, "shared")
                return run, True
            fresh = shown is None or run.steps_done != shown.steps_done or (
                run.at_init != shown.at_init)
            affordable = image is not None or time.monotonic() - last_drawn >= FOLLOW_DRAW_EVERY
            if fresh and (affordable or run.at_init):
                if image is None and not run.at_init:
                    last_drawn = time.monotonic()
                if show(run, image, "shared") is not None:
                    shown = run
            if published.ahead is not None and published.ahead != told and on_queue:
                told = published.ahead
                on_queue(told)
        if vacant:
            return shown, False
        time.sleep(POLL_SECONDS)
    return shown, True


def _vacant(relay: Relay, name: str) -> bool:
    """True if nobody leads `name` now (the lead ended or its process died)."""
    try:
        fd = os.open(relay.folder / f"{name}.lock", os.O_RDONLY)
    except FileNotFoundError:
        return True
    try:
        return try_lock(fd)  # closing drops the probe lock again
    finally:
        os.close(fd)
