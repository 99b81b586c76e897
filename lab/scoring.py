"""Scoring a trained net: rebuild it from a Run's final weights and count what it gets right.

The lessons ask questions the recorded evaluations do not answer: accuracy on the whole
training set, or with BatchNorm in training mode. Rebuilding the net is the same three steps
each time (build, load model_state, pick the mode), so they live here once.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from lab.data import Dataset, load
from lab.models import build_model
from lab.run import Run

SPLITS = ("train", "val")
MODES = ("eval", "train")


def trained_model(run: Run, data: Dataset | None = None) -> nn.Module:
    """The network `run` trained, with its final weights (model_state), in eval mode."""
    if run.model_state is None:
        raise ValueError("this Run holds no weights: only a finished run has them, not a frame")
    net = build_model(run.config, data)
    net.load_state_dict(run.model_state)
    return net.eval()


def accuracy(source: Run | nn.Module, data: Dataset | None = None, split: str = "val",
             mode: str = "eval") -> float:
    """Fraction of `split`'s examples ("train" or "val", all of them) whose argmax is right.

    `source` is a finished Run (its net is rebuilt; `data` defaults to its config's dataset) or
    a network (then `data` is needed). `mode="train"` runs BatchNorm on the split's own batch
    statistics and dropout as in training. A network passed in is left as it was: its mode is
    restored, and in train mode a copy is scored (BatchNorm would update its running averages).
    """
    if split not in SPLITS or mode not in MODES:
        raise ValueError(f"split={split!r}, mode={mode!r}: allowed {SPLITS} and {MODES}")
    if isinstance(source, Run):
        data = data if data is not None else load(source.config)
        net = trained_model(source, data)
    elif data is None:
        raise ValueError("a network needs `data` to be scored on")
    else:
        net = copy.deepcopy(source) if mode == "train" else source
    x, y = (data.x_train, data.y_train) if split == "train" else (data.x_val, data.y_val)
    was_training = net.training
    net.train(mode == "train")
    try:
        with torch.no_grad():
            return float((net(x).argmax(1) == y).float().mean())
    finally:
        net.train(was_training)


def weight_norm(run: Run) -> float:
    """L2 norm of all of `run`'s final weight tensors together (the parameters named "weight":
    layers, head, and BatchNorm's gamma where there is one; no biases)."""
    if run.model_state is None:
        raise ValueError("this Run holds no weights: only a finished run has them, not a frame")
    weights = [v.flatten().double() for k, v in run.model_state.items() if k.endswith("weight")]
    return float(torch.cat(weights).norm())
