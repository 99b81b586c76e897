"""lab.batchnorm: gamma and beta read from a Run agree with the trained model's own parameters;
the input drift agrees with a direct computation and is zero where nothing moved."""

import dataclasses

import numpy as np
import pytest
import torch

import lab
from lab.batchnorm import gamma_beta, input_drift


@pytest.fixture(scope="module")
def trained():
    return lab.train(lab.Config(depth=3, width=16, batchnorm="before", steps=40))


def test_gamma_beta_are_the_models_own_batchnorm_parameters(trained):
    net = lab.build_model(trained.config)
    fresh = [(b.bn_before.weight.detach().clone(), b.bn_before.bias.detach().clone())
             for b in net.blocks]
    net.load_state_dict(trained.model_state)
    gammas, betas = gamma_beta(trained)
    assert len(gammas) == len(betas) == 3
    for (g0, b0), block, g, b in zip(fresh, net.blocks, gammas, betas, strict=True):
        np.testing.assert_array_equal(g, block.bn_before.weight.detach().double().numpy())
        np.testing.assert_array_equal(b, block.bn_before.bias.detach().double().numpy())
        assert torch.all(g0 == 1) and torch.all(b0 == 0)  # PyTorch's init: scale 1, shift 0
        assert np.abs(g - 1).max() > 1e-3 and np.abs(b).max() > 1e-3  # training moved them


def test_gamma_beta_of_a_cnn_hold_one_value_per_channel():
    run = lab.train(lab.Config(arch="cnn", dataset="digits", depth=2, width=8,
                               batchnorm="after", steps=5, n_samples=200))
    gammas, betas = gamma_beta(run)
    assert [g.shape for g in gammas] == [(8,), (8,)] == [b.shape for b in betas]
    assert torch.equal(torch.from_numpy(gammas[1]).float(),
                       run.model_state["blocks.1.bn_after.weight"])


def test_gamma_beta_refuse_runs_without_batchnorm_or_weights(trained):
    with pytest.raises(ValueError, match="no batch norm"):
        gamma_beta(lab.train(lab.Config(depth=2, width=8, steps=2)))
    with pytest.raises(ValueError, match="kept no weights"):
        gamma_beta(dataclasses.replace(trained, model_state=None))


def test_gamma_beta_at_init_are_one_and_zero(trained):
    gammas, betas = gamma_beta(lab.inspect(trained.config))
    assert all(np.all(g == 1) for g in gammas) and all(np.all(b == 0) for b in betas)


def test_input_drift_matches_a_direct_computation(trained):
    mean_drift, std_drift = input_drift(trained)
    assert mean_drift.shape == std_drift.shape == (2,)
    for layer in range(2):  # layer 2's input is layer 1's output
        m, s = trained.act_mean[:, layer], trained.act_std[:, layer]
        assert mean_drift[layer] == pytest.approx(max(abs(v - m[0]) for v in m) / s[0])
        assert std_drift[layer] == pytest.approx(max(max(v / s[0], s[0] / v) for v in s))


def test_input_drift_is_zero_before_training_and_refused_for_bn_after(trained):
    mean_drift, std_drift = input_drift(lab.inspect(trained.config))
    assert np.all(mean_drift == 0) and np.all(std_drift == 1)
    with pytest.raises(ValueError, match="not recorded"):
        input_drift(lab.inspect(trained.config.replace(batchnorm="after")))
