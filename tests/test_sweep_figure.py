"""The sweep figure: titles that fit and name what differs, run colours, diverged points."""

import matplotlib.colors as mcolors
import numpy as np
import pytest

import lab
from lab.figure_style import RUN_COLORS
from lab.sweep import sweep
from lab.sweep_figure import sweep_figure, title_lines

BASE = lab.Config(steps=12, n_samples=200, width=16, depth=3, batchnorm="after", clip="norm",
                  dropout=0.1, optimizer="sgd")
VARY = {"init_gain": [0.5, 1.0, 30.0], "lr": [0.01, 50.0]}


@pytest.fixture(scope="module")
def figure():
    points = sweep(BASE, VARY)
    fig = sweep_figure(points, VARY)
    fig.canvas.draw()
    return fig, points


@pytest.fixture(scope="module")
def diverging():
    """Plain SGD on N(0, 1) weights: lr 50 blows up (BatchNorm and clipping would not)."""
    base = lab.Config(steps=12, n_samples=200, width=16, depth=3, optimizer="sgd",
                      init="normal")
    points = sweep(base, VARY)
    fig = sweep_figure(points, VARY)
    fig.canvas.draw()
    return fig, points


def test_title_names_every_field_that_differs_and_fits(figure):
    fig, _ = figure
    text = fig._suptitle.get_text()
    for words in ("batchnorm after", "clip norm", "dropout 0.1", "optimizer sgd", "depth 3",
                  "width 16", "steps 12", "n_samples 200"):
        assert words in text
    assert "init_gain 1" not in text and "lr 0.0" not in text  # varied: on the axes instead
    box = fig._suptitle.get_window_extent(fig.canvas.get_renderer())
    assert 0 <= box.x0 and box.x1 <= fig.bbox.width and box.y1 <= fig.bbox.height
    for ax in fig.axes:  # and the title stays above the panels' titles
        assert box.y0 > ax.title.get_window_extent(fig.canvas.get_renderer()).y1


def test_title_of_the_defaults_says_so():
    assert title_lines({"depth": [1, 2]}, lab.Config(depth=5)) == [
        "sweep over depth", "every other field as default"]
    many = lab.Config(depth=3, width=16, batchnorm="after", dropout=0.1, optimizer="sgd",
                      lr=0.5, steps=12, clip="norm", n_samples=200, seed=3, init_gain=1.5)
    lines = title_lines({"activation": ["relu"]}, many)
    assert all(len(line) <= 120 for line in lines) and "n_samples 200" in " ".join(lines)


def test_runs_get_category_colours_not_the_layer_map(figure):
    fig, _ = figure
    allowed = {mcolors.to_hex(c) for c in RUN_COLORS}
    lines = [line for ax in fig.axes for line in ax.get_lines() if line.get_marker() == "o"]
    assert lines and {mcolors.to_hex(line.get_color()) for line in lines} <= allowed


def test_diverged_points_sit_above_the_axis_in_words(diverging):
    fig, points = diverging
    diverged = [p for p in points if p.run.diverged_at is not None]
    assert diverged
    ax = fig.axes[1]
    marks = [line for line in ax.get_lines() if line.get_marker() == "x"]
    ys = np.concatenate([line.get_ydata() for line in marks])
    assert len(ys) == len(diverged) and np.all(ys > 1.0)  # never at 0% accuracy
    assert "diverged: no accuracy" in [t.get_text() for t in ax.get_legend().get_texts()]
    chance = [line for line in ax.get_lines() if line.get_label().startswith("chance")]
    np.testing.assert_allclose(chance[0].get_ydata(), 1 / 3)


def test_log_axis_labels_the_swept_values_only(figure):
    fig, _ = figure
    for ax in fig.axes:
        labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
        assert labels == ["0.5", "1", "30"]
        assert not [t.get_text() for t in ax.xaxis.get_minorticklabels() if t.get_text()]
        assert not [t.get_text() for t in ax.yaxis.get_minorticklabels() if t.get_text()]
