"""lab.render: the PNG encoder round-trips; blitted pixels equal matplotlib's own full draw."""

import io

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from lab.render import Blitter, Panel, encode_png
from lab.render_parts import axis_sprite
from lab.steady import SteadyLimits


def decoded(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def test_png_round_trips_opaque_as_rgb_and_translucent_as_rgba():
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (37, 53, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    image = decoded(encode_png(rgba))
    assert image.mode == "RGB" and image.size == (53, 37)
    np.testing.assert_array_equal(np.asarray(image), rgba[..., :3])
    rgba[0, 0, 3] = 7
    image = decoded(encode_png(rgba[:, ::-1]))  # a strided view encodes too
    assert image.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(image), rgba[:, ::-1])


def max_difference(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(int) - b.astype(int)).max())


class TwoPanels:
    """A small figure: two Axes, each with a moving line under a legend and a changing title."""

    def __init__(self, overlap: bool = False, axis_sprites: bool = False, note: bool = False):
        self.fig = Figure(figsize=(4, 2), dpi=100)
        FigureCanvasAgg(self.fig)
        left = self.fig.add_axes((0.1, 0.2, 0.35, 0.65))
        right = self.fig.add_axes((0.56 if note else 0.6, 0.2, 0.35, 0.65))
        if overlap:  # the left panel's label runs on under the right one's tick labels
            left.set_xlabel("a label far longer than its own Axes is wide", loc="left")
        twin = []
        if note:  # the left panel's twin (drawn after the right panel, like panel d's): its
            twin = [left.twinx()]  # tick labels meet the right panel's
        self.axes = [left, right]
        self.lines = [ax.plot([0, 1], [0, 1], label="data")[0] for ax in self.axes]
        for ax in self.axes:
            ax.legend(loc="upper left")  # static, painted over the dynamic line
        self.titles = [ax.set_title("", loc="left") for ax in self.axes]
        self.axis_sprites = axis_sprites  # the y axes drawn per limits, not the panels
        self.panels = [Panel([ax, *(twin if ax is left else [])],
                             [*([ax.yaxis] if axis_sprites else []), line, title])
                       for ax, line, title in zip(self.axes, self.lines, self.titles, strict=True)]
        self.blitter = Blitter(self.fig)

    def frame(self, i: int, top: float = 1.0, sprites: bool = False) -> np.ndarray:
        for k, (ax, line, title) in enumerate(zip(self.axes, self.lines, self.titles,
                                                  strict=True)):
            line.set_data([0, 1], [np.sin(i + k) * top, np.cos(i) * top])
            title.set_text(f"frame {i}")
            ax.set_ylim(-top, top)
        for panel, title in zip(self.panels, self.titles, strict=True):
            ax = panel.parts[0]
            panel.key = "static" if self.axis_sprites else ax.get_ylim()
            panel.sprites = {title: title.get_text()} if sprites else {}
            if self.axis_sprites:
                panel.sprites.update(axis_sprite(ax.yaxis))
        return self.blitter.render(self.panels).copy()


def test_blitted_frames_equal_full_draws_and_only_changed_panels_redraw():
    figure = TwoPanels()
    for i in range(4):
        blitted = figure.frame(i)
        assert max_difference(blitted, figure.blitter.full_rgba()) <= 3
    assert figure.blitter.panel_builds == 2  # the limits held: static pixels drawn once
    figure.axes[1].set_ylim(-5, 5)
    figure.panels[1].key = figure.axes[1].get_ylim()
    blitted = figure.blitter.render(figure.panels).copy()
    assert figure.blitter.changed == [1] and figure.blitter.panel_builds == 3
    assert max_difference(blitted, figure.blitter.full_rgba()) <= 3
    assert figure.blitter.full_builds == 0


def test_static_pixels_of_limits_seen_before_come_back_without_a_draw():
    figure = TwoPanels()
    for i, top in enumerate([1.0, 3.0, 1.0, 3.0, 1.0]):
        blitted = figure.frame(i, top)
        assert max_difference(blitted, figure.blitter.full_rgba()) <= 3
    # each panel drawn once per limits (2 x 2), then copied back at each return (2 x 3)
    assert figure.blitter.panel_builds == 4 and figure.blitter.panel_reuses == 6
    figure.blitter.forget()  # limits other than the current ones: drawn anew
    figure.frame(5, 3.0)
    assert figure.blitter.panel_builds == 6


def test_axis_sprites_redraw_the_axis_alone_when_limits_move():
    figure = TwoPanels(axis_sprites=True)
    for i, top in enumerate([1.0, 3.0, 5.0, 1.0, 3.0]):
        blitted = figure.frame(i, top)
        assert max_difference(blitted, figure.blitter.full_rgba()) <= 3
    assert figure.blitter.panel_builds == 2 and figure.blitter.changed == []
    # one sprite per axis and limits, kept: the returns to 1 and 3 drew nothing
    assert [len(cache) for cache in figure.blitter._sprites] == [3, 3]
    assert not figure.blitter._fixed  # each axis stays within its own panel


def test_an_axis_whose_pixels_meet_another_panels_is_drawn_with_its_panel():
    # which of two panels paints over the other is matplotlib's order, not the Blitter's: the
    # right y axis is then drawn with its panel's static pixels, as without axis sprites (the
    # left one, a sprite still, blends its antialiased edges within a level or so)
    figure, plain = TwoPanels(axis_sprites=True, note=True), TwoPanels(note=True)
    for i, top in enumerate([1.0, 3.0, 1.0]):
        assert max_difference(figure.frame(i, top), plain.frame(i, top)) <= 3
    assert figure.blitter._fixed == {id(figure.axes[1].yaxis)}
    alone = TwoPanels(axis_sprites=True)  # apart, each axis stays a sprite
    alone.frame(0)
    assert not alone.blitter._fixed


def test_panels_reaching_into_each_other_fall_back_to_one_full_background():
    figure = TwoPanels(overlap=True)
    for i, top in enumerate([1.0, 1.0, 3.0, 3.0]):
        blitted = figure.frame(i, top)
        assert max_difference(blitted, figure.blitter.full_rgba()) <= 3
    assert figure.blitter.full_builds == 2  # once at the start, once when the limits moved


def test_sprites_are_drawn_once_per_key_and_match():
    figure = TwoPanels()
    figure.frame(0)
    for i in [1, 2, 1, 2]:
        blitted = figure.frame(i, sprites=True)
        assert max_difference(blitted, figure.blitter.full_rgba()) <= 3
    assert all(len(cache) == 2 for cache in figure.blitter._sprites)  # "frame 1", "frame 2"


@pytest.mark.parametrize("need,expected", [((-3, -1), (-4, -1)),  # within: held
                                           ((-6, -1), (-7, -1)),  # past: one step further
                                           ((-4, 2), (-4, 3))])
def test_steady_limits_hold_then_grow_one_step_past_the_data(need, expected):
    steady = SteadyLimits()
    assert steady.limits("y", (0, 1), (-4, -1)) == (-4, -1)  # first frame: what the data needs
    assert steady.limits("y", (-4, -1), need) == expected


def test_steady_limits_shrink_once_the_recent_frames_need_less():
    steady = SteadyLimits(history=3)
    now = steady.limits("y", (0, 1), (-9, 0))
    for _ in range(3):
        now = steady.limits("y", now, (-2, 0))
    assert now == (-2, 0)
