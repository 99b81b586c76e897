"""The dashboard's languages: English (the source) and Chinese (中文): the lookups.

`text(key, lang, **values)` returns the string of `key` in `lang` with `values` filled in, from
the tables of lab/i18n_strings.py (EN, ZH). The English strings of the controls
(lab/controls.py LABELS), of the verdict (lab/diagnosis.py) and of the presets (lab/presets.py)
stay where they are; those tables hold their Chinese and the dashboard's own strings in both
languages. Messages that other modules raise in English (a bad query value, a config that does
not go together, a run over the limits) are translated here by pattern (`message`, patterns in
lab/i18n_patterns.py), so config.py and limits.py keep one language; so are the figure's texts
(`figure_text`). Pure Python: no widgets, no plotting.
"""

from __future__ import annotations

from typing import Any

from lab.i18n_patterns import FIGURE_PATTERNS, FIGURE_ZH, MESSAGES, SUFFIXES
from lab.i18n_strings import EN, ZH

__all__ = ["EN", "FIGURE_ZH", "LANGS", "LANG_NAMES", "ZH", "check_lang", "describe",
           "figure_text", "message", "option_label", "run_status", "text", "translate"]

LANGS = ("en", "zh")  # what lang= may be
LANG_NAMES = {"en": "English", "zh": "中文"}  # each in its own language: the switch's labels


def check_lang(lang: str) -> str:
    """`lang` if it is one of LANGS; ValueError naming it and what is allowed otherwise."""
    if lang not in LANGS:
        raise ValueError(f"lang={lang!r}: must be one of {', '.join(LANGS)}")
    return lang


def text(key: str, lang: str = "en", en: str | None = None, **values: Any) -> str:
    """The string `key` in `lang` (English: EN[key], or `en` where the English lives
    elsewhere), with `values` filled in by str.format."""
    if lang == "zh" and key in ZH:
        template = ZH[key]
    elif en is not None:
        template = en
    else:
        template = EN[key]
    return template.format(**values) if values else template


def option_label(field: str, value: str, lang: str) -> str:
    """How a dropdown shows the choice `value` of `field`: English shows the value itself."""
    return text(f"option.{field}.{value}", lang, en=str(value)) if lang == "zh" else str(value)


def run_status(run: Any, lang: str = "en") -> str:
    """Run.status() in `lang`: how the run ended (or where it is), and which weights are shown."""
    if lang != "zh":
        return run.status()
    cfg = run.config
    if run.at_init and run.diverged_at is None:
        outcome = text("run.init", lang)
    elif run.diverged_at is not None:
        outcome = text("run.diverged", lang, step=run.diverged_at)
    elif run.stopped_early_at is not None:
        outcome = text("run.stopped_early", lang, step=run.stopped_early_at)
    elif run.time_limited_at is not None:
        outcome = text("run.time_limit", lang, limit=run.time_limit, step=run.time_limited_at)
    elif run.cancelled:
        outcome = text("run.cancelled", lang, step=run.steps_done, steps=cfg.steps)
    elif not run.finished:
        outcome = text("run.step", lang, step=run.steps_done, steps=cfg.steps)
    else:
        outcome = text("run.finished", lang, step=run.steps_done)
    if run.restored_from is None:
        return outcome
    return text("run.restored", lang, outcome=outcome, step=run.restored_from)


def describe(cfg: Any, lang: str = "en") -> str:
    """The config in one status line: depth, width, activation, init, optimizer and rate."""
    return text("describe", lang, depth=cfg.depth, width=cfg.width, activation=cfg.activation,
                init=cfg.init, init_gain=cfg.init_gain, optimizer=cfg.optimizer, lr=cfg.lr)




def message(english: str, lang: str = "en") -> str:
    """A message raised in English (bad query value, bad combination, limits), in `lang`.

    A message no pattern knows is shown in English after a Chinese lead-in, so the page never
    shows a message a Chinese reader cannot place (tests/test_i18n.py checks the known ones).
    """
    if lang != "zh" or not english:
        return english
    head, tail = english, ""
    for en, zh in SUFFIXES:  # the config parser's "...; using the default depth"
        if en in head:
            head, rest = head.split(en, 1)
            tail = zh + rest + tail
            break
    zh = translate(head)
    return (zh if zh is not None else f"输入有误（英文原文）：{head}") + tail


def translate(english: str) -> str | None:
    """The Chinese of one known English message, or None if no pattern matches it."""
    for pattern, zh in MESSAGES:
        m = pattern.match(english)
        if m:
            return zh(m) if callable(zh) else zh.format(**m.groupdict())
    return None


def figure_text(english: str, lang: str = "en") -> str:
    """One text of the figure in `lang`; a text no entry knows (numbers, L1) stays as it is.

    Texts joined by " · " or "; " (a layer's label, a status) are translated part by part.
    """
    if lang != "zh" or not english:
        return english
    if english in FIGURE_ZH:
        return FIGURE_ZH[english]
    for sep, zh_sep in (("  ·  ", "  ·  "), (" · ", " · "), ("; ", "；")):
        if sep in english:
            return zh_sep.join(figure_text(part, lang) for part in english.split(sep))
    for pattern, zh in FIGURE_PATTERNS:
        m = pattern.match(english)
        if m:
            return zh.format(*m.groups())
    return english
