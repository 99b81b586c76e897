"""The dashboard in Chinese (lang=zh): no visible string left in English, English unchanged.

The walks below collect what a browser shows of a widget tree (descriptions, tooltips, option
labels, titles, the values of HTML/Label lines with their tags stripped), skipping hidden
subtrees; every string must hold Chinese characters or consist only of ALLOWED tokens.
"""

import dataclasses
import html
import os
import re

import ipywidgets as W
import numpy as np
import pytest

import lab
import lab.plots
from lab import i18n, presets
from lab.config import FIELD_NAMES, Config, lenient_from_query
from lab.diagnosis import diagnose
from lab.figure_style import cjk_font, figure_texts
from lab.layout import page_options, style_html
from lab.limits import Limits
from lab.plots import DashboardFigure
from lab.ui import LABELS, Dashboard

FAST = lab.Config(steps=30, n_samples=300, width=16, depth=4)
CJK = re.compile(r"[\u4e00-\u9fff]")
# Tokens a Chinese page shows as they are: the switch's own label for English readers, and
# activation functions by the names students meet in code and papers (their Chinese texts say
# "ReLU", "sigmoid" too). Numbers and symbols are not tokens (see `_ok`).
ALLOWED = {"English", "ReLU", "Leaky", "GELU", "SELU", "sigmoid", "tanh"}
NUMBER = r"\d+(?:[.,]\d+)*(?:e-?\d+)?"
UNTRANSLATED = "英文原文"  # i18n.message's lead-in for a message no pattern knows


def visible_texts(widget) -> list[str]:
    """Every text a browser shows of `widget` and its children, hidden subtrees skipped.

    Not collected: the values of Text/Textarea boxes (the share link is an address, the code
    box holds Python) and of sliders and number boxes (numbers).
    """
    if getattr(widget, "layout", None) is not None and widget.layout.display == "none":
        return []
    found = [getattr(widget, a, None) for a in ("description", "tooltip")]
    if isinstance(widget, (W.HTML, W.Label, W.HTMLMath)):
        found.append(widget.value)
    if isinstance(widget, (W.Dropdown, W.ToggleButtons, W.Select, W.RadioButtons)):
        found += list(widget._options_labels)
    if isinstance(widget, W.ToggleButtons):
        found += list(widget.tooltips)
    if isinstance(widget, (W.Accordion, W.Tab)):
        found += list(widget.titles)
    own = [_plain(t) for t in found if isinstance(t, str) and _plain(t)]
    return own + [t for child in getattr(widget, "children", ()) for t in visible_texts(child)]


def _plain(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


def _ok(text: str) -> bool:
    """Chinese, or only allowed tokens (words of letters) between numbers and symbols."""
    return bool(CJK.search(text)) or set(re.findall(r"[A-Za-z_]+", text)) <= ALLOWED


def assert_all_chinese(d: Dashboard) -> list[str]:
    texts = visible_texts(d.widget)
    missed = [t for t in texts if not _ok(t) or UNTRANSLATED in t]
    assert not missed, missed
    return texts


def test_the_whole_dashboard_after_a_run_is_chinese():
    d = Dashboard(FAST, lang="zh", cache=None)
    try:
        assert d.wait(120) and d.run.finished
        texts = assert_all_chinese(d)
        # the walk saw what it must: every control's label and tooltip, the filled lines
        for _, label, _ in LABELS.values():
            assert i18n.ZH[f"control.{label}"] in texts and i18n.ZH[f"tip.{label}"] in texts
        assert any(t.startswith("诊断：") for t in texts)
        assert any("已完成 30 步" in t for t in texts)  # the status line
        assert any(t.startswith("下载图像 (PNG)") for t in texts)
        assert d.link.value == "?" + FAST.to_query() + "&lang=zh"
        d.presets.value = "tanh-saturation"  # a lesson line too (its run: not waited for)
        assert presets.ZH["tanh-saturation"][1] in visible_texts(d.widget)
        assert_all_chinese(d)
    finally:
        d.close()


def test_a_diverging_preset_reads_in_chinese():
    d = Dashboard(FAST, lang="zh", cache=None)
    try:
        assert d.wait(120)
        d.presets.value = "exploding-init"
        assert d.wait(120) and d.run.diverged_at is not None
        assert f"在第 {d.run.diverged_at} 步发散" in d.status.value
        assert d.diagnosis.value.startswith(f"<b>诊断：</b>在第 {d.run.diverged_at} 步发散")
        assert_all_chinese(d)
    finally:
        d.close()


def test_bad_query_values_are_named_in_chinese():
    query = ("lang=zh&view=present&fields=depth,bogus&depth=abc&lr=0&activation=swish"
             "&residual=maybe&colour=red&depth=3")
    d = Dashboard.from_query(query, autostart=False)
    try:
        assert d.lang == "zh" and d.view == "present" and list(d.controls) == ["depth"]
        message = d.message.value
        for part in ("depth='abc'", "lr=0.0", "activation='swish'", "residual='maybe'",
                     "'colour'", "fields='depth,bogus'", "bogus"):
            assert part in message, part
        assert "必须是" in message and "未知的配置字段" in message and "不是控件" in message
        assert_all_chinese(d)
    finally:
        d.close()
    d = Dashboard.from_query("lang=fr&depth=4", autostart=False)  # a bad lang: English
    try:
        assert d.lang == "en" and d.config.depth == 4
        assert "lang='fr': must be one of en, zh; showing English" in d.message.value
    finally:
        d.close()


def test_page_options_read_lang():
    assert page_options("lang=zh&depth=3", list(LABELS)) == ("depth=3", "dashboard", None, "zh",
                                                             [])
    rest, _, _, lang, problems = page_options("lang=en&lang=zh", list(LABELS))
    assert (rest, lang) == ("", "en") and problems == [
        "lang='zh': ignored, lang is given more than once"]
    with pytest.raises(ValueError, match="lang='de': must be one of en, zh"):
        Dashboard(FAST, lang="de", autostart=False)


def test_projector_and_lesson_views_in_chinese():
    for d in (Dashboard.from_query("lang=zh&view=present&depth=30&activation=sigmoid",
                                   autostart=False),
              Dashboard(FAST, fields=["depth", "activation", "optimizer"], lang="zh",
                        autostart=False)):
        try:
            assert_all_chinese(d)
        finally:
            d.close()
    d = Dashboard(FAST, lang="zh", view="present", autostart=False)
    try:
        d.presets.value = "vanishing-sigmoid"
        assert_all_chinese(d)
    finally:
        d.close()


def test_switching_language_relabels_in_place_without_retraining():
    d = Dashboard(FAST, cache=None)
    try:
        assert d.wait(120)
        d.controls["activation"].value = "tanh"  # a changed control survives both switches
        assert d.wait(120)
        english, run, png, config = visible_texts(d.widget), d.run, d.image.value, d.config
        generation = d._generation
        d.lang_switch.value = "zh"  # what a click on 中文 does
        assert d.lang == "zh" and d.wait(120)
        assert (d.run, d.config, d._generation) == (run, config, generation)
        assert d.image.value != png and d.figure.lang == "zh"  # the figure redrawn in Chinese
        assert d.controls["activation"].value == "tanh" and d.controls["init"].value == FAST.init
        zh = assert_all_chinese(d)
        fresh = Dashboard(config, lang="zh", autostart=False)
        try:  # every label of a page opened in Chinese (which has no run yet to describe)
            assert set(visible_texts(fresh.widget)) <= set(zh)
        finally:
            fresh.close()
        assert d.link.value.endswith("&lang=zh")
        d.set_lang("en")
        assert visible_texts(d.widget) == english and d._generation == generation
        assert d.image.value == png and d.run is run  # the very figure it showed before
        assert d.link.value == "?" + config.to_query()
    finally:
        d.close()


def test_every_preset_has_a_chinese_title_and_one_sentence_lesson_with_its_numbers():
    assert set(presets.ZH) == set(presets.PRESETS)
    for name, preset in presets.PRESETS.items():
        title, lesson = preset.title_in("zh"), preset.lesson_in("zh")
        assert CJK.search(title) and CJK.search(lesson), name
        assert lesson.count("。") == 1 and lesson.endswith("。"), name  # one sentence
        assert _numbers(lesson) == _numbers(preset.lesson), name  # the claim's own numbers
        assert preset.title_in("en") == preset.title and preset.lesson_in("en") == preset.lesson


def _numbers(text: str) -> list[str]:
    return sorted(re.findall(NUMBER, text))


@pytest.fixture(scope="module")
def at_init() -> lab.Run:
    return lab.inspect(Config(depth=6, width=8, n_samples=120, steps=60))


def _finished(run: lab.Run, acc, **arrays) -> lab.Run:
    """`run` as a finished training whose evaluations scored `acc`, with `arrays` replaced."""
    rows = {k: np.vstack([run.__dict__[k][0], v]) for k, v in arrays.items()}
    for k in ("act_mean", "act_std", "act_saturated", "act_dead", "act_grad_std"):
        rows.setdefault(k, np.vstack([run.__dict__[k][0], run.__dict__[k][0]]))
    acc = np.broadcast_to(acc, 3).astype(float)
    return dataclasses.replace(
        run, at_init=False, finished=True, recorded_steps=np.array([0, 59]),
        loss=np.full(60, 1.0), val_steps=np.array([0, 20, 40, 60]),
        val_acc=np.array([1 / 3, *acc]), val_loss=np.array([1.1, 1.0, 1.0, 1.0]),
        train_acc=np.array([1 / 3, *acc]), **rows)


def test_every_verdict_kind_and_stage_reads_in_chinese_with_the_same_numbers(at_init):
    depth, cfg = at_init.depth, at_init.config
    flat = np.ones(depth)
    dead = flat * 0.0
    dead[2:] = 1.0
    tanh = dataclasses.replace(at_init, config=cfg.replace(activation="tanh"))
    bn = dataclasses.replace(at_init, config=cfg.replace(batchnorm="before"))
    runs = {
        "empty": dataclasses.replace(at_init, act_grad_std=np.empty((0, depth))),
        "at init": at_init,
        "early": dataclasses.replace(at_init, at_init=False, finished=False, loss=np.ones(6)),
        "healthy": _finished(at_init, 0.97, act_grad_std=np.geomspace(2.0, 1.0, depth)),
        "so far": dataclasses.replace(_finished(at_init, 0.97), finished=False),
        "lately": _finished(at_init, [0.95, 0.95, 0.78]),
        "one layer": lab.inspect(Config(depth=1, width=8, n_samples=120)),
        "stuck": _finished(at_init, 0.3),
        "slow": _finished(at_init, 0.6),
        "diverged": dataclasses.replace(_finished(at_init, 0.3), diverged_at=17),
        "diverged at init": dataclasses.replace(
            _finished(at_init, 0.3, act_grad_std=np.geomspace(1e4, 1.0, depth)),
            act_grad_std=np.geomspace(1e4, 1.0, depth)[None], diverged_at=2,
            config=cfg.replace(init_gain=2.0)),
        "symmetric": dataclasses.replace(at_init, act_std=np.zeros_like(at_init.act_std)),
        "dead": _finished(at_init, 0.3, act_dead=dead),
        "saturated": _finished(tanh, 0.6, act_saturated=np.r_[0.1, flat[1:] * 0.8]),
        "vanishing": _finished(at_init, 0.3, act_grad_std=np.geomspace(1e-5, 1.0, depth)),
        "learns but": _finished(at_init, 0.97, act_grad_std=np.geomspace(1e-5, 1.0, depth)),
        "exploding": dataclasses.replace(at_init, act_grad_std=np.geomspace(300.0, 1, depth)[None]),
        "exploding with bn": dataclasses.replace(
            bn, act_grad_std=np.geomspace(1e4, 1, depth)[None]),
        "growth by design": dataclasses.replace(
            bn, act_grad_std=np.geomspace(300.0, 1, depth)[None]),
        "linear at init": dataclasses.replace(at_init, config=cfg.replace(activation="linear")),
        "linear": _finished(dataclasses.replace(at_init, config=cfg.replace(activation="linear")),
                            0.4, act_dead=np.full(depth, np.nan)),
    }
    kinds = set()
    for name, run in runs.items():
        verdict = diagnose(run)
        zh = verdict.say("zh")
        kinds.add(verdict.kind)
        assert diagnose(run, "zh").text == zh and diagnose(run, "en").text == verdict.text
        assert CJK.search(zh) and zh.endswith("。"), (name, zh)
        words = set(re.findall(r"[A-Za-z_]+", re.sub(NUMBER, " ", zh)))
        assert words <= {"ReLU", "leaky", "tanh", "inf", "NaN", "He", "Xavier", "x"}, (name, zh)
        assert _numbers(zh) == _numbers(verdict.text), (name, verdict.text, zh)
    assert kinds == {"diverged", "symmetric", "dead", "saturated", "vanishing", "exploding",
                     "linear", "stuck", "slow", "healthy", "empty"}


def test_every_message_the_page_can_show_is_known_in_chinese():
    bad = {"bool": "maybe", "str": "nonsense", "int": "-7", "float": "-1"}
    kinds = {f.name: f.type for f in dataclasses.fields(Config)}
    messages = []
    for field in sorted(FIELD_NAMES):
        for value in (bad[kinds[field]], "abc", "1e999"):
            messages += lenient_from_query(f"{field}={value}")[1]
    messages += lenient_from_query("depth=3&depth=4&colour=red&size=2")[1]
    messages += lenient_from_query("arch=cnn")[1]
    messages += lenient_from_query("batchnorm=before&batch_size=1")[1]
    messages += lenient_from_query("restore_best=true")[1]
    messages += page_options("view=big&fields=x&fields=y&lang=fr", list(LABELS))[4]
    messages.append(Limits().refusal(Config(depth=100, width=1024, steps=5000)))
    assert len(messages) > 3 * len(FIELD_NAMES)
    for english in messages:
        zh = i18n.message(english, "zh")
        assert UNTRANSLATED not in zh and CJK.search(zh), english
        assert i18n.message(english, "en") == english
    assert [i18n.message(m, "zh") for m in messages[-5:-1]] == [
        "view='big'：必须是以下之一：dashboard, present；显示普通仪表盘",
        "fields='x'：'x' 不是控件（控件有：" + ", ".join(LABELS) + "）；显示全部控件",
        "fields='y'：已忽略，fields 给出了不止一次",
        "lang='fr'：必须是以下之一：en, zh；显示英文"]
    limit = i18n.message(messages[-1], "zh")
    assert limit.startswith("对这台服务器来说太大了：深度 100 x 宽度 1024 x 5000 步")


def test_the_figure_speaks_chinese_where_a_font_has_the_glyphs(monkeypatch, capsys):
    run = lab.train(FAST.replace(activation="tanh", dropout=0.1, clip="norm"))
    if os.environ.get("CI"):  # .ci/run installs fonts-wqy-microhei
        assert cjk_font() is not None
    figure = DashboardFigure(lang="zh")
    figure.update(run, pinned=run)
    if cjk_font() is None:  # no Chinese glyphs here: English, and a note saying why
        assert figure.lang == "en" and "no font with Chinese glyphs" in capsys.readouterr().out
        return
    texts = [t.get_text() for t in figure_texts(figure.fig) if t.get_text()]
    assert len(texts) > 25
    missed = [t for t in texts if not CJK.search(t)
              and not set(re.findall(r"[A-Za-z_]+", re.sub(NUMBER, " ", t))) <= {"L"}]
    assert not missed, missed
    assert figure.verdict.get_text().replace("\n", "") == diagnose(run).say("zh")
    assert all(cjk_font() in t.get_fontfamily() for t in figure_texts(figure.fig)
               if CJK.search(t.get_text()))
    figure.set_lang("en")  # and back: the English figure as it was
    figure.update(run, pinned=run)
    english = DashboardFigure()
    english.update(run, pinned=run)
    assert figure.png() == english.png()
    monkeypatch.setattr(lab.plots, "cjk_font", lambda: None)  # a machine without the font
    monkeypatch.setattr(DashboardFigure, "_noted", False, raising=False)
    capsys.readouterr()
    fallback = DashboardFigure(lang="zh")
    assert fallback.lang == "en" and "no font with Chinese glyphs" in capsys.readouterr().out
    fallback.update(run, pinned=run)
    assert fallback.png() == english.png()


def test_the_page_introduction_is_chinese_in_chinese():
    d = Dashboard.from_query("lang=zh", autostart=False)
    try:
        assert "lab-zh-page" in d.widget._dom_classes and "梯度消失" in d.intro.value
        d.set_lang("en")  # English: the page's own (markdown) introduction, nothing added
        assert "lab-zh-page" not in d.widget._dom_classes and d.intro.layout.display == "none"
    finally:
        d.close()
    assert ".lab-zh-page" in style_html()
