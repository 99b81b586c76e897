"""Controls: one ipywidget per Config field, labelled in plain words, ranges as Config allows."""

from __future__ import annotations

import math
from typing import Any

import ipywidgets as W

from lab import i18n
from lab.config import ACTIVATIONS, BATCHNORMS, CLIPS, INITS, OPTIMIZERS, SCALINGS, SCHEDULES
from lab.data import available_datasets

# field -> (group, plain-words label, tooltip)
LABELS = {
    "depth": ("Model", "Hidden layers", "How many hidden layers: deeper nets vanish or explode"),
    "width": ("Model", "Units per layer", "Neurons in each hidden layer"),
    "activation": ("Model", "Activation", "The nonlinearity after each hidden layer"),
    "residual": ("Model", "Skip connections", "Add each block's input to its output"),
    "init": ("Initialization", "Weight init", "How the starting weights are drawn"),
    "init_gain": ("Initialization", "Init scale", "Multiplier on the init (std for 'normal')"),
    "batchnorm": ("Regularization", "BatchNorm", "Normalize before or after each activation"),
    "dropout": ("Regularization", "Dropout", "Chance that each unit is dropped while training"),
    "weight_decay": ("Regularization", "Weight decay", "L2 penalty on the weights"),
    "clip": ("Optimization", "Clip gradients", "Cap the gradient's global norm or each value"),
    "clip_threshold": ("Optimization", "Clip at", "The cap used by gradient clipping"),
    "optimizer": ("Optimization", "Optimizer", "sgd, sgd with momentum 0.9, adam or RMSprop"),
    "lr": ("Optimization", "Learning rate", "Step size of the optimizer"),
    "lr_schedule": ("Optimization", "LR schedule", "Keep, step down or cosine-decay the rate, "
                    "or cut it x0.1 when validation stalls (plateau)"),
    "batch_size": ("Optimization", "Batch size", "Examples per step"),
    "steps": ("Optimization", "Steps", "How many optimizer steps to train"),
    "early_stopping": ("Optimization", "Early stop", "Stop after this many evaluations "
                       "without improvement (0 = never)"),
    "restore_best": ("Optimization", "Restore best", "When training ends, go back to the "
                     "weights of the lowest validation loss (needs Early stop)"),
    "dataset": ("Data", "Dataset", "What the network learns to classify"),
    "standardize": ("Data", "Inputs", "How inputs are scaled: mean 0 and std 1 (training "
                    "statistics), into [0, 1], or left raw"),
    "noise": ("Data", "Noise", "Jitter of the 2-D datasets"),
    "seed": ("Data", "Seed", "Random seed for data, init, batches and dropout"),
}
GROUPS = ("Model", "Initialization", "Regularization", "Optimization", "Data")
# choice field -> {value: label} where the label is not the value itself
OPTION_LABELS = {
    "optimizer": {"rmsprop": "RMSprop"},
    "standardize": {"zscore": "standardize (z-score)", "unit": "scale to [0, 1]", "none": "raw"},
}


def make_control(field: str, value: Any, lang: str = "en") -> W.Widget:
    """The widget for one Config field, its range equal to what Config allows, labelled in
    `lang` (lab/i18n.py)."""
    label, tip = control_text(field, lang)  # sizes: lab/layout.py's stylesheet
    kw = dict(description=label, tooltip=tip, continuous_update=False)
    choices = {"activation": ACTIVATIONS, "init": INITS, "batchnorm": BATCHNORMS,
               "optimizer": OPTIMIZERS, "lr_schedule": SCHEDULES, "clip": CLIPS,
               "dataset": available_datasets(), "standardize": SCALINGS}
    if field in choices:
        kw.pop("continuous_update")
        w: W.Widget = W.Dropdown(options=_options(field, choices[field], lang), value=value, **kw)
    elif field in ("residual", "restore_best"):
        w = W.Checkbox(value=value, description=label, tooltip=tip, indent=False)
    elif field in ("init_gain", "lr", "clip_threshold"):
        low, high = {"init_gain": (-3, 2), "lr": (-5, 2), "clip_threshold": (-3, 3)}[field]
        w = W.FloatLogSlider(value=value, base=10, min=low, max=high, step=0.05,
                             readout_format=".3g", **kw)
    elif field in ("dropout", "noise"):
        w = W.FloatSlider(value=value, min=0.0, max=0.95 if field == "dropout" else 2.0,
                          step=0.05, **kw)
    elif field == "weight_decay":
        w = W.BoundedFloatText(value=value, min=0.0, max=10.0, step=1e-4, **kw)
    elif field in ("seed", "early_stopping"):
        w = W.BoundedIntText(value=value, min=0, max=2**31 - 1 if field == "seed" else 1000,
                             **kw)
    else:
        low, high, step = {"depth": (1, 100, 1), "width": (4, 1024, 4),
                           "batch_size": (1, 4096, 1), "steps": (10, 5000, 10)}[field]
        w = W.IntSlider(value=value, min=low, max=high, step=step, **kw)
    w.add_class(f"lab-control-{field}")
    return w


def control_text(field: str, lang: str) -> tuple[str, str]:
    """A control's label and tooltip in `lang`."""
    _, label, tip = LABELS[field]
    return (i18n.text(f"control.{label}", lang, en=label), i18n.text(f"tip.{label}", lang, en=tip))


def group_text(group: str, lang: str) -> str:
    """A group's header in `lang`."""
    return i18n.text(f"group.{group}", lang, en=group)


def relabel(widget: W.Widget, field: str, lang: str) -> None:
    """Label `widget` (made by make_control) in `lang`, keeping its value."""
    widget.description, widget.tooltip = control_text(field, lang)
    if isinstance(widget, W.Dropdown):
        value = widget.value
        widget.options = _options(field, list(widget._options_values), lang)
        widget.value = value  # new options select the first: the caller ignores that event


def _options(field: str, values, lang: str) -> list:
    """A dropdown's options as (label, value): in English the value itself unless OPTION_LABELS
    names it, in another language lab/i18n.py's label."""
    if lang == "en":
        names = OPTION_LABELS.get(field, {})
        return [(names.get(v, v), v) for v in values]
    return [(i18n.option_label(field, v, lang), v) for v in values]


def show_value(widget: W.Widget, value: Any) -> None:
    """Set a control, first widening a slider whose range is narrower than Config's."""
    if isinstance(widget, W.FloatLogSlider):
        exponent = math.log10(value)
        widget.min = min(widget.min, math.floor(exponent))
        widget.max = max(widget.max, math.ceil(exponent))
    elif isinstance(widget, (W.IntSlider, W.FloatSlider)):
        widget.min = min(widget.min, value)
        widget.max = max(widget.max, value)
    widget.value = value
