"""The dashboard's widgets: built once, placed by lab/layout.py's stylesheet, relabelled in place.

DashboardLayout holds the widgets and what they show; lab/ui.py's Dashboard wires their events
to a TrainingSession (lab/session.py). Texts come from lab/ui_text.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets as W

from lab import i18n, ui_text
from lab.config import Config
from lab.controls import GROUPS, LABELS, group_text, make_control, relabel, show_value
from lab.layout import style_html
from lab.ui_text import LangText, escape

if TYPE_CHECKING:
    from lab.diagnosis import Diagnosis


class DashboardLayout:
    """Controls, preset list, status, figure, diagnosis, pin/share/export, language switch."""

    def __init__(self, config: Config, fields: list[str] | None, view: str, lang: str,
                 page_intro: bool):
        self.view, self.lang, self.page_intro = view, i18n.check_lang(lang), page_intro
        self._messages: list[LangText] = []
        self._downloads_for: Config | None = None
        self._applying = False  # set while code (preset, query) sets several controls
        self._relabeling = False  # set while set_lang relabels the preset list
        self.controls: dict[str, W.Widget] = {}
        for field in fields if fields is not None else list(LABELS):
            self.controls[field] = widget = make_control(field, getattr(Config(), field),
                                                         self.lang)
            show_value(widget, getattr(config, field))
        self._build_widgets(config, fields is None)
        self.show_intro()

    def _build_widgets(self, config: Config, full: bool) -> None:
        """Boxes in the classes lab/layout.py's stylesheet places: figure column, controls."""
        self.status = _text("lab-status")
        self.progress = W.IntProgress(min=0, max=config.steps, layout=W.Layout(width="99%"))
        self.image = W.Image(format="png")
        self.image.add_class("lab-figure")
        self.diagnosis = _text("lab-diagnosis")
        self.message = _text("lab-message")
        self.lesson = _text("lab-lesson", "lab-wide")
        lang = self.lang
        self.presets = W.Dropdown(options=ui_text.preset_options(lang), value="",
                                  description=i18n.text("preset", lang))
        self.presets.add_class("lab-presets")
        self.pin_button = W.Button(description=i18n.text("pin", lang), icon="thumb-tack",
                                   tooltip=i18n.text("pin.tip", lang))
        self.unpin_button = W.Button(description=i18n.text("unpin", lang), disabled=True)
        self.link = W.Text(description=i18n.text("share", lang), layout=W.Layout(width="99%"),
                           tooltip=i18n.text("share.tip", lang))
        self.link.add_class("lab-link")
        self.downloads = _text("lab-downloads")
        self.code = W.Textarea(layout=W.Layout(width="99%", height="260px"))
        self.code_box = W.Accordion(children=[self.code], titles=(i18n.text("code.show", lang),))
        self.code_box.selected_index = None
        self.lang_switch = W.ToggleButtons(
            options=[(name, code) for code, name in i18n.LANG_NAMES.items()], value=lang,
            tooltips=[i18n.text("lang.tip", lang)] * len(i18n.LANGS))
        self.lang_switch.add_class("lab-lang")
        self.group_headers: dict[str, W.HTML] = {}
        self.intro = _text("lab-intro", "lab-extra")  # the page's introduction, in Chinese
        self.widget = _arrange(self, full)

    def _repr_mimebundle_(self, **kwargs) -> dict:
        """The widget, with a plain-text form that does not change as training runs."""
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = f"Gradient Lab dashboard: {', '.join(self.controls)}"
        return bundle

    def relabel(self, lang: str) -> None:
        """Every label, tooltip and list in `lang`; the values the controls hold stay."""
        self.lang = lang
        self._applying = self._relabeling = True
        try:
            self.lang_switch.value = lang
            self.lang_switch.tooltips = [i18n.text("lang.tip", lang)] * len(i18n.LANGS)
            for field, widget in self.controls.items():
                relabel(widget, field, lang)
            name = self.presets.value
            self.presets.options = ui_text.preset_options(lang)
            self.presets.value = name
            self.presets.description = i18n.text("preset", lang)
        finally:
            self._applying = self._relabeling = False
        for group, header in self.group_headers.items():
            header.value = _group_html(group, lang)
        self.pin_button.description = i18n.text("pin", lang)
        self.pin_button.tooltip = i18n.text("pin.tip", lang)
        self.unpin_button.description = i18n.text("unpin", lang)
        self.link.description = i18n.text("share", lang)
        self.link.tooltip = i18n.text("share.tip", lang)
        self.code_box.titles = (i18n.text("code.show", lang),)
        self.show_intro()
        self.show_lesson(self.presets.value)
        self.set_message(*self._messages)

    def show_only(self, fields: list[str]) -> None:
        """Projector mode: show these controls, hide the others."""
        for field, widget in self.controls.items():
            widget.layout.display = "" if field in fields else "none"

    def show_controls(self, cfg: Config) -> None:
        """Set every control to `cfg`'s value without firing the controls' events."""
        self._applying = True
        try:
            for field, widget in self.controls.items():
                show_value(widget, getattr(cfg, field))
        finally:
            self._applying = False

    def show_intro(self) -> None:
        """Chinese: the page's introduction in Chinese, and its English paragraphs hidden
        (lab/layout.py: .lab-zh-page); English: the page as it was."""
        zh = self.page_intro and self.lang == "zh"
        self.intro.value = i18n.text("intro", self.lang) if zh else ""
        self.intro.layout.display = "" if zh else "none"
        if zh:
            self.widget.add_class("lab-zh-page")
        else:
            self.widget.remove_class("lab-zh-page")

    def show_lesson(self, name: str) -> None:
        """The lesson sentence of preset `name` ("": none)."""
        self.lesson.value = ui_text.lesson_html(name, self.lang)

    def show_config(self, cfg: Config) -> None:
        """The share link and the code of `cfg`."""
        self.link.value = ui_text.link_text(cfg, self.lang)
        self.code.value = ui_text.code_text(cfg, self.lang)

    def show_downloads(self, cfg: Config, png: bytes) -> None:
        """Download links for this figure and `cfg`."""
        self._downloads_for = cfg
        self.downloads.value = ui_text.downloads_html(png, cfg, self.lang)

    def show_progress(self, done: int, steps: int) -> None:
        """The progress bar at `done` of `steps`."""
        self.progress.max = steps
        self.progress.value = done

    def show_texts(self, status: LangText, verdict: Diagnosis | None) -> None:
        """The status line and the diagnosis, in the dashboard's language."""
        self.status.value = escape(status(self.lang))
        self.diagnosis.value = ui_text.verdict_html(verdict, self.lang)

    def set_message(self, *parts: LangText) -> None:
        """Show these message parts (each renders itself in a language), joined by " · "."""
        self._messages = list(parts)
        self.message.value = ui_text.messages_html(parts, self.lang)



def _arrange(ui: DashboardLayout, full: bool) -> W.Box:
    """The page: the figure column and the controls column (full: presets, pin, share, code)."""
    left: list[W.Widget] = [ui.presets, ui.lesson] if full else []
    if ui.view == "present":  # one short list: this lesson step's controls
        left.append(_box(W.VBox, list(ui.controls.values()), "lab-group"))
    else:
        for group in GROUPS:
            members = [w for f, w in ui.controls.items() if LABELS[f][0] == group]
            if members:
                header = ui.group_headers[group] = W.HTML(_group_html(group, ui.lang))
                left.append(_box(W.VBox, [header, *members], "lab-group"))
    if full:
        left.append(_box(W.HBox, [ui.pin_button, ui.unpin_button]))
        left += [_box(W.VBox, [ui.link, ui.downloads], "lab-extra", "lab-wide")]
    right = [ui.status, ui.progress, ui.message, ui.image, ui.diagnosis]
    if full:
        right.append(_box(W.VBox, [ui.code_box], "lab-extra"))
    # the figure column first: it stays first when the columns stack on a narrow screen
    main = _box(W.Box, [_box(W.VBox, right, "lab-figure-column"),
                        _box(W.VBox, left, "lab-controls")], "lab-main")
    ui.style = W.HTML(style_html(), layout=W.Layout(display="none"))  # applies anyway
    top = [_box(W.HBox, [ui.lang_switch], "lab-top")] if full else []
    if full and ui.page_intro:
        top.append(ui.intro)
    return _box(W.VBox, [ui.style, *top, main], "lab-dashboard",
                *(["lab-present"] if ui.view == "present" else []))


def _group_html(group: str, lang: str) -> str:
    return f"<b>{escape(group_text(group, lang))}</b>"


def _text(*classes: str) -> W.HTML:
    """An HTML line whose text wraps inside its column (lab/layout.py: .lab-text)."""
    widget = W.HTML()
    for name in ("lab-text", *classes):
        widget.add_class(name)
    return widget


def _box(kind: Any, children: list, *classes: str) -> W.Widget:
    """A box of `kind` (VBox, HBox, Box) holding `children`, in the stylesheet's `classes`."""
    widget = kind(children)
    for name in classes:
        widget.add_class(name)
    return widget
