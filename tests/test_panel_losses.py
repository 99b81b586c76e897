"""Panel d with a pinned run that diverges (lesson 06's figure): the run shown stays readable and
the ghost's divergence is marked inside the axes, where it leaves them."""

import numpy as np
import pytest

import lab
from lab.panel_losses import GHOST_ROOM, ghost_exit
from lab.plots import DashboardFigure

# lesson 06's exploding net (ReLU, He init x2, momentum), shorter and on fewer points
EXPLODING = lab.Config(n_samples=300, steps=60, init="kaiming_normal", init_gain=2.0,
                       optimizer="momentum", lr=0.01)


@pytest.fixture(scope="module")
def pair():
    raw = lab.train(EXPLODING)  # no clipping: diverges within a few steps
    clipped = lab.train(EXPLODING.replace(clip="norm", clip_threshold=5.0))
    return clipped, raw


def own_losses(run: lab.Run) -> np.ndarray:
    values = np.concatenate([run.loss, run.val_loss])
    return values[np.isfinite(values) & (values > 0)]


def test_the_case_is_the_lessons(pair):
    clipped, raw = pair
    assert raw.diverged_at is not None and clipped.diverged_at is None
    finite = raw.loss[np.isfinite(raw.loss)]
    assert finite.max() > 1e4 * own_losses(clipped).max()  # the ghost would squash the run


def test_axis_holds_the_run_shown_not_the_ghosts_blow_up(pair):
    clipped, raw = pair
    fig = DashboardFigure()
    fig.update(clipped, pinned=raw)
    low, high = fig.losses.ax.get_ylim()
    own = own_losses(clipped)
    assert low <= own.min() and own.max() <= high
    # whole decades with a factor 2 to spare, and at most GHOST_ROOM more for the ghost
    assert high <= 10 * 2 * GHOST_ROOM * own.max()
    assert np.nanmax(raw.loss[np.isfinite(raw.loss)]) > high  # so the ghost does leave


def test_ghost_divergence_is_marked_inside_the_axes_and_named(pair):
    clipped, raw = pair
    fig = DashboardFigure()
    fig.update(clipped, pinned=raw)
    d, ax = fig.losses, fig.losses.ax
    high = ax.get_ylim()[1]
    # independent: the first step whose loss is above the top or not a number
    leaves = next(i for i, v in enumerate(raw.loss) if not np.isfinite(v) or v > high)
    assert ghost_exit(raw.loss, high) == leaves <= raw.diverged_at
    assert d.ghost_mark.get_visible()
    fig.png()
    xy = d.ghost_mark.get_transform().transform(np.column_stack(d.ghost_mark.get_data()))[0]
    box = ax.get_window_extent()
    assert box.x0 <= xy[0] <= box.x1 and box.y0 <= xy[1] <= box.y1
    assert d.ghost_mark.get_xdata()[0] == leaves
    labels = [t.get_text() for t in d.legend.get_texts()]
    assert f"diverged at step {raw.diverged_at}" in labels
    assert not d.legend.get_window_extent().contains(*xy)  # the legend leaves the mark seen


def test_a_ghost_on_the_axis_gets_no_mark_and_counts_for_the_limits(pair):
    clipped, _ = pair
    calmer = lab.train(EXPLODING.replace(clip="norm", clip_threshold=1.0))
    fig = DashboardFigure()
    fig.update(clipped, pinned=calmer)
    low, high = fig.losses.ax.get_ylim()
    both = np.concatenate([own_losses(clipped), own_losses(calmer)])
    assert low <= both.min() and both.max() <= high
    assert not fig.losses.ghost_mark.get_visible()


def test_ghost_exit_by_hand():
    assert ghost_exit(np.array([5.0, 50.0, 5e9, np.nan]), 1e3) == 2
    assert ghost_exit(np.array([np.nan]), 1e3) == 0
    assert ghost_exit(np.array([5.0, 2.0, 1.0]), 1e3) is None
