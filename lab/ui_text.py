"""The dashboard's texts and HTML snippets, in a language: no widgets, no drawing."""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from lab import i18n, presets
from lab.config import Config
from lab.export import lab_code, torch_code

if TYPE_CHECKING:
    from lab.diagnosis import Diagnosis

LangText = Callable[[str], str]  # a text that renders itself in a language ("en", "zh")


def escape(text: str) -> str:
    """`text` safe inside an HTML widget (quotes left alone)."""
    return html.escape(text, quote=False)


def english(text: str) -> LangText:
    """A message part raised in English, shown in each language (lab/i18n.py: message)."""
    return lambda lang: " · ".join(i18n.message(t, lang) for t in text.split(" · "))


def messages_html(parts: Sequence[LangText], lang: str) -> str:
    """Message parts rendered in `lang`, joined by " · ", escaped."""
    return escape(" · ".join(filter(None, (p(lang) for p in parts))))


def preset_options(lang: str) -> list[tuple[str, str]]:
    """The preset list's (label, name) pairs, "none" first."""
    return [(i18n.text("preset.none", lang), "")] + [
        (i18n.text("preset.option", lang, name=n, title=p.title_in(lang)), n)
        for n, p in presets.PRESETS.items()]


def lesson_html(name: str, lang: str) -> str:
    """The one-sentence lesson of preset `name` in italics ("" for none)."""
    lesson = presets.get(name).lesson_in(lang) if name else ""
    return f"<i>{escape(lesson)}</i>" if lesson else ""


def link_text(cfg: Config, lang: str) -> str:
    """The share link: the config's query, and lang=zh when the page is in Chinese."""
    query = "&".join(filter(None, [cfg.to_query(), "" if lang == "en" else f"lang={lang}"]))
    return "?" + query if query else i18n.text("share.defaults", lang)


def code_text(cfg: Config, lang: str) -> str:
    """The lab code of `cfg` and its plain PyTorch translation (or why it could not be written)."""
    return lab_code(cfg) + "\n\n" + i18n.text("code.torch", lang) + "\n" + _safe(torch_code, cfg)


def verdict_html(verdict: Diagnosis | None, lang: str) -> str:
    """The diagnosis line ("" before the first frame)."""
    if verdict is None:
        return ""
    return i18n.text("diagnosis", lang, text=escape(verdict.say(lang)))


def downloads_html(png: bytes, cfg: Config, lang: str) -> str:
    """Two download links: the figure as PNG and the config as JSON, as data: URLs."""
    image = base64.b64encode(png).decode()
    config = base64.b64encode(cfg.to_json().encode()).decode()
    return (f'<a download="gradient-lab.png" href="data:image/png;base64,{image}">'
            f"{i18n.text('download.png', lang)}</a> · "
            f'<a download="gradient-lab-config.json" '
            f'href="data:application/json;base64,{config}">'
            f"{i18n.text('download.json', lang)}</a>")


def _safe(fn: Callable[[Config], str], cfg: Config) -> str:
    try:
        return fn(cfg)
    except Exception as e:  # noqa: BLE001 - code export must not break the dashboard
        return f"# could not write the PyTorch code: {e}"
