"""The recorder's numbers against independent autograd computations, and the training contract."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lab
from lab import config as C
from lab.data import load
from lab.probes import probe

SMALL = dict(n_samples=200, depth=6, width=16, steps=40)


def full_batch(**kw) -> lab.Config:
    """A config whose first batch is the whole training set (160 of 200 examples)."""
    return lab.Config(**{**SMALL, "batch_size": 4096, **kw})


def reference_step0(cfg: lab.Config):
    """Activations, dL/da and dL/dW at init on the whole training set, via plain hooks."""
    data = load(cfg)
    net = lab.build_model(cfg, data)
    net.train()
    acts = []

    def keep(module, inputs, output):
        output.retain_grad()
        acts.append(output)

    handles = [b.act.register_forward_hook(keep) for b in net.blocks]
    try:
        loss = F.cross_entropy(net(data.x_train), data.y_train)
        loss.backward()
    finally:
        for h in handles:
            h.remove()
    weights = net.hidden_weights()
    return net, loss, acts, weights


@pytest.mark.parametrize("kw", [
    dict(activation="relu", init="kaiming_normal"),
    dict(activation="tanh", init="xavier_normal", batchnorm="before"),
    dict(activation="sigmoid", init="normal", init_gain=0.5, batchnorm="after", residual=True),
    dict(activation="leaky_relu", init="orthogonal", dataset="digits", arch="cnn", width=8),
])
def test_step0_record_equals_independent_autograd(kw):
    cfg = full_batch(**kw)
    run = lab.inspect(cfg)
    net, loss, acts, weights = reference_step0(cfg)
    a = [x.detach().double() for x in acts]
    g = [x.grad.double() for x in acts]
    np.testing.assert_allclose(run.loss[0], loss.item(), rtol=1e-5)
    np.testing.assert_allclose(run.act_mean[0], [x.mean().item() for x in a], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(run.act_std[0], [x.std().item() for x in a], rtol=1e-4)
    np.testing.assert_allclose(run.act_grad_std[0], [x.std().item() for x in g], rtol=1e-4)
    norms = [w.grad.double().norm().item() for w in weights]
    np.testing.assert_allclose(run.grad_norm[0], norms, rtol=1e-4)
    rms = [n / math.sqrt(w.numel()) for n, w in zip(norms, weights, strict=True)]
    np.testing.assert_allclose(run.grad_rms[0], rms, rtol=1e-4)
    every = torch.cat([p.grad.flatten() for p in net.parameters()]).double().norm().item()
    np.testing.assert_allclose(run.global_grad_norm[0], every, rtol=1e-4)
    act = cfg.activation
    if act == "tanh":
        want = [(x.abs() > 0.97).double().mean().item() for x in a]
        np.testing.assert_allclose(run.act_saturated[0], want, atol=1e-9)
    if act == "sigmoid":
        want = [((x < 0.03) | (x > 0.97)).double().mean().item() for x in a]
        np.testing.assert_allclose(run.act_saturated[0], want, atol=1e-9)
    if act == "relu":  # leaky ReLU is never dead: its closed units still pass a slope
        want = [(x.flatten(1) <= 0).all(dim=0).double().mean().item() for x in a]
        np.testing.assert_allclose(run.act_dead[0], want, atol=1e-9)
        assert np.isnan(run.act_saturated[0]).all()
    else:
        assert np.isnan(run.act_dead[0]).all()


def test_histograms_match_numpy_and_sum_to_one():
    cfg = full_batch(activation="tanh", init="xavier_normal")
    run = lab.inspect(cfg)
    _, _, acts, _ = reference_step0(cfg)
    edges = run.hist.act_edges
    assert edges[0] == -1 and edges[-1] == 1
    for layer, x in enumerate(acts):
        values = np.clip(x.detach().numpy().ravel(), edges[0], edges[-1])
        counts, _ = np.histogram(values, bins=edges)
        np.testing.assert_allclose(run.hist.act[0, layer], counts / values.size, atol=1e-6)
        grads = np.log10(np.maximum(np.abs(x.grad.numpy().ravel()), 1e-30))
        grads = np.clip(grads, run.hist.grad_edges[0], run.hist.grad_edges[-1])
        counts, _ = np.histogram(grads, bins=run.hist.grad_edges)
        # float32 log10 against numpy's float64 may move a value sitting on a bin edge
        assert np.abs(run.hist.grad[0, layer] - counts / grads.size).sum() <= 4 / grads.size
    np.testing.assert_allclose(run.hist.act.sum(axis=2), 1.0, rtol=1e-6)


def test_update_ratio_of_plain_sgd_is_lr_times_grad_over_weight():
    cfg = full_batch(optimizer="sgd", lr=0.05, steps=1)
    run = lab.train(cfg)
    _, _, _, weights = reference_step0(cfg)
    want = [math.log10(0.05 * w.grad.std().item() / w.detach().std().item()) for w in weights]
    np.testing.assert_allclose(run.update_ratio[0], want, atol=1e-4)
    assert np.isnan(lab.inspect(cfg).update_ratio).all()  # inspect applies no update


def test_inspect_is_step_zero_of_train():
    cfg = lab.Config(**SMALL)
    first, trained = lab.inspect(cfg), lab.train(cfg)
    assert first.recorded_steps.tolist() == [0] and trained.recorded_steps[0] == 0
    for name in ("act_mean", "act_std", "act_grad_std", "grad_norm"):
        np.testing.assert_allclose(getattr(first, name)[0], getattr(trained, name)[0], rtol=1e-6)
    assert first.loss[0] == pytest.approx(trained.loss[0], rel=1e-6)


def test_same_seed_same_numbers_and_other_seed_differs():
    cfg = lab.Config(**SMALL, dropout=0.2)
    a, b = lab.train(cfg), lab.train(cfg)
    for name in ("loss", "act_std", "act_grad_std", "update_ratio", "val_loss"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    c = lab.train(cfg.replace(seed=1))
    assert not np.array_equal(a.loss, c.loss)


def test_default_run_learns_spirals():
    run = lab.train(lab.Config())
    assert run.finished and run.diverged_at is None
    assert run.loss[-20:].mean() < 0.3 * run.loss[0]
    assert run.val_acc[-1] > 0.9  # three spirals: chance is 1/3
    assert run.steps_done == 300 and run.recorded_steps[-1] == 299
    assert run.act_std.shape == (len(run.recorded_steps), 10)
    assert {0, 299} <= set(run.hist.steps.tolist())


def test_clip_norm_bounds_the_applied_gradient_every_step():
    cfg = lab.Config(**SMALL, clip="norm", clip_threshold=0.05, lr=0.01)
    run = lab.train(cfg)
    assert np.all(run.global_grad_norm_clipped <= 0.05 * (1 + 1e-5))
    over = run.global_grad_norm > 0.05
    assert over.any() and np.array_equal(run.clipped, over)
    np.testing.assert_allclose(run.global_grad_norm_clipped[over], 0.05, rtol=1e-4)
    np.testing.assert_allclose(run.global_grad_norm_clipped[~over], run.global_grad_norm[~over])
    assert run.clipped_fraction == pytest.approx(over.mean())


def test_clip_value_applies_clamped_gradient():
    cfg = full_batch(clip="value", clip_threshold=0.002, steps=1)
    run = lab.train(cfg)
    net, _, _, _ = reference_step0(cfg)
    clipped = torch.cat([p.grad.flatten().clamp(-0.002, 0.002) for p in net.parameters()])
    want = clipped.double().norm().item()
    assert run.global_grad_norm_clipped[0] == pytest.approx(want, rel=1e-4)
    assert bool(run.clipped[0])


def test_learning_rate_schedules_match_torch_schedulers():
    for schedule, make in (
        ("cosine", lambda o, n: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=n)),
        ("step", lambda o, n: torch.optim.lr_scheduler.MultiStepLR(o, [n // 2, 3 * n // 4], 0.1)),
    ):
        cfg = lab.Config(**{**SMALL, "steps": 40}, lr_schedule=schedule, lr=0.01)
        run = lab.train(cfg)
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.01)
        sched, want = make(opt, cfg.steps), []
        for _ in range(cfg.steps):
            want.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        np.testing.assert_allclose(run.lr, want, rtol=1e-9, atol=1e-15)


def test_divergence_is_a_result_not_an_exception():
    run = lab.train(lab.Config(**SMALL, lr=10.0, init="normal", init_gain=3.0, optimizer="sgd"))
    k = run.diverged_at
    assert k is not None and run.status() == f"diverged at step {k}"
    assert len(run.loss) == k + 1
    assert np.all(np.isfinite(run.loss[:k])) and np.all(np.isfinite(run.global_grad_norm[:k]))
    assert not (np.isfinite(run.loss[k]) and np.isfinite(run.global_grad_norm[k]))
    assert np.all(run.recorded_steps <= k) and np.all(run.hist.steps <= k)


def test_cancel_stops_within_one_step():
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 7

    run = lab.train(lab.Config(**SMALL), cancel=cancel)
    assert run.cancelled and run.steps_done == 7 and len(calls) == 8
    assert run.hist.steps[0] == 0 and run.hist.steps[-1] == 6  # the last step done
    assert run.status().startswith("cancelled at step 7")


def test_frames_grow_and_are_consistent():
    frames = []
    run = lab.train(lab.Config(**SMALL), on_frame=frames.append, frame_every=1)
    assert len(frames) == 41 and frames[-1] is run and run.finished  # 40 steps + the final
    done = [f.steps_done for f in frames]
    assert done == sorted(done) and done[-1] == 40
    for f in frames:
        n = f.steps_done
        assert len(f.lr) == len(f.global_grad_norm) == len(f.clipped) == n
        assert np.all(f.recorded_steps < n) and np.all(f.hist.steps < n)
        assert np.all(f.val_steps <= n)
        for name in lab.run.LAYER_FIELDS:
            assert getattr(f, name).shape == (len(f.recorded_steps), 6)
        np.testing.assert_array_equal(f.loss, run.loss[:n])  # a frame is a prefix of the run


def test_early_stopping_stops_after_patience_evaluations_without_improvement():
    run = lab.train(lab.Config(**{**SMALL, "steps": 3000}, early_stopping=3, lr=0.03))
    k = run.stopped_early_at
    assert k is not None and k < 3000 and run.steps_done == k
    assert run.val_steps[-1] == k
    best_before = run.val_loss[:-3].min()
    assert np.all(run.val_loss[-3:] >= best_before - 1e-4)


def test_probe_detaches_even_on_error():
    net = lab.build_model(lab.Config(**SMALL))
    with pytest.raises(RuntimeError):
        with probe(net) as p:
            net(torch.zeros(3, 2))
            assert len(p.acts) == 6
            raise RuntimeError("boom")
    assert all(b.tap is None for b in net.blocks)
    assert not net._forward_hooks and all(not m._forward_hooks for m in net.modules())


def test_device_choice():
    run = lab.inspect(lab.Config(**SMALL))
    want = "cuda" if torch.cuda.is_available() else "cpu"
    assert run.device.startswith(want)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device='cuda'"):
            lab.inspect(lab.Config(**SMALL, device="cuda"))


def test_cnn_on_digits_learns():
    cfg = lab.Config(arch="cnn", dataset="digits", depth=3, width=8, steps=60, n_samples=500)
    run = lab.train(cfg)
    assert run.act_std.shape[1] == 3
    assert run.val_acc[-1] > 0.5  # ten classes: chance is 0.1


@st.composite
def small_configs(draw):
    dataset = draw(st.sampled_from(C.SYNTHETIC_DATASETS + ("digits",)))
    batchnorm = draw(st.sampled_from(C.BATCHNORMS))
    return lab.Config(
        arch=draw(st.sampled_from(C.ARCHS)) if dataset == "digits" else "mlp",
        depth=draw(st.integers(1, 12)), width=draw(st.integers(4, 32)),
        activation=draw(st.sampled_from(C.ACTIVATIONS)), residual=draw(st.booleans()),
        init=draw(st.sampled_from(C.INITS)),
        init_gain=draw(st.floats(1e-3, 100.0)), batchnorm=batchnorm,
        dropout=draw(st.floats(0.0, 0.95)), batch_size=draw(st.integers(2, 256)),
        clip=draw(st.sampled_from(C.CLIPS)), clip_threshold=draw(st.floats(1e-4, 1e3)),
        dataset=dataset, standardize=draw(st.sampled_from(C.SCALINGS)),
        noise=draw(st.floats(0.0, 5.0)),
        n_samples=draw(st.integers(20, 300)), seed=draw(st.integers(0, 2**31 - 1)),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_configs())
def test_inspect_of_any_valid_config_is_finite_or_says_diverged(cfg):
    run = lab.inspect(cfg)
    assert run.finished and run.steps_done == 1
    values = [run.loss, run.global_grad_norm, run.act_mean, run.act_std, run.act_grad_std,
              run.grad_norm, run.grad_rms]
    if run.diverged_at is None:
        assert all(np.all(np.isfinite(v)) for v in values), run.config
    else:
        assert run.diverged_at == 0


def test_rmsprop_first_step_is_the_hand_computed_update():
    # s = (1 - alpha) g^2 after one step, so w moves by lr g / (sqrt(0.01) |g| + eps) ~ 10 lr
    cfg = full_batch(optimizer="rmsprop", lr=1e-3, steps=1)
    run = lab.train(cfg)
    net, _, _, _ = reference_step0(cfg)
    for name, p in net.named_parameters():
        g = p.grad.double()
        want = p.detach().double() - 1e-3 * g / ((0.01 * g * g).sqrt() + 1e-8)
        np.testing.assert_allclose(run.model_state[name].double(), want, rtol=1e-4, atol=1e-6,
                                   err_msg=name)
    w = net.blocks[2].layer.weight
    moved = (run.model_state["blocks.2.layer.weight"] - w.detach()).abs()
    big = w.grad.abs() > 1e-4  # eps = 1e-8 is under 0.1% of 0.1 |g|
    assert big.sum() > 50
    np.testing.assert_allclose(moved[big], 1e-2, rtol=1e-3)  # 10 lr: sqrt(1 / (1 - 0.99))


def test_plateau_factor_drops_after_patience_evaluations_without_improvement():
    from lab.evaluation import PLATEAU_FACTOR, PLATEAU_PATIENCE, Plateau

    assert (PLATEAU_FACTOR, PLATEAU_PATIENCE) == (0.1, 3)
    p = Plateau()
    assert [p.see(x) for x in (1.0, 0.9, 0.8, 0.7, 0.6)] == [1.0] * 5  # improving: no cut
    # 0.69995 improves by less than MIN_DELTA: no improvement, as Keras's min_delta
    assert [p.see(x) for x in (0.6, 0.65, 0.59995)] == [1.0, 1.0, 0.1]
    assert [p.see(x) for x in (0.7, 0.6)] == [0.1, 0.1]  # the count starts again after a cut
    assert p.see(0.5) == 0.1 and p.since_best == 0  # an improvement resets it
    assert [p.see(x) for x in (0.5, float("nan"), 0.55)] == [0.1, 0.1, pytest.approx(0.01)]


def test_plateau_schedule_cuts_the_recorded_lr_where_the_val_losses_say():
    cfg = lab.Config(**{**SMALL, "steps": 400}, lr=0.03, lr_schedule="plateau")
    run = lab.train(cfg)
    assert run.steps_done == 400 and run.diverged_at is None
    # the rule, recomputed from the recorded validation losses: 3 evaluations in a row without
    # a 1e-4 improvement multiply the rate by 0.1 for every step from that evaluation on
    want, best, since, scale = np.full(400, 0.03), math.inf, 0, 1.0
    for step, loss in zip(run.val_steps, run.val_loss, strict=True):
        if loss < best - 1e-4:
            best, since = loss, 0
        else:
            since += 1
            if since == 3:
                scale, since = scale * 0.1, 0
        want[step:] = 0.03 * scale
    np.testing.assert_allclose(run.lr, want, rtol=1e-12)
    assert run.lr[-1] <= 0.003  # the val loss of this small net does stall within 400 steps
    assert lab.inspect(cfg).lr[0] == 0.03  # inspect: the configured rate
