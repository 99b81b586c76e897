"""build_model: layer order, initialization variances, BatchNorm placement, dropout scaling."""

import math

import numpy as np
import pytest
import torch

import lab
from lab import registry
from lab.export import init_code, torch_code
from lab.models import init_weight, make_activation
from lab.theory import activation_fns, weight_variance

W = 256  # wide enough that a weight matrix's std estimates the scheme's std within ~1%


def hidden(cfg: lab.Config) -> list[torch.Tensor]:
    return [w.detach() for w in lab.build_model(cfg).hidden_weights()]


@pytest.mark.parametrize("scheme,gain,std", [
    ("normal", 0.05, lambda fi, fo, g: g),
    ("uniform", 0.05, lambda fi, fo, g: g / math.sqrt(3)),  # U(-g, g)
    ("xavier_normal", 1.0, lambda fi, fo, g: g * math.sqrt(2 / (fi + fo))),
    ("xavier_uniform", 2.0, lambda fi, fo, g: g * math.sqrt(2 / (fi + fo))),
    ("kaiming_normal", 1.0, lambda fi, fo, g: g * math.sqrt(2 / fi)),
    ("kaiming_uniform", 0.5, lambda fi, fo, g: g * math.sqrt(2 / fi)),
    ("lecun_normal", 1.0, lambda fi, fo, g: g / math.sqrt(fi)),
])
def test_init_scheme_has_its_textbook_std(scheme, gain, std):
    cfg = lab.Config(depth=3, width=W, init=scheme, init_gain=gain, activation="relu")
    net = lab.build_model(cfg)
    for layer in [b.layer for b in net.blocks][1:]:  # square W x W layers
        fan_out, fan_in = layer.weight.shape
        want = std(fan_in, fan_out, gain)
        assert layer.weight.std().item() == pytest.approx(want, rel=0.03)
        assert layer.weight.mean().item() == pytest.approx(0.0, abs=want * 0.02)
        assert torch.count_nonzero(layer.bias) == 0


def test_orthogonal_and_zeros():
    for w in hidden(lab.Config(depth=3, width=64, init="orthogonal", init_gain=1.5))[1:]:
        torch.testing.assert_close(w @ w.T, 2.25 * torch.eye(64), atol=1e-4, rtol=0)
    assert all(torch.count_nonzero(w) == 0 for w in hidden(lab.Config(init="zeros")))


def test_leaky_relu_kaiming_uses_the_slope():
    w = hidden(lab.Config(depth=2, width=W, init="kaiming_normal", activation="leaky_relu"))[1]
    want = math.sqrt(2 / (1 + 0.01**2) / W)
    assert w.std().item() == pytest.approx(want, rel=0.03)


def test_seed_fixes_the_weights():
    a, b = hidden(lab.Config(seed=3)), hidden(lab.Config(seed=3))
    c = hidden(lab.Config(seed=4))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a[1], c[1])


def test_layer_one_is_nearest_the_input():
    net = lab.build_model(lab.Config(depth=4, width=32, dataset="digits"))
    assert net.blocks[0].layer.in_features == 64 and net.blocks[0].layer.out_features == 32
    assert all(b.layer.in_features == 32 for b in net.blocks[1:])
    assert net.head.in_features == 32 and net.head.out_features == 10


def capture(block, x):
    """(activation output, block output) of one block in its current mode."""
    seen = []
    handle = block.act.register_forward_hook(lambda m, i, o: seen.append(o.detach()))
    try:
        out = block(x).detach()
    finally:
        handle.remove()
    return seen[0], out


def test_dropout_scales_by_one_over_keep_in_train_mode_only():
    p = 0.3
    net = lab.build_model(lab.Config(depth=2, width=W, dropout=p))
    block, x = net.blocks[1], torch.randn(512, W)
    net.train()
    act, out = capture(block, x)
    kept = out != 0
    torch.testing.assert_close(out[kept], act[kept] / (1 - p))
    live = act != 0  # relu zeros are not drops
    dropped = (~kept & live).sum().item() / live.sum().item()
    assert dropped == pytest.approx(p, abs=0.01)
    net.eval()
    act, out = capture(block, x)
    torch.testing.assert_close(out, act)


@pytest.mark.parametrize("where", ["before", "after"])
def test_batchnorm_sits_where_asked(where):
    net = lab.build_model(lab.Config(depth=2, width=64, batchnorm=where, activation="linear",
                                     init="normal", init_gain=3.0))
    net.train()
    block = net.blocks[1]
    act, out = capture(block, 5 + 4 * torch.randn(256, 64))
    if where == "before":  # the activation sees normalized input: per unit mean 0, std 1
        torch.testing.assert_close(act.mean(0), torch.zeros(64), atol=1e-4, rtol=0)
        torch.testing.assert_close(act.std(0, unbiased=False), torch.ones(64), atol=1e-2, rtol=0)
    else:  # the activation sees the raw pre-activation; the block's output is normalized
        assert act.std(0).mean() > 5
        torch.testing.assert_close(out.mean(0), torch.zeros(64), atol=1e-4, rtol=0)


def test_residual_adds_identity_after_the_first_block():
    net = lab.build_model(lab.Config(depth=3, width=16, residual=True, activation="tanh"))
    assert not net.blocks[0].residual and all(b.residual for b in net.blocks[1:])
    x = torch.randn(8, 16)
    act, out = capture(net.blocks[1], x)
    torch.testing.assert_close(out, x + act)


def test_cnn_layers_are_convolutions_of_width_channels():
    net = lab.build_model(lab.Config(arch="cnn", dataset="digits", depth=3, width=8))
    assert [type(b.layer).__name__ for b in net.blocks] == ["Conv2d"] * 3
    assert net.blocks[0].layer.in_channels == 1 and net.blocks[2].layer.out_channels == 8
    assert net(torch.zeros(5, 64)).shape == (5, 10)


# ---------------------------------------------------------------- one registry, four users

SHAPES = [(384, 640), (640, 384)]  # (fan_out, fan_in): xavier and orthogonal use both fans


@pytest.mark.parametrize("scheme", list(registry.INITS))
@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_every_init_scheme_is_accepted_built_exported_and_has_its_measured_variance(
        scheme, activation):
    gain = 0.7
    cfg = lab.Config(init=scheme, init_gain=gain, activation=activation, depth=2, width=16)
    assert lab.build_model(cfg).hidden_weights()[1].shape == (16, 16)  # built from the Config
    for fan_out, fan_in in SHAPES:
        ours = torch.empty(fan_out, fan_in)
        init_weight(ours, scheme, gain, activation, torch.Generator().manual_seed(5))
        # the exported line, run as a user would run it, draws the very same numbers
        theirs = torch.empty(fan_out, fan_in)
        torch.manual_seed(5)
        exec(init_code(cfg, "w"), {"nn": torch.nn, "w": theirs})
        assert torch.equal(ours, theirs), init_code(cfg, "w")
        # the theory's Var(W) is the mean square of the drawn weights, within sampling error:
        # the estimate of a variance from n draws has relative std <= sqrt(2/n) (Gaussian; a
        # uniform's is smaller); 5 of those, 1.4% here
        predicted = weight_variance(cfg, fan_in, fan_out)
        measured = ours.double().pow(2).mean().item()
        assert measured == pytest.approx(predicted, rel=5 * math.sqrt(2 / ours.numel()),
                                         abs=1e-300), (scheme, fan_out, fan_in)


@pytest.mark.parametrize("name", list(registry.ACTIVATIONS))
def test_every_activation_is_accepted_built_exported_and_has_a_theory(name):
    cfg = lab.Config(activation=name, depth=2, width=8)
    ours = make_activation(name)
    assert type(lab.build_model(cfg).blocks[0].act) is type(ours)
    code = registry.ACTIVATIONS[name].code()
    assert code in torch_code(cfg)
    theirs = eval(code, {"nn": torch.nn})  # noqa: S307 - our own registry's text
    x = torch.linspace(-6, 6, 241, dtype=torch.float64)
    torch.testing.assert_close(theirs(x), ours(x), rtol=0, atol=0)
    phi, _ = activation_fns(name)
    np.testing.assert_allclose(phi(x.numpy()), ours(x).numpy(), rtol=1e-12, atol=1e-14)


def test_the_leaky_slope_is_torchs_and_kaimings():
    act = make_activation("leaky_relu")
    assert act.negative_slope == registry.LEAKY_SLOPE == 0.01  # torch's own default slope
    assert registry.ACTIVATIONS["leaky_relu"].slope == act.negative_slope
    assert all(a.slope == 0.0 for n, a in registry.ACTIVATIONS.items() if n != "leaky_relu")
