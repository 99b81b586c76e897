"""Controls: one ipywidget per Config field, labelled in plain words, sized by lab.fields."""

from __future__ import annotations

import math
from typing import Any

import ipywidgets as W

from lab import i18n
from lab.data import available_datasets
from lab.fields import RULES

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
    rule = RULES[field]
    widget, *view = rule.widget or ("",)
    if rule.kind == "str":
        choices = available_datasets() if field == "dataset" else rule.choices
        kw.pop("continuous_update")
        w: W.Widget = W.Dropdown(options=_options(field, choices, lang), value=value, **kw)
    elif rule.kind == "bool":
        w = W.Checkbox(value=value, description=label, tooltip=tip, indent=False)
    elif widget == "log":  # view: the exponents of 10 at the ends
        w = W.FloatLogSlider(value=value, base=10, min=view[0], max=view[1], step=0.05,
                             readout_format=".3g", **kw)
    elif widget == "text":  # a typed number, bounded by the rule itself
        low, high = rule.bounds[:2]
        make = W.BoundedIntText if rule.kind == "int" else W.BoundedFloatText
        w = make(value=value, min=low, max=high, step=view[0], **kw)
    else:  # a slider: view = (min, max, step)
        make = W.IntSlider if rule.kind == "int" else W.FloatSlider
        w = make(value=value, min=view[0], max=view[1], step=view[2], **kw)
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
    """Set a control, first widening a slider whose range is narrower than Config's (or a
    dropdown that lacks the value)."""
    if isinstance(widget, W.FloatLogSlider):
        exponent = math.log10(value)
        widget.min = min(widget.min, math.floor(exponent))
        widget.max = max(widget.max, math.ceil(exponent))
    elif isinstance(widget, (W.IntSlider, W.FloatSlider)):
        widget.min = min(widget.min, value)
        widget.max = max(widget.max, value)
    elif isinstance(widget, W.Dropdown) and value not in widget._options_values:
        # a valid value the dropdown does not offer now (mnist before its files are there):
        # shown as it is, so that loading it can say what is missing
        widget.options = [*widget.options, (value, value)]
    widget.value = value
