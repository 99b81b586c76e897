"""Each preset's lesson is a claim about its own run; these tests check it on the real numbers."""

import functools
import re
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import lab
from lab import presets
from lab.config import Config
from lab.data import load

# --- shared runs: several claims compare against the same config (Config is hashable).
# The lessons quote what the CPU measures (one thread, as conftest sets); a GPU draws other
# dropout masks and rounds differently, so the runs here are pinned to the CPU.


@functools.cache
def trained(cfg: Config) -> lab.Run:
    """lab.train(cfg) on the CPU, once per config for the whole test session."""
    return lab.train(cfg.replace(device="cpu"))


@functools.cache
def inspected(cfg: Config) -> lab.Run:
    """lab.inspect(cfg) on the CPU, once per config."""
    return lab.inspect(cfg.replace(device="cpu"))


def grad_at_init(run: lab.Run) -> np.ndarray:
    """Std of dL/d(activation) per layer at step 0, layer 1 first."""
    return run.act_grad_std[0]


def backward_gain(g: np.ndarray, start: int = 1) -> float:
    """Geometric-mean factor by which the gradient grows per layer toward the input.

    Starts at layer start+1 (layer 1 has fan-in 2, so it is not a typical layer).
    """
    v = np.log(g[start:])
    return float(np.exp((v[0] - v[-1]) / (len(v) - 1)))


def final_loss(run: lab.Run, last: int = 20) -> float:
    """Mean training loss over the last steps (as plotted: train mode, dropout on)."""
    return float(np.mean(run.loss[-last:]))


def trained_net(cfg: Config, run: lab.Run) -> lab.models.Net:
    """The network with the run's final weights."""
    net = lab.build_model(cfg)
    net.load_state_dict(run.model_state)
    return net


def weight_change(cfg: Config, run: lab.Run) -> np.ndarray:
    """||W_end - W_init|| / ||W_init|| per hidden layer, layer 1 first."""
    start = lab.build_model(cfg).hidden_weights()
    end = trained_net(cfg, run).hidden_weights()
    with torch.no_grad():
        pairs = zip(start, end, strict=True)
        return np.array([float((b - a).norm() / a.norm()) for a, b in pairs])


@torch.no_grad()
def evaluate(cfg: Config, run: lab.Run, split: str) -> tuple[float, float]:
    """(loss, accuracy) of the trained net in eval mode (no dropout) on "train" or "val"."""
    data = load(cfg)
    x, y = (data.x_train, data.y_train) if split == "train" else (data.x_val, data.y_val)
    net = trained_net(cfg, run).eval()
    logits = net(x)
    return float(F.cross_entropy(logits, y)), float((logits.argmax(1) == y).float().mean())


# --- one check per preset: cfg is the preset's config; comparisons use cfg.replace(...)

CHECKS: dict[str, Callable[[Config], None]] = {}


def claim(name: str):
    """Register the check of preset `name`'s lesson."""
    def register(check: Callable[[Config], None]) -> Callable[[Config], None]:
        CHECKS[name] = check
        return check
    return register


@claim("vanishing-sigmoid")
def check_vanishing_sigmoid(cfg: Config) -> None:
    run = trained(cfg)
    g = grad_at_init(run)
    assert backward_gain(g) <= 0.25 * 1.05  # sigmoid' <= 1/4 (Xavier: weights ~1)
    assert 1e-7 < g[0] / g[-1] < 1e-5  # "about a millionth"
    change = weight_change(cfg, run)
    assert change[0] < 1e-4 < 1e-3 < change[-1]  # layer 1 barely moved, layer 10 did
    assert run.val_acc[-1] < 0.4  # chance is 1/3
    assert final_loss(run) > 1.05  # ln 3 = 1.099: no better than guessing


@claim("exploding-init")
def check_exploding_init(cfg: Config) -> None:
    run = trained(cfg)
    g = grad_at_init(run)
    assert backward_gain(g) == pytest.approx(2.0, rel=0.15)  # gain^2 = 4 in variance
    assert 150 < g[0] / g[-1] < 600  # "~300x"
    assert 1000 < run.loss[0] < 2000  # "~1400"
    assert run.diverged_at is not None and run.diverged_at <= 2  # steps 0, 1, 2


@claim("tanh-saturation")
def check_tanh_saturation(cfg: Config) -> None:
    run = trained(cfg)
    saturated = run.act_saturated[:, 1:].mean(axis=1)  # layers 2-10, per recorded step
    assert 0.65 < saturated[0] < 0.85 and 0.65 < saturated.min()  # ~3/4, from start to end
    assert run.val_acc[-1] < 0.65  # "~55%"
    xavier = trained(cfg.replace(init="xavier_normal"))
    assert np.nanmax(xavier.act_saturated[0]) < 0.01
    assert xavier.val_acc[-1] > 0.97  # "not 99%": what the Xavier scale reaches


@claim("dead-relu")
def check_dead_relu(cfg: Config) -> None:
    run = trained(cfg)
    dead = run.act_dead[:, 1:].mean(axis=1)  # layers 2-10
    steps = run.recorded_steps
    assert 0.1 < dead[0] < 0.3  # "about 20% at init" (zero biases, 2-D inputs)
    assert dead[steps >= 60].min() > 0.85  # dead within 60 steps, and they stay dead
    assert run.val_acc[-1] < 0.4 and final_loss(run) > 1.05
    default = trained(cfg.replace(lr=Config().lr))
    assert default.act_dead[-1, 1:].mean() < 0.3 and default.val_acc[-1] > 0.95


@claim("zero-init-symmetry")
def check_zero_init_symmetry(cfg: Config) -> None:
    run = trained(cfg)
    net = trained_net(cfg, run)
    for i, block in enumerate(net.blocks):
        w, b = block.layer.weight.detach(), block.layer.bias.detach()
        assert w.abs().max() > 1e-2, f"layer {i + 1} never moved"
        assert torch.equal(w, w[:1].expand_as(w)), f"layer {i + 1}: units differ"
        assert torch.equal(b, b[:1].expand_as(b)), f"layer {i + 1}: biases differ"
    assert run.loss[0] == pytest.approx(np.log(3), abs=1e-6)  # all logits 0 at init
    assert 1.03 < final_loss(run) < 1.09  # "barely falls (1.10 to 1.06)"
    assert run.val_acc[-1] < 0.4


@claim("xavier-tanh")
def check_xavier_tanh(cfg: Config) -> None:
    run = trained(cfg)
    g = grad_at_init(run)
    assert 0.3 < g[0] / g[-1] < 1.0  # "about half"
    assert np.nanmax(run.act_saturated[0]) < 0.01  # no unit starts saturated
    assert run.val_acc[-1] > 0.97


@claim("he-relu")
def check_he_relu(cfg: Config) -> None:
    g = grad_at_init(inspected(cfg))
    assert g.max() / g.min() < 3  # "within 3x of flat" over 20 layers
    gx = grad_at_init(inspected(cfg.replace(init="xavier_normal")))
    assert backward_gain(gx) == pytest.approx(2**-0.5, rel=0.08)  # relu halves the variance
    assert 3e-4 < gx[0] / gx[-1] < 3e-3  # "~1/1000 at layer 1"


@claim("batchnorm-before")
def check_batchnorm_before(cfg: Config) -> None:
    run = trained(cfg)
    plain = trained(cfg.replace(batchnorm="none"))
    g, g_plain = grad_at_init(run), grad_at_init(plain)
    assert g_plain[0] / g_plain[-1] < 1e-5 and g[0] / g[-1] > 1
    assert np.nanmax(run.act_saturated) < 0.01  # at every recorded step
    assert run.val_acc[-1] > 0.93 and plain.val_acc[-1] < 0.4  # "~96%"


@claim("batchnorm-after")
def check_batchnorm_after(cfg: Config) -> None:
    run = trained(cfg)
    g = grad_at_init(run)
    assert g[0] / g[-1] > 1  # no longer vanishing
    assert run.val_acc[-1] > 0.94  # "~97%"
    assert 0.05 < np.nanmax(run.act_saturated) < 0.2  # "up to ~10% of a layer's units"
    before = trained(cfg.replace(batchnorm="before"))
    assert np.nanmax(before.act_saturated) < 0.01


@claim("batchnorm-deep-explodes")
def check_batchnorm_deep_explodes(cfg: Config) -> None:
    g = grad_at_init(inspected(cfg))  # the claim is about initialization: step 0 of train
    assert 1.15 < backward_gain(g) < 1.3  # Yang et al.: sqrt(pi / (pi - 1)) = 1.21 for ReLU
    assert 1e4 < g[0] / g[-1] < 1e5  # "~30,000x"
    plain = grad_at_init(inspected(cfg.replace(batchnorm="none")))
    assert 0.95 < backward_gain(plain) < 1.05


@claim("dropout-heavy")
def check_dropout_heavy(cfg: Config) -> None:
    run = trained(cfg)
    plain = trained(cfg.replace(dropout=0.0))
    assert 0.03 < final_loss(run) < 0.1  # "near 0.05", in train mode (units dropped)
    assert final_loss(plain) < 0.005
    assert len(load(cfg).y_train) == 240 and len(load(cfg).y_val) == 60
    for fitted in (run, plain):
        assert evaluate(cfg, fitted, "train")[1] == 1.0  # every training digit right
    assert evaluate(cfg, run, "val")[1] == pytest.approx(58 / 60)  # 97%
    assert evaluate(cfg, plain, "val")[1] == pytest.approx(56 / 60)  # 93%


@claim("clip-saves-exploding")
def check_clip_saves_exploding(cfg: Config) -> None:
    raw = trained(cfg.replace(clip="none"))
    assert raw.diverged_at is not None and raw.diverged_at <= 2
    run = trained(cfg)
    assert run.diverged_at is None and run.steps_done == cfg.steps
    assert run.clipped_fraction > 0.5  # clipping is what changed
    assert 1000 < run.loss[0] < 2000 and final_loss(run) < 0.5  # "~1400 to ~0.3"
    assert run.val_acc[-1] > 0.85  # "~90%"


@claim("clip-cannot-fix-vanishing")
def check_clip_cannot_fix_vanishing(cfg: Config) -> None:
    run = trained(cfg)
    assert 0.8 < run.clipped_fraction < 0.97  # "~90% of steps"
    assert weight_change(cfg, run)[0] < 1e-4
    assert run.val_acc[-1] < 0.4 and final_loss(run) > 1.05


@claim("adam-vs-sgd")
def check_adam_vs_sgd(cfg: Config) -> None:
    adam = trained(cfg)
    sgd = trained(cfg.replace(optimizer="sgd", lr=0.1))
    # update_ratio: log10 of each layer's step relative to its weights; layer 1 vs layer 10
    gap_adam = adam.update_ratio[:, 0] - adam.update_ratio[:, -1]
    gap_sgd = sgd.update_ratio[:, 0] - sgd.update_ratio[:, -1]
    assert np.median(np.abs(gap_adam)) < 1  # about as fast: within 10x, typically
    assert np.median(gap_sgd) < -4  # 1e-5 as fast, or slower
    assert 0.45 < adam.val_acc[-1] < 0.6  # "~50%"
    assert sgd.val_acc[-1] < 0.4


@claim("residual-deep")
def check_residual_deep(cfg: Config) -> None:
    run = trained(cfg)
    ratio = run.act_grad_std[:, 0] / run.act_grad_std[:, -1]  # layer 1 / layer 50, every row
    assert ratio.min() > 10
    assert run.val_acc[-1] > 0.9  # "~94%"
    plain = trained(cfg.replace(residual=False))
    ratio = plain.act_grad_std[:, 0] / plain.act_grad_std[:, -1]
    assert ratio[0] > 0.1 and ratio[1:].min() < 1e-3  # fine at init, collapses in training
    assert plain.val_acc[-1] < 0.55 and final_loss(plain) > 0.9  # "near 46%"


# --- tests


@pytest.mark.parametrize("name", presets.names())
def test_lesson_holds_on_the_actual_run(name):
    CHECKS[name](presets.get(name).config)


def test_every_preset_has_a_check():
    assert list(CHECKS) == presets.names()


REQUIRED = (
    "vanishing-sigmoid", "exploding-init", "tanh-saturation", "dead-relu", "zero-init-symmetry",
    "xavier-tanh", "he-relu", "batchnorm-before", "batchnorm-after", "batchnorm-deep-explodes",
    "dropout-heavy", "clip-saves-exploding", "clip-cannot-fix-vanishing", "adam-vs-sgd",
    "residual-deep",
)


def test_required_presets_exist_in_teaching_order():
    names = presets.names()
    assert set(REQUIRED) <= set(names)
    assert [n for n in names if n in REQUIRED] == list(REQUIRED)


@pytest.mark.parametrize("name", presets.names())
def test_preset_is_well_formed(name):
    p = presets.get(name)
    assert p.name == name and presets.PRESETS[name] is p
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name)
    assert isinstance(p.config, Config)
    assert p.title and p.title == p.title.strip() and "\n" not in p.title
    lesson = p.lesson
    assert lesson == lesson.strip() and "\n" not in lesson and len(lesson) <= 200
    assert lesson[0].isupper() and lesson.endswith(".")
    # one sentence: no full stop followed by a new sentence (decimals like 0.05 are fine)
    assert not re.search(r"[.!?]\s+[A-Z]", lesson[:-1]), lesson
    # classroom-fast configs
    assert p.config.steps <= 500 and p.config.width <= 128


def test_names_are_unique_and_match_presets():
    names = presets.names()
    assert len(names) == len(set(names)) == len(presets.PRESETS)
    assert len({p.title for p in presets.PRESETS.values()}) == len(names)
    assert names == [p.name for p in presets.PRESETS.values()]


def test_names_returns_a_copy():
    presets.names().append("x")
    assert "x" not in presets.names()


def test_presets_are_frozen():
    p = presets.get("vanishing-sigmoid")
    with pytest.raises(AttributeError):
        p.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize("bad", ["no-such-preset", "", "Vanishing-Sigmoid", None, ["x"]])
def test_get_unknown_name_raises_value_error_listing_names(bad):
    with pytest.raises(ValueError) as info:
        presets.get(bad)
    message = str(info.value)
    assert repr(bad) in message
    for name in presets.names():
        assert name in message
