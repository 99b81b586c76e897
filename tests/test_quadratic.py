"""The quadratic module against the textbook convergence rates of GD and heavy-ball momentum."""

import math

import numpy as np
import pytest

from lab import quadratic as Q


@pytest.mark.parametrize("kappa", [10.0, 100.0, 1000.0])
def test_gradient_descent_converges_at_its_textbook_rate(kappa):
    lr, rate = Q.gd_optimum(kappa)
    run = Q.descend(kappa, "gd", lr, 200)
    # at lr 2/(mu+L) both extreme directions shrink by exactly (kappa-1)/(kappa+1) per step
    assert Q.measured_rate(run.distance, 0, 200) == pytest.approx(rate, rel=1e-9)
    assert rate == pytest.approx((kappa - 1) / (kappa + 1))


@pytest.mark.parametrize("kappa", [10.0, 100.0, 1000.0])
def test_heavy_ball_converges_at_the_square_root_rate(kappa):
    lr, beta, rate = Q.heavy_ball_optimum(kappa)
    assert rate == pytest.approx((math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1))
    steps = int(100 / -math.log(rate))  # down to ~e^-100: far from float underflow
    run = Q.descend(kappa, "momentum", lr, steps, momentum=beta)
    # critically damped: the error is ~ k rate^k, so measure over a late window
    measured = Q.measured_rate(run.distance, steps // 2, steps)
    assert measured == pytest.approx(rate, rel=0.01)
    assert measured < Q.gd_optimum(kappa)[1]  # and beats plain GD's best rate


def test_at_the_same_step_momentum_0_9_converges_at_sqrt_0_9_against_gds_0_99():
    runs = Q.compare(kappa=100.0, steps=2000)  # lr 0.01 for both
    gd, hb = runs["gradient descent"].distance, runs["momentum 0.9"].distance
    assert Q.gd_rate(100.0, 0.01) == pytest.approx(0.99)  # the flat direction: 1 - lr * 1
    # both directions underdamped ((1 + b - lr lam)^2 < 4b): |z| = sqrt(b) for each
    assert Q.heavy_ball_rate(100.0, 0.01, 0.9) == pytest.approx(math.sqrt(0.9))
    assert Q.measured_rate(gd, 1000, 2000) == pytest.approx(0.99, rel=1e-6)
    assert Q.measured_rate(hb, 100, 1000) == pytest.approx(math.sqrt(0.9), rel=0.005)
    # a millionth of the start distance sqrt(2); step 1 zeroes x2 (lr * 100 = 1), then x1 = 0.99^k
    want = math.log(1e-6 * math.sqrt(2)) / math.log(0.99)
    assert Q.steps_to(gd, 1e-6) == pytest.approx(want, abs=1)
    assert Q.steps_to(hb, 1e-6) < Q.steps_to(gd, 1e-6) / 4


def test_rates_of_any_step_size_agree_with_the_optima():
    lr, rate = Q.gd_optimum(30.0)
    assert Q.gd_rate(30.0, lr) == pytest.approx(rate)
    lr, beta, rate = Q.heavy_ball_optimum(30.0)
    assert Q.heavy_ball_rate(30.0, lr, beta) == pytest.approx(rate, rel=1e-6)
    assert Q.gd_rate(30.0, 2.0 / 30.0 * 1.01) > 1  # beyond 2 / L plain GD diverges


def test_torch_momentum_form_is_polyaks_heavy_ball():
    lam = Q.eigenvalues(50.0)
    lr, beta = 0.02, 0.8
    run = Q.descend(50.0, "momentum", lr, 30, momentum=beta)
    x_prev, x = np.array([1.0, 1.0]), np.array([1.0, 1.0]) - lr * lam * np.array([1.0, 1.0])
    np.testing.assert_allclose(run.points[1], x)
    for k in range(2, 31):  # x+ = x - lr grad + beta (x - x_prev)
        x_prev, x = x, x - lr * lam * x + beta * (x - x_prev)
        np.testing.assert_allclose(run.points[k], x, rtol=1e-12)


def test_adam_first_step_is_lr_per_coordinate_and_the_articles_is_lr_times_gradient():
    kappa, lr = 100.0, 0.01
    adam = Q.descend(kappa, "adam", lr, 1)
    article = Q.descend(kappa, "article_adam", lr, 1)
    g = Q.eigenvalues(kappa)  # the gradient at (1, 1)
    np.testing.assert_allclose(adam.points[0] - adam.points[1], lr, rtol=1e-6)
    np.testing.assert_allclose(article.points[0] - article.points[1], lr * g, rtol=1e-12)


def test_rmsprop_first_step_is_ten_lr_per_coordinate():
    run = Q.descend(100.0, "rmsprop", 0.01, 1)
    np.testing.assert_allclose(run.points[0] - run.points[1], 0.1, rtol=1e-6)


def test_loss_is_half_x_a_x_and_methods_are_checked():
    run = Q.descend(4.0, "gd", 0.1, 3, start=(2.0, -1.0))
    lam = Q.eigenvalues(4.0)
    assert lam.tolist() == [1.0, 4.0]
    np.testing.assert_allclose(run.loss, 0.5 * (run.points ** 2 * lam).sum(axis=1))
    assert run.loss[0] == pytest.approx(0.5 * (4 + 4))
    with pytest.raises(ValueError, match="method"):
        Q.descend(4.0, "lbfgs", 0.1, 3)


def test_descent_figure_is_a_png_with_both_panels():
    import io

    from PIL import Image

    from lab.quadratic_figure import descent_figure

    runs = Q.compare(kappa=100.0, steps=60)
    png = descent_figure(runs, 100.0, rates={"momentum 0.9": math.sqrt(0.9)})
    img = Image.open(io.BytesIO(png))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and img.size == (1100, 440)
