"""Scoring a trained net: the rebuilt network repeats the evaluations the trainer recorded."""

import dataclasses

import pytest
import torch

import lab
from lab.data import load
from lab.evaluation import MAX_VAL
from lab.scoring import accuracy, trained_model, weight_norm

# BatchNorm and dropout: eval mode matters. 300 examples: the whole validation split is
# evaluated (fewer than MAX_VAL), so the recorded accuracy is over the same examples.
BN_DROP = lab.Config(n_samples=300, depth=4, width=16, steps=30, batchnorm="before",
                     dropout=0.2, optimizer="momentum", lr=0.05)
PLAIN = lab.Config(n_samples=300, depth=4, width=16, steps=30)


@pytest.fixture(scope="module")
def run():
    return lab.train(BN_DROP)


def test_eval_accuracy_repeats_the_recorded_final_validation_accuracy(run):
    data = load(run.config)
    assert len(data.x_val) <= MAX_VAL and run.restored_from is None
    assert accuracy(run) == pytest.approx(run.val_acc[-1], abs=1e-6)
    assert accuracy(trained_model(run), data) == pytest.approx(run.val_acc[-1], abs=1e-6)


def test_train_split_repeats_the_recorded_training_subset_accuracy(run):
    data = load(run.config)
    n = min(len(data.x_val), len(data.x_train))  # the trainer's fixed subset: the first n
    subset = dataclasses.replace(data, x_train=data.x_train[:n], y_train=data.y_train[:n])
    assert accuracy(run, subset, split="train") == pytest.approx(run.train_acc[-1], abs=1e-6)


def test_modes_agree_without_batchnorm_or_dropout_and_the_net_is_left_as_it_was(run):
    plain = lab.train(PLAIN)
    for split in ("train", "val"):  # nothing depends on the mode: bit-equal logits
        assert accuracy(plain, split=split, mode="train") == accuracy(plain, split=split)
    net, data = trained_model(run), load(run.config)
    assert not net.training  # trained_model hands it over in eval mode
    before = {k: v.clone() for k, v in net.state_dict().items()}
    accuracy(net, data, mode="train")
    assert not net.training
    for k, v in net.state_dict().items():  # BN's running averages untouched by the train pass
        assert torch.equal(v, before[k]), k
    net.train()
    accuracy(net, data)
    assert net.training


def test_trained_model_holds_the_runs_weights_and_refuses_a_frame(run):
    net = trained_model(run)
    for k, v in net.state_dict().items():
        assert torch.equal(v, run.model_state[k]), k
    with pytest.raises(ValueError, match="no weights"):
        trained_model(dataclasses.replace(run, model_state=None))
    with pytest.raises(ValueError, match="split="):
        accuracy(run, split="test")
    with pytest.raises(ValueError, match="needs `data`"):
        accuracy(net)


def test_weight_norm_of_orthogonal_layers_is_the_root_of_their_row_count():
    # orthogonal init (gain 1) gives each matrix orthonormal rows (or columns, if it has fewer):
    # its squared Frobenius norm is min(rows, columns). Layer 1: 16 x 2, layers 2-4: 16 x 16,
    # head: 3 x 16; the biases are zero and are not counted anyway
    run = lab.inspect(lab.Config(n_samples=200, depth=4, width=16, init="orthogonal"))
    assert weight_norm(run) ** 2 == pytest.approx(2 + 3 * 16 + 3, rel=1e-5)
    with pytest.raises(ValueError, match="no weights"):
        weight_norm(dataclasses.replace(run, model_state=None))
