"""The phenomena the lab teaches, measured by the engine and checked against theory."""

import numpy as np
import pytest
import torch

import lab
from lab.config import CLASSES
from lab.data import load
from lab.diagnosis import gradient_ratio, per_layer_gain

INIT = dict(n_samples=600)  # inspect: step 0 on one batch of 128


def per_layer_factor(values: np.ndarray, start: int = 1) -> float:
    """Geometric-mean ratio of consecutive layers from layer start+1 on (layer 1 has fan-in 2)."""
    v = np.log(values[start:])
    return float(np.exp((v[-1] - v[0]) / (len(v) - 1)))


def slope_log2(values: np.ndarray, start: int = 1) -> float:
    """Least-squares slope of log2(values) per layer, from layer start+1 on."""
    v = np.log2(values[start:])
    return float(np.polyfit(np.arange(len(v)), v, 1)[0])


def test_deep_sigmoid_with_xavier_vanishes_by_the_quarter_bound():
    run = lab.inspect(lab.Config(**INIT, depth=20, activation="sigmoid", init="xavier_normal"))
    assert gradient_ratio(run, 0) < 1e-6  # layer 1 receives < a millionth of layer 20's signal
    # backward gain per layer = sqrt(n Var(W)) * rms(sigmoid'(z)) = rms(sigmoid') <= 1/4 for
    # xavier; from layer 2 on (layer 1 has fan-in 2)
    assert per_layer_gain(run, first=2) <= 0.25 * 1.05


def test_deep_sigmoid_still_vanishes_after_training():
    run = lab.train(lab.Config(**INIT, depth=20, activation="sigmoid", init="xavier_normal",
                               steps=150))
    assert gradient_ratio(run, -1) < 1e-4


def test_batchnorm_before_sigmoid_removes_the_vanishing():
    base = dict(**INIT, depth=20, activation="sigmoid", init="xavier_normal")
    plain = lab.inspect(lab.Config(**base)).act_grad_std[0]
    bn = lab.inspect(lab.Config(**base, batchnorm="before")).act_grad_std[0]
    assert plain[0] / plain[-1] < 1e-6
    assert bn[0] / bn[-1] > 1e-2  # no longer vanishing: BN rescales each layer's input
    # (at init BN even grows the gradient toward the input: Yang et al. 2019)


@pytest.mark.parametrize("seed", [0, 1])
def test_relu_with_kaiming_keeps_signal_flat_over_depth(seed):
    cfg = lab.Config(**INIT, depth=30, width=256, activation="relu", init="kaiming_normal",
                     seed=seed)
    run = lab.inspect(cfg)
    # critical init: mean-field predicts slope 0; xavier would give -0.5 per layer
    assert abs(slope_log2(run.act_std[0])) < 0.05
    assert abs(slope_log2(run.act_grad_std[0])) < 0.05


def test_relu_with_kaiming_stays_flat_after_training_while_xavier_stays_vanishing():
    base = dict(**INIT, depth=30, width=128, activation="relu", optimizer="sgd", lr=0.01,
                steps=100)
    he = lab.train(lab.Config(**base, init="kaiming_normal"))
    glorot = lab.train(lab.Config(**base, init="xavier_normal"))
    g = he.act_grad_std[-1]
    assert g.max() / g.min() < 3 and he.act_std[-1].max() / he.act_std[-1].min() < 3
    assert he.loss[-10:].mean() < 0.9 * he.loss[0]  # and it learns
    g = glorot.act_grad_std[-1]
    assert g.max() / g.min() > 100  # plain SGD cannot undo a 2^-15 signal loss over 30 layers
    # (Adam can: its per-parameter step size hides the scale of each layer's gradient)


def test_relu_with_xavier_halves_activation_variance_per_layer():
    run = lab.inspect(lab.Config(**INIT, depth=20, width=256, activation="relu",
                                 init="xavier_normal"))
    var = run.act_std[0] ** 2
    # equal widths: Var(W) = 1/n, and E[relu(z)^2] = Var(z)/2
    assert per_layer_factor(var) == pytest.approx(0.5, abs=0.06)


def test_relu_with_double_kaiming_gain_grows_gradient_toward_input():
    run = lab.inspect(lab.Config(**INIT, depth=20, activation="relu", init="kaiming_normal",
                                 init_gain=2.0))
    assert gradient_ratio(run, 0) > 1e3
    # chi = gain^2 = 4 per layer for the variance, so 2 per layer for the std
    assert per_layer_gain(run, first=2) == pytest.approx(2.0, rel=0.25)


def test_tanh_with_unit_normal_weights_explodes_gradients_toward_input():
    run = lab.inspect(lab.Config(**INIT, depth=20, activation="tanh", init="normal",
                                 init_gain=1.0))
    assert gradient_ratio(run, 0) > 1e3
    assert np.nanmean(run.act_saturated[0][1:]) > 0.5  # chaotic phase: most units saturated


def test_residual_connections_carry_gradient_through_depth():
    base = dict(**INIT, depth=50, activation="tanh", init="xavier_normal", init_gain=0.5)
    plain = lab.inspect(lab.Config(**base)).act_grad_std[0]
    res = lab.inspect(lab.Config(**base, residual=True)).act_grad_std[0]
    assert plain[0] / plain[-1] < 1e-6
    assert res[0] / res[-1] > 0.5  # the identity path passes dL/da through unchanged


def test_zeros_init_never_breaks_symmetry():
    cfg = lab.Config(n_samples=300, depth=4, width=8, activation="sigmoid", init="zeros",
                     optimizer="sgd", lr=0.5, steps=60)
    run = lab.train(cfg)
    net = lab.build_model(cfg)
    net.load_state_dict(run.model_state)
    for i, w in enumerate(net.hidden_weights()):
        w = w.detach()
        assert w.abs().max() > 0, f"layer {i + 1} never moved"
        assert torch.equal(w, w[:1].expand_as(w)), f"layer {i + 1}: units differ"
    # all-zero weights and biases: every logit is 0, so the first loss is exactly ln(classes)
    chance_loss = np.log(CLASSES[cfg.dataset])
    assert run.loss[0] == pytest.approx(chance_loss, abs=1e-6)
    # identical units make the net as expressive as width 1 (and sigmoid SGD is slow): the loss
    # stays near ln(3), the loss of guessing evenly (measured: within 0.014 at every step)
    assert np.all(np.abs(run.loss - chance_loss) < 0.05)


@pytest.mark.parametrize("dataset", ["spirals", "moons", "digits"])
def test_zero_init_tanh_net_learns_only_the_class_frequencies(dataset):
    cfg = lab.Config(n_samples=300, depth=4, width=8, dataset=dataset, activation="tanh",
                     init="zeros", optimizer="adam", lr=0.05, steps=60)
    run, k = lab.train(cfg), CLASSES[dataset]
    y = load(cfg).y_train.numpy()
    freq = np.bincount(y, minlength=k) / len(y)
    floor = -np.sum(freq * np.log(freq))  # the best loss of a constant prediction
    assert run.loss[0] == pytest.approx(np.log(k), abs=1e-6)  # zero logits: uniform guess
    assert np.log(k) - floor < (k - 1) / len(y)  # near-balanced split: ~(k-1)/(2n) below ln k
    # tanh(0) = 0: every hidden output and weight gradient stays 0, only the head's bias learns,
    # so the net is a constant prediction. Averaged over 20 batches of 128 its loss sits on the
    # entropy floor (measured: within 0.002); 0.01 allows the batches' spread of frequencies
    assert abs(run.loss[-20:].mean() - floor) < 0.01
    # the same net with random weights breaks the symmetry and leaves ln k far behind, so the
    # tolerance above does tell a collapsed net from one that learns
    twin = lab.train(cfg.replace(init="xavier_normal"))
    assert twin.loss[-20:].mean() < np.log(k) - 0.5
