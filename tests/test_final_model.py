"""What a Run reports is its final model: the last evaluation, model_state and the predictions
are of the same weights (the best ones with restore_best), checked by rebuilding the network."""

import contextlib
import dataclasses
import math
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import lab
import lab.cache
import lab.diagnosis
from lab.batched import BatchTrainer
from lab.cache import ResultCache, key
from lab.data import load
from lab.evaluation import MAX_VAL
from lab.loop import one_thread
from lab.trainer import predictions

SMALL = dict(n_samples=200, depth=6, width=16, steps=40)
# the same network through its ways of ending: all steps, early stopping, best weights restored
PATIENT = dict(n_samples=200, depth=6, width=16, steps=3000, early_stopping=3, lr=0.03)


@contextlib.contextmanager
def trainer_threads(cfg: lab.Config):
    """The CPU thread count lab.train uses for `cfg` (one for small MLPs), so sums match."""
    before = torch.get_num_threads()
    if one_thread(cfg, 1, torch.device("cpu")):
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def measure(cfg: lab.Config, state: dict | None) -> dict:
    """Loss and accuracy of the net with `state` (None: as initialized), computed here, on the
    validation examples lab evaluates and on the first as many training examples."""
    data = load(cfg)
    net = lab.build_model(cfg, data)
    if state is not None:
        net.load_state_dict(state)
    net.eval()
    x_val, y_val = data.x_val[:MAX_VAL], data.y_val[:MAX_VAL]
    n = min(len(x_val), len(data.x_train))
    out = {"n_fit": n}
    with torch.no_grad(), trainer_threads(cfg):
        for name, x, y in (("val", x_val, y_val), ("fit", data.x_train[:n], data.y_train[:n])):
            logits = net(x)
            out[f"{name}_loss"] = float(F.cross_entropy(logits, y))
            out[f"{name}_hits"] = int((logits.argmax(dim=1) == y).sum())
        out["predictions"] = predictions(net, data, cfg, torch.device("cpu"))
    return out


def assert_evaluation_is_of(run: lab.Run, i: int, state: dict | None) -> None:
    """Evaluation i of `run` is exactly what the weights `state` give, measured independently."""
    m = measure(run.config, state)
    n_val = min(MAX_VAL, len(load(run.config).x_val))
    assert run.val_loss[i] == m["val_loss"]  # same weights, same device, same sums: bit for bit
    assert run.train_eval_loss[i] == m["fit_loss"]
    assert abs(run.val_acc[i] - m["val_hits"] / n_val) < 1e-6  # float32 mean of 0/1 values
    assert abs(run.train_acc[i] - m["fit_hits"] / m["n_fit"]) < 1e-6


def assert_predictions_are_of(run: lab.Run, state: dict) -> None:
    """The prediction panel's data (grid or images) come from the weights `state`."""
    want = measure(run.config, state)["predictions"]
    assert want  # a grid or images
    for field in dataclasses.fields(want):
        got, expected = getattr(run.predictions, field.name), getattr(want, field.name)
        if expected is None:
            assert got is None, field.name
        else:
            np.testing.assert_array_equal(got, expected, err_msg=field.name)


@pytest.mark.parametrize("kw", [
    dict(SMALL),  # the default network, smaller: Adam, relu
    dict(SMALL, batchnorm="before", dropout=0.2, optimizer="momentum", lr=0.05),  # eval mode
    dict(SMALL, steps=37),  # the last step is no multiple of the evaluation stride
    dict(arch="cnn", dataset="digits", depth=2, width=8, steps=15, n_samples=300),
])
def test_the_last_evaluation_is_of_the_final_weights(kw):
    cfg = lab.Config(**kw)
    run = lab.train(cfg)
    assert run.status() == f"finished {cfg.steps} steps" and run.restored_from is None
    # after the last update: labelled with the number of steps done
    assert run.val_steps[-1] == run.steps_done == cfg.steps and run.final_eval == -1
    assert len(run.train_acc) == len(run.train_eval_loss) == len(run.val_steps)
    assert_evaluation_is_of(run, -1, run.model_state)
    assert_evaluation_is_of(run, 0, None)  # step 0: the initialization (build_model is seeded)
    assert_predictions_are_of(run, run.model_state)
    lines = run.summary(timing=False).splitlines()
    assert (f"validation accuracy {run.val_acc[-1]:.1%} (loss {run.val_loss[-1]:.3f}), "
            f"training accuracy {run.train_acc[-1]:.1%} "
            f"(loss {run.train_eval_loss[-1]:.3f})") in lines


def test_training_accuracy_is_an_argmax_count_on_a_fixed_training_subset():
    cfg = lab.Config(**SMALL)
    run = lab.train(cfg)
    m = measure(cfg, run.model_state)
    data = load(cfg)
    assert m["n_fit"] == len(data.x_val) < len(data.x_train)  # as many as validation examples
    # the subset is fixed: the curve moves only when the weights do
    assert run.train_acc[-1] * m["n_fit"] == pytest.approx(m["fit_hits"], abs=1e-3)
    assert np.all((run.train_acc >= 0) & (run.train_acc <= 1))
    assert run.train_acc[-1] > run.train_acc[0]  # it learned its own training examples


def test_early_stopping_ends_with_the_weights_it_evaluated_last():
    run = lab.train(lab.Config(**PATIENT))
    k = run.stopped_early_at
    assert k is not None and run.val_steps[-1] == k == run.steps_done  # no update after it
    assert run.restored_from is None and run.status() == f"stopped early at step {k}"
    assert_evaluation_is_of(run, -1, run.model_state)


def test_restore_best_ends_with_the_weights_of_the_lowest_validation_loss():
    cfg = lab.Config(**PATIENT, restore_best=True)
    run = lab.train(cfg)
    last = lab.train(cfg.replace(restore_best=False))  # the same training, without restoring
    np.testing.assert_array_equal(run.val_loss, last.val_loss)  # restoring changes no step
    best = int(np.argmin(run.val_loss))
    k = run.stopped_early_at
    assert k is not None and best < len(run.val_loss) - 1  # patience ran out after the best
    assert run.restored_from == run.val_steps[best] and run.final_eval == best
    assert_evaluation_is_of(run, best, run.model_state)  # the restored weights give the minimum
    assert_evaluation_is_of(last, -1, last.model_state)
    assert_predictions_are_of(run, run.model_state)
    assert any(not torch.equal(run.model_state[n], last.model_state[n]) for n in run.model_state)
    assert run.status() == (f"stopped early at step {k}; showing the best weights, from step "
                            f"{run.restored_from}")
    assert (f"best weights (step {run.restored_from}): validation accuracy "
            f"{run.val_acc[best]:.1%} (loss {run.val_loss[best]:.3f})") in run.summary()


def test_restore_best_on_a_run_that_was_never_stopped():
    # patience longer than the run: it ends at its last step, then the best weights are loaded
    cfg = lab.Config(**{**SMALL, "steps": 200}, lr=0.03, early_stopping=1000, restore_best=True)
    run = lab.train(cfg)
    assert run.stopped_early_at is None and run.val_steps[-1] == 200
    best = int(np.argmin(run.val_loss))
    if best == len(run.val_loss) - 1:  # the final weights are the best: nothing to restore
        assert run.restored_from is None and run.status() == "finished 200 steps"
    else:
        assert run.restored_from == run.val_steps[best]
        assert run.status() == f"finished 200 steps; showing the best weights, from step " \
                               f"{run.restored_from}"
    assert_evaluation_is_of(run, best, run.model_state)


def test_cancelled_and_time_limited_runs_end_with_an_evaluation_of_their_weights():
    calls = []
    cfg = lab.Config(**SMALL, early_stopping=50, restore_best=True)
    run = lab.train(cfg, cancel=lambda: calls.append(1) or len(calls) > 7)
    assert run.cancelled and run.steps_done == 7 and run.val_steps[-1] == 7
    assert run.restored_from is None  # a cancelled run is abandoned, not finished: no restoring
    assert_evaluation_is_of(run, -1, run.model_state)
    limited = lab.train(lab.Config(**SMALL), max_seconds=1e-9)  # stops before step 1
    assert limited.time_limited_at == 1 and limited.val_steps.tolist() == [0, 1]
    assert_evaluation_is_of(limited, -1, limited.model_state)


# configs whose training blows up after a few steps (SGD far above a stable learning rate)
BLOWUPS = [dict(SMALL, steps=100, lr=lr, optimizer=opt, init=init)
           for lr, opt, init in ((2.0, "momentum", "kaiming_normal"),
                                 (5.0, "sgd", "kaiming_normal"), (2.0, "sgd", "normal"),
                                 (30.0, "sgd", "normal"))]


def blowup_at_last_update() -> lab.Config:
    """A config whose last update makes the weights non-finite while every recorded loss and
    gradient is finite: a blow-up that shows first in a forward pass (the loss at step k),
    trained for exactly k steps."""
    for kw in BLOWUPS:
        cfg = lab.Config(**kw)
        run = lab.train(cfg)
        k = run.diverged_at
        if k is not None and k >= 2 and not np.isfinite(run.loss[k]):
            return cfg.replace(steps=k)  # steps 0..k-1 train exactly as in the longer run
    raise AssertionError("no config blew up in a forward pass; change BLOWUPS")


def test_a_run_whose_last_update_blows_up_is_diverged_not_finished():
    cfg = blowup_at_last_update()
    k = cfg.steps
    run = lab.train(cfg)
    assert np.all(np.isfinite(run.loss)) and np.all(np.isfinite(run.global_grad_norm))
    assert len(run.loss) == k  # nothing recorded failed: only the weights after the last update
    assert run.diverged_at == k and run.status() == f"diverged at step {k}"
    assert run.val_steps[-1] == k and not np.isfinite(run.val_loss[-1])  # the evidence, kept
    assert np.all(np.isfinite(run.val_loss[:-1]))
    assert not math.isfinite(measure(cfg, run.model_state)["val_loss"])  # the weights it keeps
    assert lab.diagnosis.diagnose(run).kind == "diverged"


def test_batched_members_report_a_last_update_blow_up_as_lab_train_does():
    cfg = blowup_at_last_update()
    calm = cfg.replace(lr=0.01, seed=3)
    runs = BatchTrainer([cfg, calm]).run()
    alone = [lab.train(cfg), lab.train(calm)]
    for run, ref in zip(runs, alone, strict=True):
        assert run.diverged_at == ref.diverged_at and run.status() == ref.status()
        np.testing.assert_array_equal(run.val_steps, ref.val_steps)
    assert runs[0].diverged_at == cfg.steps and runs[1].diverged_at is None
    np.testing.assert_allclose(runs[1].train_acc, alone[1].train_acc, atol=1e-6)


def test_batched_final_evaluation_is_of_each_members_final_weights():
    base = lab.Config(**SMALL, optimizer="sgd", lr=0.05, batchnorm="after")
    configs = [base.replace(seed=s, init_gain=g) for s, g in ((0, 1.0), (1, 0.7))]
    for run in BatchTrainer(configs).run():
        assert run.val_steps[-1] == run.steps_done == base.steps
        m = measure(run.config, run.model_state)
        # a batched matmul rounds differently from a plain one: equal within rounding
        assert run.val_loss[-1] == pytest.approx(m["val_loss"], rel=1e-5)
        assert run.train_eval_loss[-1] == pytest.approx(m["fit_loss"], rel=1e-5)
        assert abs(run.train_acc[-1] * m["n_fit"] - m["fit_hits"]) <= 1 + 1e-3


def test_the_cache_round_trips_the_new_fields_and_never_serves_a_stale_layout(tmp_path):
    cfg = lab.Config(**PATIENT, restore_best=True)
    run = lab.train(cfg)
    cache = ResultCache(tmp_path / "cache")
    try:
        assert cache.put(run)
        hit = cache.get(cfg)
        assert hit.restored_from == run.restored_from is not None
        for name in ("train_acc", "train_eval_loss", "val_loss"):
            np.testing.assert_array_equal(getattr(hit, name), getattr(run, name))
        assert hit.status() == run.status()
        # an entry pickled by a Run class without today's fields is a miss, and is dropped
        stale = dataclasses.replace(run)
        del stale.__dict__["train_acc"]
        cache._store.set(key(cfg), pickle.dumps(stale))
        assert cache.get(cfg) is None and key(cfg) not in cache._store
    finally:
        cache.close()


def test_the_cache_key_names_the_runs_layout_and_meaning(monkeypatch):
    cfg = lab.Config(**SMALL)
    before = key(cfg)
    monkeypatch.setattr(lab.cache, "RECORD_VERSION", lab.run.RECORD_VERSION + 1)
    assert key(cfg) != before  # the same fields, recorded differently: new entries
    monkeypatch.undo()
    monkeypatch.setattr(lab.cache, "_LAYOUT", [n for n in lab.cache._LAYOUT if n != "train_acc"])
    assert key(cfg) != before  # a Run without the field: its entries are never looked up


def test_restore_best_is_a_config_field_everywhere_a_field_is():
    cfg = lab.Config(early_stopping=5, restore_best=True)
    assert lab.Config.from_query(cfg.to_query()) == cfg and "restore_best=true" in cfg.to_query()
    assert key(cfg) != key(cfg.replace(restore_best=False))
