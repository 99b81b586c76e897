"""One figure updated through runs that switch every panel's special cases on and off shows,
after each update, exactly what a brand-new figure shows for the same run: no stale artist."""

import io
import sys

import numpy as np
import pytest
from matplotlib.lines import Line2D
from PIL import Image

import lab
from lab.figure_style import SEVERITY_COLORS
from lab.plots import DashboardFigure

FAST = dict(n_samples=300, width=16, steps=30)


def train(**fields) -> lab.Run:
    return lab.train(lab.Config(**{**FAST, **fields}))


@pytest.fixture(scope="module")
def runs():
    return {
        "deep": train(depth=20, width=32),  # theory applies and is drawn
        "nan": train(depth=20, width=32, activation="linear", init="normal",
                     init_gain=100),  # theory applies, but the gradients are NaN at step 0
        "default": train(),
        "clipped": train(clip="norm", clip_threshold=0.01),
        "digits": train(dataset="digits"),
        "sigmoid": train(activation="sigmoid", init="xavier_normal", optimizer="sgd", lr=0.1),
        "early": train(steps=200, lr=0.05, early_stopping=1),
        "bn": train(batchnorm="before"),
        "init": lab.inspect(lab.Config(**FAST)),
        "tanh": train(activation="tanh", init="normal"),
    }


# (run, pinned): each step switches some special case on or off against the step before
SEQUENCE = [("deep", None), ("nan", "deep"), ("deep", None), ("default", "clipped"),
            ("clipped", "nan"), ("clipped", None), ("digits", None), ("sigmoid", "default"),
            ("early", None), ("early", "nan"), ("bn", "tanh"), ("init", None),
            ("tanh", "default"), ("default", None), ("nan", None), ("init", "default")]


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def test_sequence_covers_every_special_case(runs):
    r = runs
    assert r["deep"].config.depth == 20 and np.isfinite(r["deep"].act_grad_std[0]).all()
    assert not np.isfinite(r["nan"].act_grad_std[0][-1]) and r["nan"].diverged_at == 0
    assert r["clipped"].clipped.any() and not r["default"].clipped.any()
    assert r["early"].stopped_early_at is not None
    assert r["init"].at_init and r["digits"].config.dataset == "digits"
    assert lab.theory.predict(r["bn"].config) is None
    pinned = {pin for _, pin in SEQUENCE}  # a diverged ghost: panel d marks where it leaves
    assert "nan" in pinned and r["nan"].diverged_at is not None


def test_one_figure_through_a_sequence_equals_fresh_figures(runs):
    """Full draws are compared exactly. Blitted PNGs too: both figures compose the same
    cached layers in the same order, so even antialiased edges round alike."""
    shared = DashboardFigure(width_px=960, height_px=600, dpi=75)
    for name, pin in SEQUENCE:
        run, pinned = runs[name], runs[pin] if pin else None
        shared.update(run, pinned=pinned)
        fresh = DashboardFigure(width_px=960, height_px=600, dpi=75)
        fresh.update(run, pinned=pinned)
        np.testing.assert_array_equal(pixels(shared.png()), pixels(fresh.png()),
                                      err_msg=f"blitted {name} pinned {pin}")
        np.testing.assert_array_equal(shared.blitter.full_rgba(), fresh.blitter.full_rgba(),
                                      err_msg=f"full draw {name} pinned {pin}")


def legend_labels(legend) -> list[str]:
    return [t.get_text() for t in legend.get_texts()] if legend is not None else []


def visible_labelled(*axes) -> list[str]:
    """Labels of the visible lines (not '_'-hidden labels) of `axes`, in drawing order."""
    return [line.get_label() for ax in axes for line in ax.get_lines()
            if line.get_visible() and not line.get_label().startswith("_")]


@pytest.mark.parametrize("name,pin", SEQUENCE)
def test_every_visible_line_has_a_legend_entry_and_no_entry_is_hidden(runs, name, pin):
    fig = DashboardFigure(width_px=640, height_px=400)
    fig.update(runs[name], pinned=runs[pin] if pin else None)
    b, d, e = fig.gradients, fig.losses, fig.updates
    assert sorted(legend_labels(b.legend)) == sorted(visible_labelled(b.ax))
    assert sorted(legend_labels(d.legend)) == sorted(visible_labelled(d.ax, d.acc_ax))
    assert sorted(legend_labels(e.legend)) == sorted(visible_labelled(e.ax))
    assert not any(isinstance(a, Line2D) and a.get_visible() and not a.get_label()
                   for a in fig.ax["b"].get_children())
    # the faint init lines are named; the pinned ghost too when it is drawn
    if runs[name].act_grad_std.shape[0] > 1:
        assert {"std dL/da, init", "rms dL/dW, init"} <= set(legend_labels(b.legend))
    assert ("pinned: std dL/da, now" in legend_labels(b.legend)) == (fig.view.pinned is not None)
    assert ("clipped step" in legend_labels(d.legend)) == bool(runs[name].clipped.any())


def test_panel_b_says_what_the_two_gradients_are(runs):
    fig = DashboardFigure()
    fig.update(runs["default"])
    label = fig.ax["b"].get_ylabel()
    assert "dL/da" in label and "output" in label and "1/batch" in label
    assert "dL/dW" in label and "weights" in label and "other units" in label


@pytest.mark.parametrize("depth", [1, 2, 3, 12, 50])
def test_integer_quantities_get_integer_ticks(depth):
    run = lab.inspect(lab.Config(**{**FAST, "steps": 1}, depth=depth))
    fig = DashboardFigure(width_px=640, height_px=400)
    fig.update(run)
    fig.png()  # ticks are placed at draw time
    axes = {"b.x": fig.ax["b"].xaxis, "c.x": fig.ax["c"].xaxis, "c.y": fig.ax["c"].yaxis,
            "d.x": fig.ax["d"].xaxis, "e.x": fig.ax["e"].xaxis,
            "colour bar": fig.heatmap.cbar.ax.yaxis}
    for where, axis in axes.items():
        low, high = sorted(axis.get_view_interval())
        ticks = [t for t in axis.get_majorticklocs() if low - 1e-9 <= t <= high + 1e-9]
        assert ticks, where
        assert all(float(t).is_integer() for t in ticks), (where, ticks)


@pytest.mark.parametrize("depth,labels", [
    (12, [1, 2, 4, 6, 8, 10, 12]), (20, [1, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20]),
    (50, [1, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50]), (3, [1, 2, 3])])
def test_ridgeline_layers_are_evenly_spaced(depth, labels):
    fig = DashboardFigure(width_px=640, height_px=400)
    fig.update(lab.inspect(lab.Config(**FAST, depth=depth)))
    shown = [t.get_text() for t in fig.ax["a"].get_yticklabels()]
    assert shown == [f"L{k}" for k in labels]


@pytest.mark.parametrize("name", ["default", "deep", "init", "bn", "nan", "sigmoid"])
def test_heatmap_spans_at_least_two_decades(runs, name):
    fig = DashboardFigure(width_px=640, height_px=400)
    fig.update(runs[name])
    low, high = fig.heat.get_clim()
    assert high - low >= 2


def test_relu_zeros_are_a_number_and_outliers_do_not_set_the_axis(runs):
    run = runs["default"]
    fig = DashboardFigure(width_px=640, height_px=400)
    fig.update(run, pinned=runs["tanh"])
    a, edges = fig.activations, run.hist.act_edges
    for j, layer in enumerate(a.shown):
        share = run.hist.act[-1, layer, 0]
        assert a.label[j].get_text().endswith(f"0–{edges[1]:.2g}: {share:.0%}")
        x, y = a.line[j].get_data()
        assert x[0] > edges[0] and np.nanmax(y) <= j + 0.9 + 1e-9  # no spike at 0
    left, right = fig.ax["a"].get_xlim()
    assert right < edges[-1]  # the outlier bin at the end does not stretch the axis
    assert left >= edges[0]


def test_an_exploded_layer_does_not_stretch_the_axis_for_the_others():
    run = lab.inspect(lab.Config(**FAST, init="kaiming_normal", init_gain=2.0))
    fig = DashboardFigure(width_px=640, height_px=400)
    fig.update(run)
    # the median layer's range sets the axis: the last layer (64x layer 1's scale) is cut
    left, right = fig.ax["a"].get_xlim()
    assert right < 0.5 * run.hist.act_edges[-1]
    assert fig.activations.beyond.get_text().endswith("off axis")


@pytest.mark.parametrize("name,classes", [("default", 3), ("digits", 10)])
def test_accuracy_axis_has_the_chance_line(runs, name, classes):
    fig = DashboardFigure(width_px=640, height_px=400)
    fig.update(runs[name])
    np.testing.assert_allclose(fig.losses.chance.get_ydata(), 1 / classes)
    assert fig.losses.chance.get_label() == f"chance (1/{classes})"
    assert fig.ax["d"].get_ylabel().startswith("loss")


@pytest.mark.parametrize("name", ["default", "early", "digits"])
def test_the_reported_evaluation_is_inside_panel_d(runs, name):
    """The last validation point (the final model's) is drawn, not clipped at the axis edge."""
    fig = DashboardFigure(width_px=640, height_px=400)
    fig.update(runs[name])
    low, high = fig.losses.acc_ax.get_xlim()
    x, _ = fig.losses.acc_line.get_data()
    assert x[-1] == runs[name].val_steps[-1] and low <= x[-1] <= high


def test_diverged_run_shows_no_accuracy_after_divergence(runs):
    run = runs["nan"]
    fig = DashboardFigure(width_px=640, height_px=400)
    fig.update(run)
    x, y = fig.losses.acc_line.get_data()
    assert np.all(np.isnan(np.asarray(y)[np.asarray(x) >= run.diverged_at]))


@pytest.mark.parametrize("name", ["default", "nan", "sigmoid"])
def test_verdict_colour_follows_severity(runs, name):
    fig = DashboardFigure(width_px=640, height_px=400)
    fig.update(runs[name])
    assert fig.verdict.get_color() == SEVERITY_COLORS[fig.view.diagnosis.severity]


def test_long_verdict_wraps_to_two_lines_inside_the_header(runs, monkeypatch):
    fig = DashboardFigure()
    text = "word " * 32  # 160 characters, the longest a verdict may be
    view = fig.views.of(runs["default"])
    view = type(view)(**{**view.__dict__, "diagnosis": lab.diagnosis.Diagnosis(
        "healthy", text.strip(), 1.0, "watch")})
    fig.update(runs["default"], view=view)
    fig.png()
    lines = fig.verdict.get_text().split("\n")
    assert len(lines) == 2 and " ".join(lines) == text.strip()
    box = fig.verdict.get_window_extent(fig.canvas.get_renderer())
    tops = [ax.title.get_window_extent(fig.canvas.get_renderer()).y1 for ax in fig.ax.values()]
    assert 0 <= box.x0 and box.x1 <= fig.fig.bbox.width and box.y0 > max(tops)


def counting(monkeypatch, real) -> list:
    """Count every call of `real`, under whatever name any lab module imported it."""
    calls: list = []

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("lab"):
            for name, value in list(vars(module).items()):
                if value is real:
                    monkeypatch.setattr(module, name, counted)
    return calls


@pytest.mark.parametrize("dataset", ["spirals", "digits"])
def test_a_frame_loads_predicts_and_diagnoses_once_for_figure_and_verdict(monkeypatch, dataset):
    """What the dashboard does per frame: one FrameView, drawn by the figure and read for the
    verdict text. The data is looked up once per frame, the theory and panel f's unscaled
    images (image datasets) made once per config, the run diagnosed once per frame."""
    frames: list = []
    cfg = lab.Config(**{**FAST, "dataset": dataset, "depth": 4})
    lab.train(cfg, on_frame=frames.append, frame_every=10)
    assert len(frames) >= 3
    loads = counting(monkeypatch, lab.data.load)
    predictions = counting(monkeypatch, lab.theory.predict)
    diagnoses = counting(monkeypatch, lab.diagnosis.diagnose)
    views, fig = lab.frame_view.Views(), DashboardFigure(width_px=640, height_px=400)
    for k, frame in enumerate(frames, start=1):
        view = views.of(frame)
        fig.update(frame, view=view)
        fig.png()
        verdict = view.diagnosis.say("en")  # the dashboard's verdict line reads the same view
        assert fig.verdict.get_text().replace("\n", " ") == verdict
        assert len(diagnoses) == k and diagnoses[-1][0] is frame
        # once per frame, plus once per config: the theory's input variance (lab/theory.py)
        # and, for images, panel f's unscaled copy
        assert len(loads) == k + 1 + int(dataset == "digits")
        assert len(predictions) == 1
    assert {c[0] for c in loads} <= {cfg, cfg.replace(standardize="none")}
    fig.update(frames[-1])  # no view given: the figure makes its own, once
    assert len(diagnoses) == len(frames) + 1 and len(predictions) == 2
