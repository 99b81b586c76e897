"""Dashboard: ipywidgets controls -> a TrainingSession (lab/session.py) -> frames -> an Image.

This module is wiring only: the widgets are built in lab/ui_layout.py, their texts in
lab/ui_text.py, and the training (worker, generations, cache, pacing, limits, status) runs in
the widget-free TrainingSession, which reports here through the SessionListener methods.
"""

from __future__ import annotations

import functools
import os
import time
from typing import TYPE_CHECKING, Any

from lab import i18n, presets, trace
from lab.config import Config, lenient_from_query
from lab.controls import LABELS
from lab.layout import VIEWS, page_options
from lab.plots import DashboardFigure
from lab.session import Frame, LangText, SessionListener, TrainingSession
from lab.ui_layout import DashboardLayout
from lab.ui_text import english, escape

PRELOAD_PATIENCE = 30.0  # s a pooled kernel waits for an empty line before it loads torch anyway

if TYPE_CHECKING:
    from lab.cache import ResultCache
    from lab.frame_view import FrameView
    from lab.limits import Limits

_escape = escape  # the name tests/test_ui.py reads
PRESENT_FIELDS = ["depth", "activation", "init", "batchnorm"]  # the page's first experiment


def _session(path: str, doc: str) -> property:
    """A read-only attribute of the dashboard that lives in its session (a dotted path)."""
    return property(lambda self: functools.reduce(getattr, path.split("."), self.session),
                    doc=doc)


class _SessionState:
    """Read-only attributes of a dashboard that live in its TrainingSession."""

    config = _session("config", "The config shown in the controls and trained last.")
    run = _session("run", "The newest config's latest frame (None before the first).")
    pinned = _session("pinned", "The run drawn as ghost lines (None: none).")
    max_in_flight = _session("worker.max_in_flight", "Most trainings ever in flight at once (1).")
    views = _session("views", "The session's FrameView maker.")
    cache = _session("cache", "The result cache (None: off).")
    limits = _session("limits", "This server's limits.")
    _generation = _session("generation", "Number of the newest request.")
    _worker = _session("worker.thread", "The training thread.")


class Dashboard(_SessionState, DashboardLayout):
    """The lab's app: controls, presets, status, the live figure, diagnosis, pin/share/export.

    `fields` limits the controls shown (lessons embed two or three). Training runs in a worker
    thread (`session`); `wait()` blocks until it is idle. `limits` (default: from the
    environment) refuses configs over the work cap and stops runs at the time limit; finished
    runs are shared through `cache` ("env": the folder LAB_CACHE_DIR names; None: no cache).
    `view="present"` is the projector mode: larger text and figure and, without `fields`, only
    the controls of the scenario shown (those a preset or the first config changes;
    lesson_fields). `lang` ("en" or "zh", lab/i18n.py) labels everything in English or Chinese;
    the full dashboard has a switch that relabels it in place (`set_lang`). `page_intro`: the
    page (notebooks/dashboard.ipynb) has an English introduction, which Chinese replaces.
    """

    def __init__(self, config: Config | None = None, fields: list[str] | None = None,
                 message: str | list[str] = "", autostart: bool = True,
                 limits: Limits | None = None, cache: ResultCache | str | None = "env",
                 view: str = "dashboard", lang: str = "en", page_intro: bool = False):
        if view not in VIEWS:
            raise ValueError(f"view={view!r}: must be one of {', '.join(VIEWS)}")
        parts = [message] if isinstance(message, str) else list(message)
        messages: list[LangText] = [english(p) for p in parts if p]
        self.session = TrainingSession(DashboardScreen(self), limits, cache, config)
        self._autostart = False
        refused = self.session.refusal(self.config)
        if refused:  # e.g. a shared link to a run this server does not allow: show the defaults
            self.session.config = Config()
            messages.append(lambda lang, r=refused: i18n.text(
                "defaults", lang, refused=i18n.message(r, lang)))
            autostart = autostart and self.session.refusal(self.config) is None
        try:
            self.figure = DashboardFigure(lang=i18n.check_lang(lang))
            self.last_png = b""
            super().__init__(self.config, fields, view, lang, page_intro)
        except BaseException:
            self.session.close()  # no idle worker thread left behind
            raise
        for field, widget in self.controls.items():
            widget.observe(lambda change, f=field: self._on_control(f, change["new"]), "value")
        self.presets.observe(lambda c: self._on_preset(c["new"]), "value")
        self.pin_button.on_click(lambda _: self.pin())
        self.unpin_button.on_click(lambda _: self.unpin())
        self.lang_switch.observe(lambda c: self._relabeling or self.set_lang(c["new"]), "value")
        if view == "present" and fields is None:
            self.show_only(lesson_fields(self.config))
        self.set_message(*messages)
        self.show_controls(self.config)
        self.show_config(self.config)
        # the first training starts once the controls are on the page (or wait() is called):
        # a Voila kernel sends its controls before the worker begins importing torch
        self._autostart = autostart

    def _repr_mimebundle_(self, **kwargs) -> dict:
        bundle = super()._repr_mimebundle_(**kwargs)
        self._start()
        return bundle

    def _start(self) -> None:
        """Train the first config, if that is still to do."""
        if self._autostart:
            self._autostart = False
            self.set_config(self.config)

    # ------------------------------------------------------------------ events (kernel thread)
    def _on_control(self, field: str, value: Any) -> None:
        if self._applying:
            return
        trace.mark("control", field=field, value=value)
        try:
            cfg = self.config.replace(**{field: value})
        except ValueError as e:  # cnn with 2-D data
            problem: str | None = str(e)
        else:
            problem = self.session.refusal(cfg)  # over the limits
        if problem:  # say so, keep the last config
            self.set_message(english(problem))
            self.show_controls(self.config)
            return
        self.set_message()
        self.presets.value = ""  # the scenario no longer matches a preset
        self.set_config(cfg)
        trace.mark("handled")

    def _on_preset(self, name: str) -> None:
        if self._relabeling:
            return
        self.show_lesson(name)
        if not name:
            return
        preset = presets.get(name)
        self.set_message()
        if not self.set_config(preset.config):  # over this server's limits: say so, no lesson
            self.presets.value = ""
        elif self.view == "present" and len(self.controls) == len(LABELS):
            self.show_only(lesson_fields(preset.config))

    def set_config(self, cfg: Config) -> bool:
        """Show `cfg` in the controls and retrain it (cancelling any training in flight).

        A config over the limits is refused with a message (False), keeping the current one.
        """
        self._autostart = False  # a config asked for replaces the first one
        refused = self.session.request(cfg)
        if refused:
            self.set_message(english(refused))
            self.show_controls(self.config)
            return False
        self.show_controls(cfg)
        self.show_config(cfg)
        return True

    def pin(self) -> None:
        """Keep the current run as ghost lines for comparison."""
        if self.session.pin():
            self.unpin_button.disabled = False

    def unpin(self) -> None:
        """Drop the pinned run."""
        self.unpin_button.disabled = True
        self.session.unpin()

    def set_lang(self, lang: str) -> None:
        """Relabel the whole dashboard in `lang` ("en" or "zh") in place: same run, no retrain."""
        self.relabel(i18n.check_lang(lang))
        self.show_config(self.config)
        self.show_texts(self.session.status, self.session.verdict)
        self.figure.set_lang(self.lang)  # its text too, where a font has Chinese glyphs
        self.session.redraw()
        if self._downloads_for is not None:
            self.show_downloads(self._downloads_for, self.last_png)

    # ------------------------------------------------------------------ for tests and scripts
    def wait(self, timeout: float = 60.0) -> bool:
        """Block until no training is in flight (starting the first one if the dashboard was
        never shown); False if `timeout` seconds pass first."""
        self._start()
        return self.session.wait(timeout)

    def close(self) -> None:
        """Stop the worker (cancelling any training) and close the widgets."""
        self.session.close()
        self.widget.close()

    @classmethod
    def from_query(cls, query: str | None = None, **kw) -> Dashboard:
        """A Dashboard whose first config comes from a URL query (Voila's QUERY_STRING); invalid
        fields fall back to their defaults, named in the message. The page's own options:
        view=present, fields=depth,activation and lang=zh; a bad one is named and ignored."""
        cfg, options, problems = _read_query(query)
        for name, value in options.items():
            kw.setdefault(name, value)
        return cls(cfg, message=problems, **kw)


class DashboardScreen(SessionListener):
    """What the session reports, shown in a Dashboard's widgets (the figure drawn on the worker)."""

    def __init__(self, dash: Dashboard):
        self.dash = dash

    def draw(self, view: FrameView) -> bytes:
        """Update the figure's artists to `view` and encode it."""
        figure = self.dash.figure
        trace.mark("draw", at_init=view.run.at_init, depth=view.run.config.depth)
        figure.update(view.run, pinned=view.pinned, view=view)
        trace.mark("drawn")
        return figure.png()

    def signature(self) -> tuple:
        """Kernels whose figures share this draw the same image of a run (lab/relay.py)."""
        figure = self.dash.figure
        return ("dashboard", type(figure).__qualname__, figure.lang,
                tuple(figure.fig.get_size_inches()), figure.fig.dpi)

    def on_image(self, image: bytes) -> None:
        """Show the newest figure."""
        trace.mark("encoded", bytes=len(image))  # png() returned just before (session._draw)
        self.dash.image.value = self.dash.last_png = image
        trace.mark("sent")

    def on_frame(self, frame: Frame) -> None:
        """Progress, status and verdict of the frame just drawn; downloads once it is final."""
        dash = self.dash
        dash.show_progress(*frame.steps)
        dash.show_texts(frame.status, frame.view.diagnosis)
        if frame.run.finished and not frame.at_init:
            dash.show_downloads(frame.run.config, dash.last_png)
        trace.mark("shown", at_init=frame.at_init, finished=frame.run.finished)

    def on_status(self, status: LangText) -> None:
        """A status line without a frame (a failed training)."""
        self.dash.status.value = escape(status(self.dash.lang))

    def on_error(self, message: LangText) -> None:
        """An error's one line, in the message line."""
        self.dash.set_message(message)


def _read_query(query: str | None) -> tuple[Config, dict[str, Any], list[str]]:
    """The config, the page's options (view, fields, lang, page_intro) and the problems found."""
    if query is None:
        # a preheated Voila kernel learns its request (and query) only from voila's
        # wait_for_request, which returns at once unless VOILA_PREHEAT is set; importing voila
        # costs ~1.7 CPU s (its server, jsonschema), so a kernel that is not preheated skips it
        if os.environ.get("VOILA_PREHEAT", "False") != "False":
            _preload()

            try:
                from voila.utils import wait_for_request

                wait_for_request()
            except ImportError:
                pass
        query = os.environ.get("QUERY_STRING", "")
    query, view, fields, lang, page_problems = page_options(query, list(LABELS))
    cfg, problems = lenient_from_query(query)
    options = {"view": view, "fields": fields, "lang": lang, "page_intro": True}
    return cfg, options, problems + page_problems


def _preload(patience: float = PRELOAD_PATIENCE) -> None:
    """A pooled kernel loads torch before it waits for a viewer, once no student's training
    waits for a core (refilling a pool of 20 costs ~2 CPU minutes: the class's work comes
    first, lab/slots.py), or after `patience` seconds: a viewer may already wait for it."""
    from lab.slots import TrainingSlots

    slots = TrainingSlots.from_env()
    deadline = time.monotonic() + patience
    slot = (slots.acquire(lambda: time.monotonic() > deadline, background=True)
            if slots is not None else None)
    try:
        import lab.cache  # noqa: F401
    finally:
        if slot is not None:
            slot.release()


def lesson_fields(cfg: Config) -> list[str]:
    """The controls of a scenario: the fields it sets away from the defaults (else a few)."""
    default = Config()
    return [f for f in LABELS if getattr(cfg, f) != getattr(default, f)] or PRESENT_FIELDS
