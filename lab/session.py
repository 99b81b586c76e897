"""TrainingSession: the dashboard's work without its widgets.

One worker thread trains the newest requested config only (a newer request cancels the older
generation and drops its frames), serves finished Runs from the result cache, paces the frames
drawn while training (lab/pacing.py), applies the server's limits (lab/limits.py) and words the
status line in each language (lab/i18n.py). It reports to a SessionListener: the Dashboard in
lab/ui.py, or a recorder in tests/test_session.py. It never imports ipywidgets or matplotlib;
drawing is the listener's `draw`, called on the worker thread so that pacing counts its cost.
Across the kernels of a server, trainings wait in one line for a core (lab/slots.py), and a
config several kernels ask for at once trains once, the others following it (lab/relay.py).
The modules that import torch (lab.cache, lab.trainer, lab.data) load when the first config is
trained, on the worker thread, not when this module is imported.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lab import i18n, trace
from lab.config import Config
from lab.pacing import FramePacer
from lab.worker import NewestWorker

if TYPE_CHECKING:
    from lab.cache import ResultCache
    from lab.diagnosis import Diagnosis
    from lab.frame_view import FrameView, Views
    from lab.limits import Limits
    from lab.run import Run
    from lab.slots import TrainingSlots

log = logging.getLogger("lab.session")
DRAW_EVERY = 1.0  # seconds between intermediate frames while training, at least
DRAW_SHARE = 0.25  # of the run's CPU (training and every frame), at most, spent drawing
_DROPPED = object()  # what _draw returns for a frame a newer request made stale
LangText = Callable[[str], str]  # a text that renders itself in a language ("en", "zh")


@dataclass(frozen=True)
class Frame:
    """One frame of the newest config, as drawn: its Run, its view, its status line."""

    run: Run
    view: FrameView  # what the figure drew, with the diagnosis the verdict shows
    at_init: bool  # lab.inspect's step 0, shown while the training starts
    status: LangText
    generation: int

    @property
    def steps(self) -> tuple[int, int]:
        """Progress as (steps done, steps asked for); 0 done while at initialization."""
        return (0 if self.at_init else self.run.steps_done), self.run.config.steps


class SessionListener:
    """What a TrainingSession tells its view; the defaults do nothing.

    Every method may run on the worker thread or on the thread that called the session.
    """

    def draw(self, view: FrameView) -> Any:
        """Draw `view` and return the image (PNG bytes for the Dashboard)."""
        return None

    def signature(self) -> Hashable | None:
        """What, besides the view, shapes `draw`'s image: kernels whose figures have the same
        signature share images of the same run (lab/relay.py); None never shares."""
        return None

    def on_image(self, image: Any) -> None:
        """The image just drawn; still the newest config's when this is called."""

    def on_frame(self, frame: Frame) -> None:
        """A frame of the newest config was drawn: show its progress, status and verdict."""

    def on_status(self, status: LangText) -> None:
        """The status line changed without a frame: queued for a core, or the training failed."""

    def on_error(self, message: LangText) -> None:
        """Show this one-line message (an error's first line, never a traceback)."""


class TrainingSession:
    """Trains the newest requested config on a worker thread and reports its frames.

    `limits` (default: from the environment) refuses configs over the work cap and stops runs
    at the time limit; finished Runs are shared through `cache` ("env": the folder
    LAB_CACHE_DIR names; None: no cache) and coalesced with other kernels through it; trainings
    wait for one of `slots` ("env": lab.slots.TrainingSlots.from_env(); None: no line). `run`
    is the newest config's latest frame, `pinned` a Run kept for comparison; `status` and
    `verdict` are what the last frame said.
    """

    def __init__(self, listener: SessionListener | None = None, limits: Limits | None = None,
                 cache: ResultCache | str | None = "env", config: Config | None = None,
                 slots: TrainingSlots | str | None = "env"):
        if limits is None:
            from lab.limits import Limits  # torch-free, but only a session needs it

            limits = Limits.from_env()
        self.listener = listener if listener is not None else SessionListener()
        self.limits = limits
        self.config = config or Config()  # the config asked for last
        self._cache_choice = cache
        if slots == "env":
            from lab.slots import TrainingSlots  # torch-free

            slots = TrainingSlots.from_env()
        self.slots: TrainingSlots | None = slots  # type: ignore[assignment]
        self.run: Run | None = None
        self.pinned: Run | None = None
        self.status: LangText = _blank
        self.verdict: Diagnosis | None = None
        self._draw_lock = threading.Lock()
        self.worker = NewestWorker(self._handle, name="lab-trainer")

    @functools.cached_property
    def cache(self) -> ResultCache | None:
        """The result cache, opened on first use (lab.cache imports torch)."""
        from lab.cache import resolve

        return resolve(self._cache_choice)

    @functools.cached_property
    def views(self) -> Views:
        """The FrameView maker, built on first use (its views load data: torch)."""
        from lab.frame_view import Views

        return Views()

    # ------------------------------------------------------------------ requests (any thread)
    def refusal(self, cfg: Config) -> str | None:
        """Why this server refuses `cfg` (one English sentence), or None if it is allowed."""
        return self.limits.refusal(cfg)

    def request(self, cfg: Config) -> str | None:
        """Train `cfg`, cancelling any older request; a refused config returns why instead."""
        refused = self.refusal(cfg)
        if not refused:
            self.worker.submit(cfg, before=lambda: setattr(self, "config", cfg))
        return refused

    def pin(self) -> bool:
        """Keep the current run as ghost lines for comparison; False if there is none yet."""
        if self.run is None:
            return False
        self.pinned = self.run
        self.redraw()
        return True

    def unpin(self) -> None:
        """Drop the pinned run."""
        self.pinned = None
        self.redraw()

    def redraw(self) -> None:
        """Draw the current run again (pinned, unpinned, relabelled); errors become a message."""
        if self.run is not None:
            try:
                self._draw(self.views.of(self.run, self.pinned), self.generation)
            except Exception as e:  # noqa: BLE001 - a view error must not kill the app
                self._fail(e)

    @property
    def generation(self) -> int:
        """Number of the newest request; frames of older ones are dropped."""
        return self.worker.generation

    def wait(self, timeout: float = 60.0) -> bool:
        """Block until no training is in flight; False if `timeout` seconds pass first."""
        return self.worker.wait(timeout)

    def close(self) -> None:
        """Stop the worker, cancelling any training."""
        self.worker.close()

    # ------------------------------------------------------------------ worker thread
    # One worker (lab/worker.py) runs inspect and train for the newest request only (so never
    # two trainings at once) and draws frames itself: a second drawing thread would fight the
    # trainer for the GIL (measured: 8.0 s instead of 4.4 s to the final frame of the default run).
    def _handle(self, generation: int, cfg: Config) -> None:
        trace.mark("worker request", generation=generation, depth=cfg.depth)
        try:
            self._train(generation, cfg)
            trace.mark("worker done", generation=generation)
        except Exception as e:  # noqa: BLE001 - shown in the message line, logged in full
            if self.worker.cancelled(generation):  # a config already replaced: no news for the
                log.warning("error in an abandoned training", exc_info=e)  # one shown now
                return
            self._fail(e)
            self.status = functools.partial(_error_status, cfg)
            self.listener.on_status(self.status)

    def _train(self, generation: int, cfg: Config) -> None:
        from lab.relay import train_shared  # torch loads here, on the worker

        t0 = time.perf_counter()
        # at most a frame a second, and drawing at most a quarter of this thread's CPU time,
        # however busy the machine is (lab/pacing.py)
        pacer = FramePacer(DRAW_EVERY, DRAW_SHARE)
        cancel = functools.partial(self.worker.cancelled, generation)

        def show(run: Run, image: bytes | None, source: str | None) -> bytes | None:
            cpu = time.thread_time()
            shown = self._show(generation, run, t0, image, source)
            if run.at_init:  # the step-0 frame: its drawing cost sets the pace
                pacer.drew(time.thread_time() - cpu)
            elif not run.finished:
                pacer.drew()
            return shown

        def queued(ahead: int) -> None:
            if not cancel():
                self.status = functools.partial(_queued_status, cfg, ahead)
                self.listener.on_status(self.status)

        def signature() -> Hashable | None:
            return None if self.pinned is not None else self.listener.signature()

        # the cache's Run at once; else another kernel's training of it, followed; else step 0
        # drawn first, then a turn in the line for a core, then the training
        train_shared(cfg, show, cancel, cache=self.cache, slots=self.slots,
                     signature=signature, on_queue=queued, max_seconds=self.limits.max_seconds,
                     frame_due=pacer.due)

    def _show(self, generation: int, run: Run, t0: float, image: bytes | None = None,
              source: str | None = None) -> bytes | None:
        """Draw `run` (or show `image`, drawn elsewhere) and report its frame unless a newer
        config has been asked for since; the image shown, or None."""
        if self.worker.cancelled(generation):
            return None
        view = self.views.of(run, self.pinned)
        image = self._draw(view, generation, image)
        if image is _DROPPED:
            return None
        self.run = run
        self.status = functools.partial(_status, run, time.perf_counter() - t0, source)
        self.verdict = view.diagnosis
        self.listener.on_frame(Frame(run, view, run.at_init, self.status, generation))
        return image if image is not None else b""  # a listener that draws nothing

    def _draw(self, view: FrameView, generation: int, image: Any = None) -> Any:
        """Draw `view` (unless its `image` is given) and hand the image on, if still the newest
        config's; the image, or _DROPPED if a newer config replaced it."""
        with self._draw_lock:
            if generation != self.generation:
                return _DROPPED
            if image is None:
                image = self.listener.draw(view)
            if generation != self.generation:
                return _DROPPED
            self.listener.on_image(image)
        return _DROPPED if self.worker.cancelled(generation) else image

    def _fail(self, error: Exception) -> None:
        """Log the error in full; report its first line (at most 200 characters)."""
        log.exception("dashboard error", exc_info=error)
        self.listener.on_error(functools.partial(_failed, one_line(error)))


def one_line(error: BaseException) -> str:
    """`Type: first line of the message` (at most 200 characters of it), never a traceback."""
    lines = str(error).strip().splitlines()
    first = lines[0] if lines else ""
    first = first if len(first) <= 200 else first[:199] + "…"
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def _status(run: Run, seconds: float, source: str | None, lang: str) -> str:
    """The status line of a frame: the config, where the run is, loss, device, source, time.

    source: "cache" (a stored Run), "shared" (another kernel trains it) or None (this one).
    """
    return i18n.text(
        "status", lang, describe=i18n.describe(run.config, lang),
        state=i18n.text("status.training", lang) if run.at_init else i18n.run_status(run, lang),
        loss=i18n.text("status.loss", lang, loss=run.loss[-1]) if len(run.loss) else "",
        device=run.device, source=i18n.text(f"status.{source}", lang) if source else "",
        seconds=seconds)


def _queued_status(cfg: Config, ahead: int, lang: str) -> str:
    """The status line while the training waits for a core behind `ahead` others."""
    return i18n.text("status.queued" if ahead else "status.next", lang,
                     describe=i18n.describe(cfg, lang), ahead=ahead)


def _error_status(cfg: Config, lang: str) -> str:
    return i18n.text("status.error", lang, describe=i18n.describe(cfg, lang))


def _failed(what: str, lang: str) -> str:
    return i18n.text("failed", lang, what=what)


def _blank(lang: str) -> str:
    return ""
