"""The Dashboard driven from code: controls, worker, cancellation, errors, sharing, export."""

import base64
import json
import re
import threading

import pytest

import lab
import lab.cache
import lab.frame_view
import lab.relay
import lab.ui
from lab import presets
from lab.limits import Limits
from lab.ui import Dashboard

FAST = lab.Config(steps=30, n_samples=300, width=16, depth=4)


@pytest.fixture
def dash():
    d = Dashboard(FAST)
    assert d.wait(120)
    yield d
    d.close()


def test_first_run_is_drawn_and_described(dash):
    assert dash.run.config == FAST and dash.run.finished
    assert dash.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert "depth 4" in dash.status.value and "finished 30 steps" in dash.status.value
    assert f"loss {dash.run.loss[-1]:.3g}" in dash.status.value
    assert dash.progress.value == 30 and dash.progress.max == 30
    assert lab.diagnosis.diagnose(dash.run).text.split(":")[0] in dash.diagnosis.value


def test_controls_drive_the_config_and_the_figure(dash):
    before = dash.image.value
    dash.controls["depth"].value = 7
    dash.controls["activation"].value = "tanh"
    assert dash.wait(120)
    assert dash.config == FAST.replace(depth=7, activation="tanh")
    assert dash.run.config == dash.config and dash.run.finished
    assert dash.image.value != before
    assert dash.link.value == "?" + dash.config.to_query()


def test_burst_of_changes_ends_with_the_last_config_and_one_training(dash, monkeypatch):
    running, most = [0], [0]
    lock = threading.Lock()
    real = lab.relay.train

    def counting(*args, **kw):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            return real(*args, **kw)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(lab.relay, "train", counting)
    for depth in [5, 9, 2, 12, 3, 8, 6, 11]:
        dash.controls["depth"].value = depth
    assert dash.wait(120)
    assert dash.run.config.depth == 11 and dash.config.depth == 11
    assert most[0] == 1 and running[0] == 0 and dash.max_in_flight == 1


def test_preset_sets_controls_and_shows_its_lesson(dash):
    name = "vanishing-sigmoid"
    dash.presets.value = name
    assert dash.wait(120)
    preset = presets.get(name)
    assert dash.config == preset.config and dash.run.config == preset.config
    assert dash.controls["activation"].value == "sigmoid"
    assert preset.lesson[:30] in dash.lesson.value
    dash.controls["depth"].value = 3  # moving a control leaves the preset
    assert dash.presets.value == "" and dash.lesson.value == ""
    assert dash.wait(120)


def test_invalid_combination_is_a_message_not_a_crash(dash):
    dash.controls["width"].value = 3 * 4
    assert dash.wait(120)
    dash.set_config(dash.config.replace(dataset="digits"))
    assert dash.wait(120)
    dash.controls["dataset"].value = "spirals"
    dash.set_config(dash.config.replace(arch="cnn", dataset="digits"))
    assert dash.wait(120)
    dash.controls["dataset"].value = "moons"  # cnn on 2-D data: refused, last config kept
    assert "arch='cnn'" in dash.message.value and dash.config.dataset == "digits"
    assert dash.controls["dataset"].value == "digits"  # the control shows what is trained


def test_error_in_training_is_shown_and_the_dashboard_lives_on(dash, monkeypatch):
    def broken(*args, **kw):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(lab.relay, "train", broken)
    dash.controls["depth"].value = 6
    assert dash.wait(120)
    assert "RuntimeError: disk on fire" in dash.message.value
    monkeypatch.undo()
    dash.controls["depth"].value = 5
    assert dash.wait(120)
    assert dash.run.config.depth == 5 and dash.run.finished


def test_divergence_is_shown_as_a_result(dash):
    dash.set_config(FAST.replace(lr=10.0, init="normal", init_gain=3.0, optimizer="sgd"))
    assert dash.wait(120)
    assert re.search(r"diverged at step \d+", dash.status.value)
    assert "diverged" in dash.diagnosis.value.lower() and dash.message.value == ""


def test_pin_draws_ghosts_until_unpinned(dash):
    dash.pin()
    first = dash.pinned
    dash.controls["init"].value = "xavier_normal"
    assert dash.wait(120)
    assert dash.pinned is first and dash.figure.g_ghost.get_visible()
    dash.unpin()
    assert dash.pinned is None and not dash.figure.g_ghost.get_visible()


def test_downloads_hold_the_figure_and_the_config(dash):
    links = dict(re.findall(r'download="([^"]+)" href="data:[^;]+;base64,([^"]+)"',
                            dash.downloads.value))
    assert base64.b64decode(links["gradient-lab.png"]) == dash.image.value
    assert json.loads(base64.b64decode(links["gradient-lab-config.json"])) == FAST.to_dict()


def test_query_string_sets_controls_and_bad_fields_get_a_message():
    d = Dashboard.from_query("depth=30&activation=sigmoid&steps=20", autostart=False)
    assert d.controls["depth"].value == 30 and d.controls["activation"].value == "sigmoid"
    assert d.config.depth == 30 and d.message.value == ""
    d.close()
    d = Dashboard.from_query("depth=abc&lr=0.01&steps=20", autostart=False)
    assert "depth" in d.message.value and "Traceback" not in d.message.value
    assert d.config.depth == lab.Config().depth and d.config.lr == 0.01
    d.close()


def test_values_beyond_a_slider_range_are_shown_not_clamped():
    # 20000 steps is over the default work cap (tests/test_limits.py): lift it, this is display
    d = Dashboard(FAST.replace(steps=20000, lr=1e-5 / 3), autostart=False,
                  limits=Limits(max_work=None))
    assert d.controls["steps"].value == 20000
    assert d.controls["lr"].value == pytest.approx(1e-5 / 3)
    d.close()


def test_lesson_widget_shows_only_its_controls():
    d = Dashboard(FAST, fields=["depth", "activation"], autostart=False)
    assert list(d.controls) == ["depth", "activation"]
    assert visible_labels(d.widget) == ["Hidden layers", "Activation"]  # what the page shows
    shown = visible_widgets(d.widget)
    assert all(any(w is c for w in shown) for c in d.controls.values())
    for part in (d.status, d.progress, d.message, d.image, d.diagnosis):  # the figure column
        assert any(w is part for w in shown)
    # the full dashboard's extras are not on a lesson's page at all, and the stylesheet's
    # widget (which applies anyway) is hidden
    for extra in (d.presets, d.lesson, d.pin_button, d.link, d.downloads, d.code, d.lang_switch,
                  d.intro):
        assert not any(w is extra for w in all_widgets(d.widget))
    assert d.style.layout.display == "none" and not any(w is d.style for w in shown)
    d.close()


def all_widgets(widget) -> list:
    """Every widget in the tree under `widget`, hidden or not."""
    return [widget] + [x for child in getattr(widget, "children", ()) for x in all_widgets(child)]


def visible_widgets(widget) -> list:
    """The widgets a browser would show: the tree walked from the top, skipping every subtree
    whose layout hides it (display none, or visibility hidden)."""
    layout = getattr(widget, "layout", None)
    if layout is not None and (layout.display == "none" or layout.visibility == "hidden"):
        return []
    return [widget] + [x for child in getattr(widget, "children", ())
                       for x in visible_widgets(child)]


def visible_labels(widget) -> list[str]:
    """Descriptions of the config controls a browser would show, in page order."""
    labels = {label for _, label, _ in lab.ui.LABELS.values()}
    return [w.description for w in visible_widgets(widget)
            if getattr(w, "description", None) in labels]


def _shown(d):
    """The controls shown; the others are hidden by their layout, still on the page to come back."""
    shown = [f for f, w in d.controls.items() if w.layout.display != "none"]
    assert visible_labels(d.widget) == [lab.ui.LABELS[f][1] for f in shown]  # and only those
    tree, visible = all_widgets(d.widget), visible_widgets(d.widget)
    for field, widget in d.controls.items():
        assert any(w is widget for w in tree), field
        assert any(w is widget for w in visible) == (field in shown), field
    return shown


def test_projector_mode_shows_the_scenarios_controls_and_keeps_the_text_repr():
    d = Dashboard.from_query("view=present&depth=30&activation=sigmoid&steps=20",
                             autostart=False)
    assert d.view == "present" and d.message.value == ""
    assert "lab-present" in d.widget._dom_classes
    assert d.config.depth == 30 and _shown(d) == ["depth", "activation", "steps"]
    text = d._repr_mimebundle_()["text/plain"]
    assert text == f"Gradient Lab dashboard: {', '.join(lab.ui.LABELS)}"
    d.presets.value = "vanishing-sigmoid"  # a preset shows the controls it sets
    assert _shown(d) == ["activation", "init", "optimizer", "lr"]
    d.controls["lr"].value = 0.2  # moving one keeps them (the preset no longer matches)
    assert d.presets.value == "" and _shown(d) == ["activation", "init", "optimizer", "lr"]
    d.close()
    d = Dashboard(FAST, view="present", autostart=False)
    assert _shown(d) == ["depth", "width", "steps"]  # FAST's changes (n_samples: no control)
    d.close()
    d = Dashboard(lab.Config(), view="present", autostart=False)
    assert _shown(d) == lab.ui.PRESENT_FIELDS  # the defaults: the page's first experiment
    d.close()


def test_page_options_in_the_query_and_bad_ones_are_named():
    d = Dashboard.from_query("fields=depth,activation&view=present&depth=12", autostart=False)
    assert list(d.controls) == ["depth", "activation"] and d.view == "present"
    assert d.config.depth == 12 and d.message.value == ""
    d.close()
    d = Dashboard.from_query("view=foo&fields=depth,bogus&depth=12", autostart=False)
    message = d.message.value
    assert "view='foo'" in message
    assert "dashboard, present" in message and "bogus" in message and "depth" in message
    assert d.view == "dashboard" and list(d.controls) == ["depth"] and d.config.depth == 12
    assert "Traceback" not in message and "unknown config field" not in message
    d.close()
    d = Dashboard.from_query("view=present&view=dashboard&fields=", autostart=False)
    assert d.view == "present" and len(d.controls) == len(lab.ui.LABELS)
    assert "given more than once" in d.message.value and "fields=" in d.message.value
    d.close()
    with pytest.raises(ValueError, match="view='big'.*dashboard, present"):
        Dashboard(FAST, view="big", autostart=False)


def test_inputs_and_optimizer_dropdowns_show_words_and_set_the_config():
    d = Dashboard(FAST, autostart=False, fields=["standardize", "optimizer"])
    inputs, opt = d.controls["standardize"], d.controls["optimizer"]
    assert inputs.description == "Inputs" and inputs.value == "zscore"
    assert [label for label, _ in inputs.options] == [
        "standardize (z-score)", "scale to [0, 1]", "raw"]
    assert ("RMSprop", "rmsprop") in opt.options and ("adam", "adam") in opt.options
    inputs.value, opt.value = "unit", "rmsprop"
    assert d.config.standardize == "unit" and d.config.optimizer == "rmsprop"
    d.close()


def test_each_frame_is_diagnosed_once_and_figure_and_text_share_it(monkeypatch):
    calls = []
    real = lab.frame_view.diagnose

    def counted(run):
        calls.append(run)
        return real(run)

    monkeypatch.setattr(lab.frame_view, "diagnose", counted)
    updates = []
    real_update = lab.ui.DashboardFigure.update

    def update(self, run, pinned=None, view=None):
        updates.append(view)
        return real_update(self, run, pinned=pinned, view=view)

    monkeypatch.setattr(lab.ui.DashboardFigure, "update", update)
    d = Dashboard(FAST, cache=None)
    try:
        assert d.wait(120)
        assert updates and all(v is not None for v in updates)  # the dashboard made the view
        assert len(calls) == len(updates)  # one diagnosis per frame, not one each for both
        view = d.figure.view
        assert view is updates[-1] and view.run is d.run
        assert d.diagnosis.value == f"<b>Diagnosis:</b> {lab.ui._escape(view.diagnosis.text)}"
        assert d.figure.verdict.get_text().replace("\n", " ") == view.diagnosis.text
    finally:
        d.close()
