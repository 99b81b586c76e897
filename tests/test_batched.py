"""Batched training: each member's Run must be the Run lab.train records for that config alone.

The reference is lab.train itself: the same loop (lab.loop) and optimizer (lab.optim, checked
against torch.optim in tests/test_optim.py), but nn.Linear and nn.BatchNorm1d layers on one
network where a batch runs stacked layers (lab.stacked) over a members axis. Float rounding
differs between a batched matmul and a plain one, and Adam amplifies such differences over many
steps, so the long comparisons use SGD (where they stay ~1e-6) and the Adam/BatchNorm/clipping
ones are short.
"""

import numpy as np
import pytest

import lab
from lab import batched
from lab.batched import BatchTrainer, batchable, groups, train_many
from lab.config import Config
from lab.run import LAYER_FIELDS
from lab.sweep import sweep

PER_STEP = ("loss", "lr", "global_grad_norm", "global_grad_norm_clipped")
EVAL_FIELDS = ("val_loss", "val_acc", "train_eval_loss", "train_acc")


def assert_same_run(batch_run, alone, rtol=1e-4, atol=1e-6):
    """Every recorded quantity of the two Runs agrees (NaN where the other has NaN)."""
    assert batch_run.diverged_at == alone.diverged_at
    assert batch_run.restored_from == alone.restored_from
    assert batch_run.status() == alone.status()
    assert batch_run.steps_done == alone.steps_done
    np.testing.assert_array_equal(batch_run.recorded_steps, alone.recorded_steps)
    np.testing.assert_array_equal(batch_run.val_steps, alone.val_steps)
    np.testing.assert_array_equal(batch_run.clipped, alone.clipped)
    for name in PER_STEP + LAYER_FIELDS + EVAL_FIELDS:
        np.testing.assert_allclose(getattr(batch_run, name), getattr(alone, name), rtol=rtol,
                                   atol=atol, err_msg=name)
    np.testing.assert_array_equal(batch_run.hist.steps, alone.hist.steps)
    span = alone.hist.act_edges[-1] - alone.hist.act_edges[0]
    np.testing.assert_allclose(batch_run.hist.act_edges, alone.hist.act_edges, rtol=0,
                               atol=1e-5 * span)
    # a value within rounding of a bin edge may land in the neighbouring bin
    assert np.abs(batch_run.hist.act - alone.hist.act).max() < 0.01
    assert np.abs(batch_run.hist.grad - alone.hist.grad).max() < 0.01


def test_sgd_members_match_separate_runs_over_a_whole_training():
    base = Config(optimizer="sgd", lr=0.05, steps=120, depth=6, width=32, activation="tanh",
                  init="xavier_normal")
    configs = [base.replace(seed=0), base.replace(seed=1, lr=0.1),
               base.replace(seed=2, init_gain=1.5, weight_decay=1e-3),
               base.replace(seed=3, init="orthogonal", lr_schedule="cosine")]
    runs = BatchTrainer(configs).run()
    for cfg, run in zip(configs, runs, strict=True):
        alone = lab.train(cfg)
        assert run.config == cfg and run.finished
        assert_same_run(run, alone, rtol=1e-3, atol=1e-5)
        for key, value in alone.model_state.items():
            np.testing.assert_allclose(run.model_state[key], value, rtol=1e-3, atol=1e-5,
                                       err_msg=key)
        # the decision-boundary grid comes from the member's own trained weights
        agree = (run.predictions.grid_class == alone.predictions.grid_class).mean()
        assert agree > 0.99
        assert run.batch_members == len(configs) and alone.batch_members == 1


@pytest.mark.parametrize("changes", [
    # not Adam with BatchNorm: a bias that BN's mean subtraction cancels (before BN, or before
    # a ReLU unit active on the whole batch) has a true gradient of 0, and Adam turns its float
    # noise into steps of size lr whose sign depends on rounding
    dict(optimizer="sgd", lr=0.05, batchnorm="after"),
    dict(optimizer="momentum", lr=0.02, batchnorm="before", residual=True),
    dict(optimizer="adam", clip="norm", activation="gelu"),
    dict(optimizer="sgd", lr=0.1, clip="value", activation="sigmoid", init="xavier_uniform"),
    dict(optimizer="adam", activation="selu", init="lecun_normal", weight_decay=1e-2),
    dict(optimizer="rmsprop", lr=1e-3, activation="gelu", weight_decay=1e-3),
])
def test_every_optimizer_norm_and_clip_matches_separate_runs(changes):
    # Adam and RMSprop normalize each step, so rounding differences grow faster: fewer steps
    base = Config(steps=10 if changes["optimizer"] in ("adam", "rmsprop") else 25, depth=5,
                  width=24,
                  **changes)
    thresholds = (1e-4, 1e-3, 1.0) if base.clip == "value" else (0.5, 2.0, 50.0)
    configs = [base.replace(seed=s, clip_threshold=t, init_gain=g)
               for s, t, g in zip((0, 1, 2), thresholds, (1.0, 0.7, 1.3), strict=True)]
    alones = [lab.train(c) for c in configs]
    for run, alone in zip(BatchTrainer(configs).run(), alones, strict=True):
        assert_same_run(run, alone)
        if base.batchnorm != "none":  # running statistics, used in eval mode, also match
            state, ref = run.model_state, alone.model_state
            for key in ref:
                if "running" in key or "num_batches" in key:
                    np.testing.assert_allclose(state[key], ref[key], rtol=1e-4, atol=1e-6)
    if base.clip != "none":  # the thresholds were chosen so that clipping acts somewhere
        assert any(r.clipped.any() for r in alones)


def test_plateau_runs_train_alone_as_lab_train_does():
    # the plateau rate follows each run's own validation losses: no batch, lab.train itself
    base = Config(steps=200, depth=3, width=16, n_samples=200, lr=0.03, lr_schedule="plateau")
    configs = [base, base.replace(seed=1), base.replace(lr_schedule="constant")]
    assert not batchable(configs[0]) and batchable(configs[2])
    assert [len(g) for g in groups(configs)] == [1, 1, 1]
    runs = train_many(configs)
    for run, cfg in zip(runs[:2], configs[:2], strict=True):
        alone = lab.train(cfg)
        np.testing.assert_array_equal(run.lr, alone.lr)
        np.testing.assert_array_equal(run.loss, alone.loss)
        assert run.batch_members == 1
    assert runs[0].lr[-1] < base.lr  # it did cut the rate
    with pytest.raises(ValueError, match="plateau"):
        BatchTrainer(configs[:2])


def test_a_diverging_member_stops_alone_at_its_own_step():
    base = Config(optimizer="sgd", steps=80, depth=4, width=16, activation="relu")
    configs = [base.replace(lr=0.05), base.replace(lr=30.0, init_gain=2.0), base.replace(seed=5)]
    runs = BatchTrainer(configs).run()
    alone = [lab.train(c) for c in configs]
    assert alone[1].diverged_at is not None  # the physics: this learning rate blows up
    assert runs[1].diverged_at == alone[1].diverged_at
    assert runs[1].steps_done == alone[1].diverged_at + 1
    assert "diverged at step" in runs[1].status()
    for i in (0, 2):  # its neighbours never see it
        assert runs[i].diverged_at is None
        assert_same_run(runs[i], alone[i], rtol=1e-3, atol=1e-5)


def test_dropout_runs_train_alone_so_each_keeps_its_own_masks():
    configs = [Config(dropout=0.3, steps=10, depth=3, width=16, seed=s) for s in range(3)]
    assert groups(configs) == [[0], [1], [2]]
    for cfg, run in zip(configs, train_many(configs), strict=True):
        np.testing.assert_array_equal(run.loss, lab.train(cfg).loss)


def test_train_many_groups_by_architecture_and_keeps_order(monkeypatch):
    seen = []
    real = BatchTrainer.run

    def spy(self):
        seen.append(len(self.configs))
        return real(self)

    monkeypatch.setattr(BatchTrainer, "run", spy)
    a = Config(steps=15, depth=3, width=16)
    configs = [a, a.replace(depth=4), a.replace(seed=1), a.replace(early_stopping=2),
               a.replace(lr=0.01), Config(arch="cnn", dataset="digits", depth=2, width=4,
                                          steps=10, n_samples=200)]
    assert groups(configs) == [[0, 2, 4], [1], [3], [5]]
    calls = []
    runs = train_many(configs, progress=lambda done, total: calls.append((done, total)))
    assert seen == [3]  # the one group of three trained batched; the rest alone
    assert [r.config for r in runs] == configs
    assert calls[0] == (0, 6) and calls[-1] == (6, 6)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    np.testing.assert_allclose(runs[1].loss, lab.train(configs[1]).loss)  # alone = lab.train


def test_groups_split_where_the_parameters_would_not_fit(monkeypatch):
    cfg = Config(steps=5, depth=2, width=8)
    n_params = sum(p.numel() for p in lab.build_model(cfg).parameters())
    monkeypatch.setattr(batched, "MAX_FLOATS", 3 * n_params)
    assert groups([cfg.replace(seed=s) for s in range(7)]) == [[0, 1, 2], [3, 4, 5], [6]]


def test_batch_trainer_refuses_configs_of_different_architectures():
    with pytest.raises(ValueError, match="differ only in"):
        BatchTrainer([Config(depth=3), Config(depth=4)])


def test_sweep_trains_its_points_batched_when_asked(monkeypatch):
    seen = []
    real = BatchTrainer.run
    monkeypatch.setattr(BatchTrainer, "run", lambda self: seen.append(self.n) or real(self))
    points = sweep(Config(steps=20, depth=3, width=16), {"init_gain": [0.5, 1.0, 2.0]},
                   batched=True)
    assert seen == [3]
    assert [p.run.config.init_gain for p in points] == [0.5, 1.0, 2.0]


def test_sweep_by_default_gives_exactly_what_lab_train_gives():
    base = Config(steps=20, depth=3, width=16)
    points = sweep(base, {"init_gain": [0.5, 2.0]})
    for p in points:
        np.testing.assert_array_equal(p.run.loss, lab.train(p.run.config).loss)
        assert p.run.batch_members == 1
