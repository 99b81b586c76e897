"""Dashboard: ipywidgets controls -> Config -> a training worker -> frames -> an Image widget."""

from __future__ import annotations

import base64
import html
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as W

from lab import i18n, presets
from lab.cache import ResultCache, resolve
from lab.config import Config, lenient_from_query
from lab.controls import GROUPS, LABELS, group_text, make_control, relabel, show_value
from lab.diagnosis import Diagnosis
from lab.export import lab_code, torch_code
from lab.frame_view import FrameView, Views
from lab.layout import VIEWS, page_options, style_html
from lab.limits import Limits
from lab.pacing import FramePacer
from lab.plots import DashboardFigure
from lab.run import Run
from lab.trainer import inspect, train

log = logging.getLogger("lab.ui")
DRAW_EVERY = 1.0  # seconds between intermediate frames while training, at least
DRAW_SHARE = 0.25  # of the training thread's CPU time, at most, spent on intermediate frames

class Dashboard:
    """The lab's app: controls, presets, status, the live figure, diagnosis, pin/share/export.

    `fields` limits the controls shown (lessons embed two or three). Training runs in a worker
    thread; `wait()` blocks until it is idle. `limits` (default: from the environment) refuses
    configs over the work cap and stops runs at the time limit; finished runs are shared through
    `cache` ("env": the folder LAB_CACHE_DIR names; None: no cache). `view="present"` is the
    projector mode: larger text and figure and, without `fields`, only the controls of the
    scenario shown (those a preset or the first config changes; lesson_fields).
    `lang` ("en" or "zh", lab/i18n.py) labels everything in English or Chinese; the full
    dashboard has a switch that relabels it in place (`set_lang`). `page_intro`: the page
    (notebooks/dashboard.ipynb) has an English introduction, which Chinese replaces.
    """

    def __init__(self, config: Config | None = None, fields: list[str] | None = None,
                 message: str | list[str] = "", autostart: bool = True,
                 limits: Limits | None = None, cache: ResultCache | str | None = "env",
                 view: str = "dashboard", lang: str = "en", page_intro: bool = False):
        if view not in VIEWS:
            raise ValueError(f"view={view!r}: must be one of {', '.join(VIEWS)}")
        self.view = view
        self.lang = i18n.check_lang(lang)
        self.page_intro = page_intro
        # what the text lines show, kept in a form each language can render (set_lang)
        parts = [message] if isinstance(message, str) else list(message)
        messages: list[Callable[[str], str]] = [_english(p) for p in parts if p]
        self._status_text: Callable[[str], str] = lambda lang: ""
        self._verdict: Diagnosis | None = None
        self._downloads_for: Config | None = None
        self.limits = limits if limits is not None else Limits.from_env()
        self.cache = resolve(cache)
        self.config = config or Config()
        refused = self.limits.refusal(self.config)
        if refused:  # e.g. a shared link to a run this server does not allow: show the defaults
            self.config = Config()
            messages.append(lambda lang, r=refused: i18n.text(
                "defaults", lang, refused=i18n.message(r, lang)))
            autostart = autostart and self.limits.refusal(self.config) is None
        self.run: Run | None = None
        self.pinned: Run | None = None
        self.figure = DashboardFigure(lang=self.lang)
        self.views = Views()  # one FrameView per frame: the figure and the verdict read it
        self._figure_lock = threading.Lock()
        self._cond = threading.Condition()
        self._request: tuple[int, Config] | None = None  # newest config not yet started
        self._generation = 0
        self._training = False  # the trainer thread is inspecting/training
        self._in_flight = 0  # trainings running now (never more than 1)
        self.max_in_flight = 0
        self._closed = False
        self._applying = False  # set while code (preset, query) sets several controls
        self._relabeling = False  # set while set_lang relabels the preset list
        self.last_png = b""
        shown = fields if fields is not None else list(LABELS)
        self.controls: dict[str, W.Widget] = {}
        for field in shown:
            self.controls[field] = widget = make_control(field, getattr(Config(), field),
                                                         self.lang)
            show_value(widget, getattr(self.config, field))
        for field, widget in self.controls.items():
            widget.observe(lambda change, f=field: self._on_control(f, change["new"]), "value")
        self._build_widgets(fields is None)
        if view == "present" and fields is None:
            self._show_only(lesson_fields(self.config))
        self._show_intro()
        self._set_message(*messages)
        self._worker = threading.Thread(target=self._work, name="lab-trainer", daemon=True)
        self._worker.start()
        if autostart:
            self._submit(self.config)

    # ------------------------------------------------------------------ layout
    def _build_widgets(self, full: bool) -> None:
        """Boxes in the classes lab/layout.py's stylesheet places: figure column, controls."""
        self.status = _text("lab-status")
        self.progress = W.IntProgress(min=0, max=self.config.steps, layout=W.Layout(width="99%"))
        self.image = W.Image(format="png")
        self.image.add_class("lab-figure")
        self.diagnosis = _text("lab-diagnosis")
        self.message = _text("lab-message")
        self.lesson = _text("lab-lesson", "lab-wide")
        lang = self.lang
        self.presets = W.Dropdown(options=self._preset_options(), value="",
                                  description=i18n.text("preset", lang))
        self.presets.add_class("lab-presets")
        self.presets.observe(lambda c: self._on_preset(c["new"]), "value")
        self.pin_button = W.Button(description=i18n.text("pin", lang), icon="thumb-tack",
                                   tooltip=i18n.text("pin.tip", lang))
        self.unpin_button = W.Button(description=i18n.text("unpin", lang), disabled=True)
        self.pin_button.on_click(lambda _: self.pin())
        self.unpin_button.on_click(lambda _: self.unpin())
        self.link = W.Text(description=i18n.text("share", lang), layout=W.Layout(width="99%"),
                           tooltip=i18n.text("share.tip", lang))
        self.link.add_class("lab-link")
        self.downloads = _text("lab-downloads")
        self.code = W.Textarea(layout=W.Layout(width="99%", height="260px"))
        self.code_box = code_box = W.Accordion(children=[self.code],
                                               titles=(i18n.text("code.show", lang),))
        code_box.selected_index = None
        self.lang_switch = W.ToggleButtons(
            options=[(name, code) for code, name in i18n.LANG_NAMES.items()], value=lang,
            tooltips=[i18n.text("lang.tip", lang)] * len(i18n.LANGS))
        self.lang_switch.add_class("lab-lang")
        self.lang_switch.observe(lambda c: self._relabeling or self.set_lang(c["new"]), "value")
        self.group_headers: dict[str, W.HTML] = {}
        self.intro = _text("lab-intro", "lab-extra")  # the page's introduction, in Chinese
        left: list[W.Widget] = [self.presets, self.lesson] if full else []
        if self.view == "present":  # one short list: this lesson step's controls
            left.append(_box(W.VBox, list(self.controls.values()), "lab-group"))
        else:
            for group in GROUPS:
                members = [w for f, w in self.controls.items() if LABELS[f][0] == group]
                if members:
                    header = self.group_headers[group] = W.HTML(self._group_html(group))
                    left.append(_box(W.VBox, [header, *members], "lab-group"))
        if full:
            left.append(_box(W.HBox, [self.pin_button, self.unpin_button]))
            left += [_box(W.VBox, [self.link, self.downloads], "lab-extra", "lab-wide")]
        right = [self.status, self.progress, self.message, self.image, self.diagnosis]
        if full:
            right.append(_box(W.VBox, [code_box], "lab-extra"))
        # the figure column first: it stays first when the columns stack on a narrow screen
        main = _box(W.Box, [_box(W.VBox, right, "lab-figure-column"),
                            _box(W.VBox, left, "lab-controls")], "lab-main")
        self.style = W.HTML(style_html(), layout=W.Layout(display="none"))  # applies anyway
        top = [_box(W.HBox, [self.lang_switch], "lab-top")] if full else []
        if full and self.page_intro:
            top.append(self.intro)
        self.widget = _box(W.VBox, [self.style, *top, main], "lab-dashboard",
                           *(["lab-present"] if self.view == "present" else []))

    def _repr_mimebundle_(self, **kwargs) -> dict:
        """The widget, with a plain-text form that does not change as training runs."""
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = f"Gradient Lab dashboard: {', '.join(self.controls)}"
        return bundle

    # ------------------------------------------------------------------ events (kernel thread)
    def _on_control(self, field: str, value: Any) -> None:
        if self._applying:
            return
        try:
            cfg = self.config.replace(**{field: value})
            self.limits.check(cfg)
        except ValueError as e:  # cnn with 2-D data, or over the limits: say so, keep the last
            self._set_message(_english(str(e)))
            self._show_controls(self.config)
            return
        self._set_message()
        self.presets.value = ""  # the scenario no longer matches a preset
        self.set_config(cfg)

    def _on_preset(self, name: str) -> None:
        if self._relabeling:
            return
        self._show_lesson(name)
        if not name:
            return
        preset = presets.get(name)
        self._set_message()
        if not self.set_config(preset.config):  # over this server's limits: say so, no lesson
            self.presets.value = ""
        elif self.view == "present" and len(self.controls) == len(LABELS):
            self._show_only(lesson_fields(preset.config))

    def _show_only(self, fields: list[str]) -> None:
        """Projector mode: show these controls, hide the others."""
        for field, widget in self.controls.items():
            widget.layout.display = "" if field in fields else "none"

    def set_config(self, cfg: Config) -> bool:
        """Show `cfg` in the controls and retrain it (cancelling any training in flight).

        A config over the limits is refused with a message (False), keeping the current one.
        """
        refused = self.limits.refusal(cfg)
        if refused:
            self._set_message(_english(refused))
            self._show_controls(self.config)
            return False
        self._show_controls(cfg)
        self.config = cfg
        self._submit(cfg)
        return True

    def _show_controls(self, cfg: Config) -> None:
        self._applying = True
        try:
            for field, widget in self.controls.items():
                show_value(widget, getattr(cfg, field))
        finally:
            self._applying = False

    def pin(self) -> None:
        """Keep the current run as ghost lines for comparison."""
        if self.run is not None:
            self.pinned = self.run
            self.unpin_button.disabled = False
            self._redraw()

    def unpin(self) -> None:
        """Drop the pinned run."""
        self.pinned = None
        self.unpin_button.disabled = True
        self._redraw()

    def _redraw(self) -> None:
        if self.run is not None:
            try:
                self._draw(self.views.of(self.run, self.pinned), self._generation)
            except Exception as e:  # noqa: BLE001 - a view error must not kill the app
                self._fail(e)

    # ------------------------------------------------------------------ worker thread
    # One worker runs inspect and train for the newest request only (so never two trainings at
    # once) and draws frames itself: a second drawing thread would fight the trainer for the
    # GIL (measured: 8.0 s instead of 4.4 s to the final frame of the default run).
    def _submit(self, cfg: Config) -> None:
        with self._cond:
            self._generation += 1
            self._request = (self._generation, cfg)
            self._cond.notify_all()
        self._show_link(cfg)
        self._show_code(cfg)

    def _cancelled(self, generation: int) -> bool:
        return self._closed or generation != self._generation

    def _work(self) -> None:
        while True:
            with self._cond:
                while self._request is None and not self._closed:
                    self._training = False
                    self._cond.notify_all()
                    self._cond.wait()
                if self._closed:
                    self._training = False
                    self._cond.notify_all()
                    return
                generation, cfg = self._request
                self._request = None
                self._training = True
            try:
                self._train(generation, cfg)
            except Exception as e:  # noqa: BLE001 - shown in the message line, logged in full
                if self._cancelled(generation):  # a config already replaced: no news for the
                    log.warning("error in an abandoned training", exc_info=e)  # one shown now
                    continue
                self._fail(e)
                self._set_status(lambda lang, c=cfg: i18n.text(
                    "status.error", lang, describe=i18n.describe(c, lang)))

    def _train(self, generation: int, cfg: Config) -> None:
        t0 = time.perf_counter()
        hit = self.cache.get(cfg) if self.cache is not None else None
        if hit is not None:  # trained before on this server: the final figure at once
            self._show(generation, hit, cfg, t0, "")
            return
        initial = inspect(cfg)
        cpu = time.thread_time()
        self._show(generation, initial, cfg, t0, "initialization")
        if self._cancelled(generation):
            return
        # at most a frame a second, and drawing at most a quarter of this thread's CPU time,
        # however busy the machine is (lab/pacing.py)
        pacer = FramePacer(DRAW_EVERY, DRAW_SHARE)
        pacer.drew(time.thread_time() - cpu)

        def on_frame(run: Run) -> None:
            self._show(generation, run, cfg, t0, "")
            if not run.finished:
                pacer.drew()

        with self._cond:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            run = train(cfg, on_frame=on_frame, cancel=lambda: self._cancelled(generation),
                        max_seconds=self.limits.max_seconds, frame_due=pacer.due)
        finally:
            with self._cond:
                self._in_flight -= 1
        if self.cache is not None:
            self.cache.put(run)  # only finished runs: not cancelled, not cut by the time limit

    def _show(self, generation: int, run: Run, cfg: Config, t0: float, stage: str) -> None:
        """Draw `run` and its status unless a newer config has been asked for since."""
        if self._cancelled(generation):
            return
        view = self.views.of(run, self.pinned)
        self._draw(view, generation)
        if self._cancelled(generation):
            return
        self.run = run
        self.progress.max = cfg.steps
        self.progress.value = 0 if stage else run.steps_done
        seconds = time.perf_counter() - t0

        def status(lang: str) -> str:
            return i18n.text(
                "status", lang, describe=i18n.describe(cfg, lang),
                state=i18n.text("status.training", lang) if stage else i18n.run_status(run, lang),
                loss=i18n.text("status.loss", lang, loss=run.loss[-1]) if len(run.loss) else "",
                device=run.device, source=i18n.text("status.cache", lang) if run.from_cache
                else "", seconds=seconds)

        self._set_status(status)
        self._verdict = view.diagnosis
        self.diagnosis.value = self._verdict_html()
        if run.finished and not stage:
            self._update_downloads(cfg)

    def _draw(self, view: FrameView, generation: int) -> None:
        with self._figure_lock:
            if generation != self._generation:
                return
            self.figure.update(view.run, pinned=view.pinned, view=view)
            png = self.figure.png()
            if generation == self._generation:
                self.image.value = png
                self.last_png = png

    def _update_downloads(self, cfg: Config) -> None:
        self._downloads_for = cfg
        png = base64.b64encode(self.last_png).decode()
        config = base64.b64encode(cfg.to_json().encode()).decode()
        self.downloads.value = (
            f'<a download="gradient-lab.png" href="data:image/png;base64,{png}">'
            f"{i18n.text('download.png', self.lang)}</a> · "
            f'<a download="gradient-lab-config.json" '
            f'href="data:application/json;base64,{config}">'
            f"{i18n.text('download.json', self.lang)}</a>")

    # ------------------------------------------------------------------ language
    def set_lang(self, lang: str) -> None:
        """Relabel the whole dashboard in `lang` ("en" or "zh") in place: same run, no retrain."""
        self.lang = lang = i18n.check_lang(lang)
        self._applying = self._relabeling = True
        try:
            self.lang_switch.value = lang
            self.lang_switch.tooltips = [i18n.text("lang.tip", lang)] * len(i18n.LANGS)
            for field, widget in self.controls.items():
                relabel(widget, field, lang)
            name = self.presets.value
            self.presets.options = self._preset_options()
            self.presets.value = name
            self.presets.description = i18n.text("preset", lang)
        finally:
            self._applying = self._relabeling = False
        for group, header in self.group_headers.items():
            header.value = self._group_html(group)
        self.pin_button.description = i18n.text("pin", lang)
        self.pin_button.tooltip = i18n.text("pin.tip", lang)
        self.unpin_button.description = i18n.text("unpin", lang)
        self.link.description = i18n.text("share", lang)
        self.link.tooltip = i18n.text("share.tip", lang)
        self.code_box.titles = (i18n.text("code.show", lang),)
        self._show_intro()
        self._show_link(self.config)
        self._show_code(self.config)
        self._show_lesson(self.presets.value)
        self._set_message(*self._messages)
        self._set_status(self._status_text)
        self.diagnosis.value = self._verdict_html()
        self.figure.set_lang(lang)  # its text too, where a font has Chinese glyphs
        self._redraw()
        if self._downloads_for is not None:
            self._update_downloads(self._downloads_for)

    def _show_intro(self) -> None:
        """Chinese: the page's introduction in Chinese, and its English paragraphs hidden
        (lab/layout.py: .lab-zh-page); English: the page as it was."""
        zh = self.page_intro and self.lang == "zh"
        self.intro.value = i18n.text("intro", self.lang) if zh else ""
        self.intro.layout.display = "" if zh else "none"
        if zh:
            self.widget.add_class("lab-zh-page")
        else:
            self.widget.remove_class("lab-zh-page")

    def _preset_options(self) -> list[tuple[str, str]]:
        lang = self.lang
        return [(i18n.text("preset.none", lang), "")] + [
            (i18n.text("preset.option", lang, name=n, title=p.title_in(lang)), n)
            for n, p in presets.PRESETS.items()]

    def _group_html(self, group: str) -> str:
        return f"<b>{_escape(group_text(group, self.lang))}</b>"

    def _show_lesson(self, name: str) -> None:
        lesson = presets.get(name).lesson_in(self.lang) if name else ""
        self.lesson.value = f"<i>{_escape(lesson)}</i>" if lesson else ""

    def _show_link(self, cfg: Config) -> None:
        """The share link: the config's query, and lang=zh when the page is in Chinese."""
        query = "&".join(filter(None, [cfg.to_query(),
                                       "" if self.lang == "en" else f"lang={self.lang}"]))
        self.link.value = "?" + query if query else i18n.text("share.defaults", self.lang)

    def _show_code(self, cfg: Config) -> None:
        self.code.value = (lab_code(cfg) + "\n\n" + i18n.text("code.torch", self.lang) + "\n"
                           + _safe(torch_code, cfg))

    def _set_message(self, *parts: Callable[[str], str]) -> None:
        """Show these message parts (each renders itself in a language), joined by " · "."""
        self._messages = list(parts)
        self.message.value = _escape(" · ".join(filter(None, (p(self.lang) for p in parts))))

    def _set_status(self, status: Callable[[str], str]) -> None:
        self._status_text = status
        self.status.value = _escape(status(self.lang))

    def _verdict_html(self) -> str:
        if self._verdict is None:
            return ""
        return i18n.text("diagnosis", self.lang, text=_escape(self._verdict.say(self.lang)))

    def _fail(self, error: Exception) -> None:
        """Log the error in full; show its first line (at most 200 characters) in the message."""
        log.exception("dashboard error", exc_info=error)
        lines = str(error).strip().splitlines()
        first = lines[0] if lines else ""
        first = first if len(first) <= 200 else first[:199] + "…"
        what = f"{type(error).__name__}: {first}" if first else type(error).__name__
        self._set_message(lambda lang: i18n.text("failed", lang, what=what))

    # ------------------------------------------------------------------ for tests and scripts
    def wait(self, timeout: float = 60.0) -> bool:
        """Block until no training is in flight; False if `timeout` seconds pass first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._training or self._request is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self) -> None:
        """Stop the worker (cancelling any training) and close the widgets."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._worker.join(timeout=10)
        self.widget.close()

    @classmethod
    def from_query(cls, query: str | None = None, **kw) -> Dashboard:
        """A Dashboard whose first config comes from a URL query (Voila's QUERY_STRING).

        Invalid fields fall back to their defaults, with a visible message naming each. The
        page's own options: view=present (projector mode), fields=depth,activation (only
        those controls) and lang=zh (Chinese); a bad one is named too, and ignored.
        """
        if query is None:
            try:  # a preheated Voila kernel learns its request (and query) only here
                from voila.utils import wait_for_request

                wait_for_request()
            except ImportError:
                pass
            query = os.environ.get("QUERY_STRING", "")
        query, view, fields, lang, page_problems = page_options(query, list(LABELS))
        cfg, problems = lenient_from_query(query)
        kw.setdefault("view", view)
        kw.setdefault("fields", fields)
        kw.setdefault("lang", lang)
        kw.setdefault("page_intro", True)
        return cls(cfg, message=problems + page_problems, **kw)


PRESENT_FIELDS = ["depth", "activation", "init", "batchnorm"]  # the page's first experiment


def lesson_fields(cfg: Config) -> list[str]:
    """The controls of a scenario: the fields it sets away from the defaults (else a few)."""
    default = Config()
    return [f for f in LABELS if getattr(cfg, f) != getattr(default, f)] or PRESENT_FIELDS


def _text(*classes: str) -> W.HTML:
    """An HTML line whose text wraps inside its column (lab/layout.py: .lab-text)."""
    widget = W.HTML()
    for name in ("lab-text", *classes):
        widget.add_class(name)
    return widget


def _box(kind, children: list, *classes: str) -> W.Widget:
    """A box of `kind` (VBox, HBox, Box) holding `children`, in the stylesheet's `classes`."""
    widget = kind(children)
    for name in classes:
        widget.add_class(name)
    return widget


def _english(text: str) -> Callable[[str], str]:
    """A message part raised in English, shown in each language (lab/i18n.py: message)."""
    return lambda lang: " · ".join(i18n.message(t, lang) for t in text.split(" · "))


def _escape(text: str) -> str:
    return html.escape(text, quote=False)


def _safe(fn, cfg: Config) -> str:
    try:
        return fn(cfg)
    except Exception as e:  # noqa: BLE001 - code export must not break the dashboard
        return f"# could not write the PyTorch code: {e}"
