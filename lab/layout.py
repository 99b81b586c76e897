"""The dashboard's layout for every screen: one stylesheet, and the page options view= /
fields= / lang=.

No widgets here (lab/ui.py places its boxes in the classes below). The layout adapts by CSS
alone, to the dashboard's own width (a container query, so a narrow notebook column counts as
narrow too): at 900 px and more the controls column (340 px) sits left of the figure column,
which stays in view while the controls scroll (position: sticky); below, the figure column
comes first and the controls follow, in as many 340 px columns as fit. Text (lesson, status,
diagnosis, messages) wraps inside its column and never widens it; the figure keeps its 16:10
aspect and fills its column's width (up to its own 1280 px outside projector mode).
`view=present` (projector mode) shows larger text and figure, hides the page's introduction
and the share/download/code extras.
"""

from __future__ import annotations

from urllib.parse import unquote_plus

from lab.fields import short as _short
from lab.i18n import LANGS

VIEWS = ("dashboard", "present")  # what view= may be
SIDE_BY_SIDE_PX = 900  # the dashboard's width from which controls and figure sit side by side

# Widget sizes are set through the variables ipywidgets' own CSS reads (--jp-widgets-*), so
# projector mode scales every control at once. `.lab-text` is any HTML line that may be long.
STYLESHEET = """
.lab-dashboard {
  container: lab-dashboard / inline-size;
  width: 100%; min-width: 0; overflow: visible;
  --jp-widgets-inline-width: 330px;
  --jp-widgets-inline-label-width: 110px;
}
.lab-dashboard .lab-main { display: flex; flex-direction: column; gap: 8px 16px;
  overflow: visible; }
.lab-dashboard .lab-figure-column, .lab-dashboard .lab-controls { min-width: 0; max-width: 100%;
  overflow: visible; }
.lab-dashboard .lab-controls { flex-flow: row wrap; align-content: flex-start;
  align-items: flex-start; gap: 0 24px; }
.lab-dashboard .lab-controls > * { flex: 0 1 auto; max-width: 100%; }
.lab-dashboard .lab-controls > .lab-wide { flex: 1 0 100%; }
.lab-dashboard .lab-group { width: 340px; max-width: 100%; overflow: visible; }
.lab-dashboard .lab-text, .lab-dashboard .lab-text > .widget-html-content {
  white-space: normal; overflow-wrap: anywhere; line-height: 1.45; height: auto;
  min-width: 0; max-width: 100%;
}
.lab-dashboard .lab-text > .widget-html-content { padding: 2px 0; }
.lab-dashboard .lab-figure { display: block; width: 100%; max-width: 1280px; height: auto;
  aspect-ratio: 16 / 10; object-fit: contain; }
.lab-dashboard .widget-inline-hbox { max-width: 100%; }
.lab-dashboard .lab-lang .widget-toggle-button { width: auto; padding: 0 12px; }
@container lab-dashboard (min-width: 900px) {
  .lab-dashboard .lab-main { flex-direction: row-reverse; align-items: flex-start; }
  .lab-dashboard .lab-figure-column { flex: 1 1 0; position: sticky; top: 0; z-index: 1;
    background: var(--jp-layout-color0, white); }
  .lab-dashboard .lab-controls { flex: 0 0 340px; }
}
/* Voila: let the page scroll the figure column along (sticky needs no scrolling box between
   it and the page), and no horizontal scrolling of the output area. */
.jp-OutputArea:has(.lab-dashboard), .jp-OutputArea-child:has(.lab-dashboard),
.jp-OutputArea-output:has(.lab-dashboard) { overflow: visible; }
.jp-OutputArea-output:has(.lab-dashboard) { width: 100%; }

/* Projector mode: text readable from the back of a room, the figure as large as the screen
   allows, only this lesson step's controls (lab/ui.py hides the others). */
.lab-dashboard.lab-present {
  --jp-widgets-font-size: 20px;
  --jp-widgets-inline-height: 40px;
  --jp-widgets-inline-width: 100%;
  --jp-widgets-inline-label-width: 150px;
  --jp-widgets-slider-handle-size: 24px;
  font-size: 20px;
}
.lab-present .lab-text, .lab-present .lab-text > .widget-html-content,
.lab-present .widget-label, .lab-present .widget-readout, .lab-present select,
.lab-present input, .lab-present button { font-size: 20px; }
.lab-present .lab-figure { max-width: min(100%, calc((100vh - 120px) * 1.6)); }
.lab-present .lab-extra { display: none; }
body.jp-Notebook:has(.lab-present) .jp-MarkdownCell { display: none; }

/* The page in Chinese (lang=zh): the dashboard shows the introduction in Chinese, and the
   page's English paragraphs (notebooks/dashboard.ipynb) are hidden; its title stays. */
body:has(.lab-zh-page) .jp-MarkdownCell p { display: none; }
"""


def style_html() -> str:
    """The stylesheet as the value of an ipywidgets HTML widget (shown once per dashboard)."""
    return f"<style>{STYLESHEET}</style>"


def page_options(query: str, controls: list[str]
                 ) -> tuple[str, str, list[str] | None, str, list[str]]:
    """Split the page's own options off a URL query:
    (the config part, view, fields, lang, problems).

    view= is "dashboard" or "present"; fields= names the controls shown, comma-separated (any
    of `controls`); lang= is "en" or "zh" (lab/i18n.py). A bad value is named in `problems`
    with what is allowed, and ignored: view falls back to the dashboard, fields to every
    control (or to the valid names given), lang to English.
    """
    rest: list[str] = []
    chosen = {"view": "dashboard", "lang": "en"}  # the choice options and what they fall back to
    allowed = {"view": (VIEWS, "showing the dashboard"), "lang": (LANGS, "showing English")}
    fields, problems = None, []
    seen: set[str] = set()
    for part in str(query).lstrip("?")[:4096].split("&"):
        key, _, text = part.partition("=")
        try:
            key, text = unquote_plus(key), unquote_plus(text)
        except ValueError:  # not understood: lenient_from_query names it
            rest.append(part)
            continue
        if key not in ("view", "fields", "lang"):
            rest.append(part)
        elif key in seen:
            problems.append(f"{key}={_short(text)}: ignored, {key} is given more than once")
        elif key in allowed:
            seen.add(key)
            values, fallback = allowed[key]
            if text in values:
                chosen[key] = text
            else:
                problems.append(f"{key}={_short(text)}: must be one of {', '.join(values)}; "
                                f"{fallback}")
        else:
            seen.add(key)
            names = [n.strip() for n in text.split(",") if n.strip()]
            unknown = [n for n in names if n not in controls]
            fields = list(dict.fromkeys(n for n in names if n in controls)) or None
            if unknown or not names:
                shown = ", ".join(_short(n[:40]) for n in unknown[:5]) or "no control"
                problems.append(f"fields={_short(text)}: {shown} is not a control (controls: "
                                f"{', '.join(controls)}); "
                                + ("showing the others" if fields else "showing all controls"))
    return "&".join(p for p in rest if p), chosen["view"], fields, chosen["lang"], problems
