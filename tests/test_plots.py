"""DashboardFigure and the diagnosis: drawn from the Run, updated in place, no leaks."""

import dataclasses
import io

import matplotlib.pyplot as plt
import numpy as np
import psutil
import pytest
from PIL import Image

import lab
from lab.diagnosis import diagnose
from lab.plots import DashboardFigure, shown_layers
from lab.render import figure_png

FAST = dict(n_samples=300, width=16, steps=30)


@pytest.fixture(scope="module")
def runs():
    return {
        "default": lab.train(lab.Config(**FAST)),
        "vanishing": lab.train(lab.Config(**FAST, depth=20, activation="sigmoid",
                                          init="xavier_normal")),
        "diverged": lab.train(lab.Config(**FAST, lr=10.0, init="normal", init_gain=3.0,
                                         optimizer="sgd")),
        "bn": lab.inspect(lab.Config(**FAST, batchnorm="before")),
        "digits": lab.train(lab.Config(**FAST, dataset="digits")),
        "clipped": lab.train(lab.Config(**FAST, clip="norm", clip_threshold=0.01)),
    }


def artist_counts(fig: DashboardFigure) -> list[int]:
    return [len(ax.get_children()) for ax in fig.fig.axes]


def test_png_is_1280_by_800():
    fig = DashboardFigure()
    fig.update(lab.inspect(lab.Config(**FAST)))
    image = Image.open(io.BytesIO(fig.png()))
    assert image.size == (1280, 800)


def test_two_hundred_frames_change_artists_in_place_without_leaks(runs):
    run = lab.train(lab.Config(**{**FAST, "steps": 60}))
    frames = []
    lab.train(run.config, on_frame=frames.append, frame_every=1)
    fig = DashboardFigure(width_px=640, height_px=400)  # same artists, a quarter of the pixels
    open_before = len(plt.get_fignums())
    process = psutil.Process()

    def push(n: int) -> None:
        for i in range(n):
            fig.update(frames[i % len(frames)], pinned=runs["default"] if i % 3 else None)
            if i % 2:
                fig.png()

    push(20)
    counts, line, rss = artist_counts(fig), fig.g_now, process.memory_info().rss
    push(200)
    assert artist_counts(fig) == counts  # nothing added per frame: artists are reused
    assert fig.g_now is line
    assert len(plt.get_fignums()) == open_before  # no pyplot figures opened
    assert process.memory_info().rss - rss < 30 * 2**20


def test_verdict_and_theory_follow_the_run(runs):
    fig = DashboardFigure()
    for name in ("default", "vanishing", "diverged"):
        fig.update(runs[name])
        assert fig.verdict.get_text().replace("\n", " ") == diagnose(runs[name]).text
    fig.update(runs["vanishing"])
    assert fig.g_theory.get_visible()
    np.testing.assert_allclose(fig.g_now.get_ydata(), runs["vanishing"].act_grad_std[-1])
    fig.update(runs["bn"])
    assert not fig.g_theory.get_visible()  # mean-field theory does not cover BatchNorm


def rgb(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def ink_of(fig: DashboardFigure, shown: np.ndarray, artists: list,
           panel: str) -> tuple[int, int]:
    """(pixels inside panel `panel`, pixels anywhere) that change when `artists` are hidden:
    what those artists put on the figure `shown` (a full draw of it)."""
    for artist in artists:
        artist.set_visible(False)
    hidden = rgb(figure_png(fig.fig))
    for artist in artists:
        artist.set_visible(True)
    changed = (shown != hidden).any(axis=-1)
    box, height = fig.ax[panel].get_window_extent(), changed.shape[0]
    inside = changed[int(height - box.y1):int(np.ceil(height - box.y0)),
                     int(box.x0):int(np.ceil(box.x1))]
    return int(inside.sum()), int(changed.sum())


@pytest.mark.parametrize("late", [False, True])
def test_diverged_run_draws_what_came_before(runs, late):
    # diverged at step 1 (one finite loss), or at step 7 (a finite stretch of loss curve)
    run = lab.train(lab.Config(**FAST, lr=2.0, optimizer="sgd")) if late else runs["diverged"]
    record = np.concatenate([run.loss, run.global_grad_norm, run.val_loss,
                             run.act_grad_std.ravel()])
    assert not np.isfinite(record).all()  # NaN or inf in what the figure is given
    fig = DashboardFigure()
    fig.update(run)
    x, y = fig.loss_line.get_data()
    assert len(x) == run.diverged_at + 1 and np.isfinite(y[:run.diverged_at]).all()
    assert fig.event_line.get_visible() and fig.event_line.get_xdata()[0] == run.diverged_at
    assert fig.event_text.get_text() == f"diverged at step {run.diverged_at}"
    assert fig.pred.note.get_text().startswith("no predictions")
    image = Image.open(io.BytesIO(fig.png()))  # renders despite NaN and inf in the record
    assert image.size == (1280, 800)
    # the PNG is a whole draw: matplotlib's own full draw of the figure, to antialiasing
    shown = rgb(figure_png(fig.fig))
    assert np.abs(rgb(fig.png()).astype(int) - shown.astype(int)).max() <= 3
    # each finite part leaves ink in its own panel: the marker "diverged at step n" and its
    # line; the validation points before it (a line needs two finite points: at step 1 only
    # the marker of step 0 is drawn); the gradient profiles at init; the heatmap's finite rows
    parts = {"d": [[fig.event_text], [fig.event_line], [fig.losses.val_line]],
             "b": [[line for line in fig.ax["b"].get_lines() if line.get_visible()
                    and np.isfinite(np.asarray(line.get_ydata(), float)).any()]],
             "c": [fig.ax["c"].get_images()]}
    if late:
        parts["d"].append([fig.losses.loss_line])
    for panel, groups in parts.items():
        for artists in groups:
            assert artists, panel
            inside, anywhere = ink_of(fig, shown, artists, panel)
            assert inside > 10 and inside >= 0.95 * anywhere, (panel, inside, anywhere)
    text = fig.event_text.get_window_extent(fig.canvas.get_renderer())
    assert fig.ax["d"].get_window_extent().contains(text.x0, text.y0)  # on its panel


def test_ghost_lines_only_when_pinned(runs):
    fig = DashboardFigure()
    fig.update(runs["default"], pinned=runs["clipped"])
    assert fig.g_ghost.get_visible() and fig.loss_ghost.get_visible()
    np.testing.assert_allclose(fig.g_ghost.get_ydata(), runs["clipped"].act_grad_std[-1])
    fig.update(runs["default"])
    assert not fig.g_ghost.get_visible() and not fig.loss_ghost.get_visible()


def test_clip_markers_sit_at_clipped_steps(runs):
    run = runs["clipped"]
    fig = DashboardFigure()
    fig.update(run)
    x, _ = fig.clip_marks.get_data()
    np.testing.assert_array_equal(x, np.flatnonzero(run.clipped))
    assert len(x) > 0


def test_ridgeline_labels_and_layer_colours(runs):
    run = runs["vanishing"]
    fig = DashboardFigure()
    fig.update(run)
    shown = shown_layers(run.depth)
    assert shown[0] == 0 and shown[-1] == run.depth - 1
    for j, layer in enumerate(shown):
        assert fig.activations.label[j].get_text() == f"sat {run.act_saturated[-1][layer]:.0%}"
        np.testing.assert_allclose(fig.activations.line[j].get_color(), fig.colors[layer])
    np.testing.assert_allclose(fig.updates.lines[0].get_color(), fig.colors[0])


def test_image_grid_marks_right_and_wrong(runs):
    run = runs["digits"]
    fig = DashboardFigure()
    fig.update(run)
    raw = lab.data.load(run.config.replace(standardize=False))
    right = int((run.predictions.image_pred == raw.y_val[:16].numpy()).sum())
    assert fig.ax["f"].get_title(loc="left").endswith(f"{right}/16 right")
    greens = sum(t.get_edgecolor()[:3] == pytest.approx((0.102, 0.498, 0.216), abs=0.01)
                 for t in fig.pred.tiles)
    assert greens == right


def rgba(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def test_blitted_frames_equal_full_redraws(runs):
    """Independent check of the blitting: each PNG equals matplotlib's full draw of the same
    artists (to rounding on antialiased edges), through streamed frames whose axis limits
    move, a pinned run, a new depth, a diverged run and an image dataset."""
    cfg = lab.Config(**FAST)
    stream: list = []
    lab.train(cfg, on_frame=stream.append, frame_every=4)
    sequence = [(lab.inspect(cfg), None), *[(run, None) for run in stream],
                (runs["default"], runs["clipped"]), (runs["vanishing"], None),
                (runs["diverged"], None), (runs["digits"], None), (runs["bn"], None)]
    fig = DashboardFigure(width_px=960, height_px=600, dpi=75)
    for run, pinned in sequence:
        fig.update(run, pinned=pinned)
        blitted = rgba(fig.png())
        np.testing.assert_array_equal(  # the PNG holds exactly the canvas's pixels
            blitted, np.asarray(fig.canvas.get_renderer().buffer_rgba()))
        difference = np.abs(blitted.astype(int) - fig.blitter.full_rgba().astype(int)).max(-1)
        # antialiased edges only: ~40% of them in the header's verdict, up to two lines of text
        assert difference.max() <= 3 and (difference > 0).mean() < 0.015
    assert fig.blitter.full_builds == 0  # the panels never reached into one another


def test_static_pixels_are_redrawn_only_when_limits_or_structure_change(runs):
    fig = DashboardFigure(width_px=640, height_px=400)
    fig.update(runs["default"])
    fig.png()
    blitter, builds = fig.blitter, fig.blitter.panel_builds
    # at 640 px some axes reach into the next panel: drawn with their panel's static pixels,
    # in matplotlib's order (their panel drawn once more when that was found)
    assert builds == len(fig.panels) + len(reaching(fig))
    fig.update(runs["default"])
    fig.png()
    assert blitter.changed == [] and blitter.panel_builds == builds  # same limits: none
    limits = {name: fig.ax[name].get_ylim() for name in "bd"}
    axes_kept = [len(blitter._sprites[i]) for i in (1, 3)]
    fig.update(runs["diverged"])  # gradients and loss decades away: panels b and d move
    blitted = rgba(fig.png())
    assert all(fig.ax[name].get_ylim() != limits[name] for name in "bd")
    # limits are drawn by the y axes alone (sprites, kept per limits): panel d keeps its
    # static pixels (b's legend names other lines: its panel is drawn again)
    assert 3 not in blitter.changed
    assert all(len(blitter._sprites[i]) > n for i, n in zip((1, 3), axes_kept, strict=True))
    difference = np.abs(blitted.astype(int) - blitter.full_rgba().astype(int)).max(-1)
    fresh = DashboardFigure(width_px=640, height_px=400)  # no history: the same frame drawn
    fresh.update(runs["diverged"])  # first (its text's antialiased edges blend alike)
    alone = np.abs(rgba(fresh.png()).astype(int) - fresh.blitter.full_rgba().astype(int)).max(-1)
    assert difference.max() <= 3 and (difference > 0).mean() <= (alone > 0).mean() + 0.001
    fig.update(runs["vanishing"])  # 20 layers: new artists, everything drawn afresh
    fig.png()
    assert fig.blitter is not blitter
    assert fig.blitter.panel_builds == len(fig.panels) + len(reaching(fig))


def reaching(fig: DashboardFigure) -> set[int]:
    """The panels that draw an axis with their static pixels: it reaches into another panel."""
    return {i for i, panel in enumerate(fig.panels)
            if any(id(artist) in fig.blitter._fixed for artist in panel.sprites)}


@pytest.mark.parametrize("name", ["default", "vanishing", "diverged", "bn", "clipped"])
def test_steady_limits_still_hold_every_number(runs, name):
    fig = DashboardFigure(width_px=640, height_px=400)
    for other in ("diverged", "default", name):  # limits carried over from other runs
        fig.update(runs[other], pinned=runs["default"] if other == "bn" else None)
    run = runs[name]
    low, high = fig.ax["b"].get_ylim()
    grads = np.concatenate([run.act_grad_std[0], run.act_grad_std[-1], run.grad_rms[0],
                            run.grad_rms[-1]])
    grads = grads[np.isfinite(grads) & (grads > 0)]
    assert low <= grads.min() and grads.max() <= high
    low, high = fig.ax["d"].get_ylim()
    loss = run.loss[np.isfinite(run.loss) & (run.loss > 0)]
    assert low <= loss.min() and loss.max() <= high
    low, high = fig.ax["e"].get_ylim()
    ratios = run.update_ratio[np.isfinite(run.update_ratio)]
    assert ratios.size == 0 or (low <= ratios.min() and ratios.max() <= high)
    low, high = fig.heat.get_clim()
    heat = np.log10(run.act_grad_std[np.isfinite(run.act_grad_std) & (run.act_grad_std > 0)])
    assert low <= heat.min() and heat.max() <= high


def test_legend_pixels_survive_a_panel_redraw_and_still_match(runs):
    fig = DashboardFigure(width_px=960, height_px=600, dpi=75)  # 640 px: b's label meets a's
    fig.update(runs["default"])
    fig.png()
    legend = fig.gradients.legend
    kept = (id(legend), (fig.gradients.placer.code, fig.gradients._entries))
    assert kept in fig.blitter._sprites[1]
    cached = fig.blitter._sprites[1][kept]
    louder = dataclasses.replace(runs["default"], act_grad_std=runs["default"].act_grad_std * 1e3,
                                 grad_rms=runs["default"].grad_rms * 1e3)
    fig.update(louder)  # panel b's limits move three decades; its legend stays put
    fig.gradients.key = lambda: "moved"  # and its static pixels are drawn again
    blitted = rgba(fig.png())
    assert 1 in fig.blitter.changed and fig.gradients.legend is legend
    if (fig.gradients.placer.code, fig.gradients._entries) == kept[1]:
        assert fig.blitter._sprites[1][kept] is cached  # not drawn again
    difference = np.abs(blitted.astype(int) - fig.blitter.full_rgba().astype(int)).max(-1)
    assert difference.max() <= 3 and (difference > 0).mean() < 0.01
