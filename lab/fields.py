"""Fields: the rule of every Config field, once: kind, choices or range, meaning, control.

lab.config validates with it, lab.controls sizes its widgets from it, lab.cli writes its
--help and parses flags with it, and Config.from_query / lenient_from_query parse URL values
with it. No torch, no widgets: importing it is cheap.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass
from typing import Any

from lab import registry

ARCHS = ("mlp", "cnn")
ACTIVATIONS = tuple(registry.ACTIVATIONS)
INITS = tuple(registry.INITS)
BATCHNORMS = ("none", "before", "after")
OPTIMIZERS = ("sgd", "momentum", "adam", "rmsprop")
SCHEDULES = ("constant", "step", "cosine", "plateau")
CLIPS = ("none", "norm", "value")
SCALINGS = ("zscore", "unit", "none")  # input scaling (the field `standardize`)
SYNTHETIC_DATASETS = ("spirals", "moons", "circles", "xor")
IMAGE_DATASETS = ("digits", "mnist", "fashion_mnist")
DATASETS = SYNTHETIC_DATASETS + IMAGE_DATASETS
CLASSES = {"spirals": 3, "moons": 2, "circles": 2, "xor": 2,  # classes per dataset: chance level
           "digits": 10, "mnist": 10, "fashion_mnist": 10}
DEVICES = ("auto", "cpu", "cuda", "mps")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
_INT_RE = re.compile(r"[+-]?\d{1,12}")


@dataclass(frozen=True)
class Rule:
    """What one Config field accepts and means, and how its control shows it."""

    kind: str  # "int", "float", "str" or "bool" (Config's annotation)
    help: str  # what the field means, one line (python -m lab run --help)
    choices: tuple[str, ...] = ()  # kind "str": the allowed values
    bounds: tuple[float, float, bool, bool] | None = None  # numbers: low, high, inclusive?
    widget: tuple = ()  # the control where not a dropdown/checkbox (lab.controls.make_control)
    bool_words: tuple[str, str] | None = None  # a choice that was a bool: True/False's values


def _choice(help: str, choices: tuple[str, ...], **kw: Any) -> Rule:
    return Rule("str", help, choices=choices, **kw)


def _num(kind: str, help: str, low: float, high: float, low_in: bool = True,
         high_in: bool = True, widget: tuple = ()) -> Rule:
    return Rule(kind, help, bounds=(low, high, low_in, high_in), widget=widget)


# Widgets: ("log", min exponent, max exponent), ("slider", min, max, step) or ("text", step);
# a slider may be narrower than the rule (controls.show_value widens it for a wider value).
RULES: dict[str, Rule] = {
    "arch": _choice('"mlp", or "cnn" (image datasets only)', ARCHS),
    "depth": _num("int", "number of hidden layers, layer 1 nearest the input", 1, 100,
                  widget=("slider", 1, 100, 1)),
    "width": _num("int", "units (mlp) or channels (cnn) per hidden layer", 4, 1024,
                  widget=("slider", 4, 1024, 4)),
    "activation": _choice("nonlinearity after each hidden layer", ACTIVATIONS),
    "residual": Rule("bool", "identity skip around each hidden block after the first"),
    "init": _choice("weight scheme (torch.nn.init, lab.registry); biases start at zero", INITS),
    "init_gain": _num("float", 'multiplier on the scheme; for "normal"/"uniform" the std / '
                      "half-width", 0.0, 100.0, low_in=False, widget=("log", -3, 2)),
    "batchnorm": _choice('BatchNorm "before" or "after" each hidden activation, or "none"',
                         BATCHNORMS),
    "dropout": _num("float", "drop probability after each hidden activation", 0.0, 1.0,
                    high_in=False, widget=("slider", 0.0, 0.95, 0.05)),
    "optimizer": _choice('"sgd", "momentum" (0.9), "adam" (betas 0.9, 0.999, eps 1e-8) or '
                         '"rmsprop" (torch.optim.RMSprop\'s defaults: squared-gradient average '
                         "alpha 0.99, eps 1e-8, no momentum, not centered)", OPTIMIZERS),
    "lr": _num("float", "learning rate", 0.0, 100.0, low_in=False, widget=("log", -5, 2)),
    "lr_schedule": _choice('"constant", "step" (x0.1 at 50% and 75%), "cosine", or "plateau": '
                           "x0.1 each time the validation loss has not improved (by 1e-4) for 3 "
                           "evaluations in a row (Keras's ReduceLROnPlateau; "
                           "lab.evaluation.PLATEAU_*)", SCHEDULES),
    "weight_decay": _num("float", "L2 penalty coefficient passed to the optimizer", 0.0, 10.0,
                         widget=("text", 1e-4)),
    "batch_size": _num("int", "examples per step (capped at the training-set size)", 1, 4096,
                       widget=("slider", 1, 4096, 1)),
    "steps": _num("int", "optimizer steps", 1, 20000, widget=("slider", 10, 5000, 10)),
    "clip": _choice('gradient clipping: "none", "norm" (global L2) or "value"', CLIPS),
    "clip_threshold": _num("float", "max global norm, or max |g| per entry", 0.0, 1e6,
                           low_in=False, widget=("log", -3, 3)),
    "early_stopping": _num("int", "patience in evaluations without val-loss improvement; "
                           "0 = off", 0, 1000, widget=("text", 1)),
    "restore_best": Rule("bool", "end with the weights of the lowest validation loss (Keras's "
                         "EarlyStopping(restore_best_weights=True)); needs early_stopping >= 1"),
    "dataset": _choice("what the network classifies; mnist and fashion_mnist are read from "
                       "LAB_DATA_DIR", DATASETS),
    "standardize": _choice('input scaling: "zscore" (mean 0, std 1 with training statistics), '
                           '"unit" (to [0, 1]: pixels / 16 for digits, / 255 for MNIST; min-max '
                           'with training statistics for the 2-D sets) or "none" (raw values); '
                           "true/false = zscore/none", SCALINGS, bool_words=("zscore", "none")),
    "noise": _num("float", "label-preserving input noise of the synthetic 2-D datasets", 0.0,
                  5.0, widget=("slider", 0.0, 2.0, 0.05)),
    "n_samples": _num("int", "examples drawn (synthetic) or kept (image datasets)", 20, 70000),
    "seed": _num("int", "seeds data, initialization, batches and dropout", 0, 2**31 - 1,
                 widget=("text", 1)),
    "device": _choice('"auto" = cuda, else mps, else cpu; or a device by name', DEVICES),
}
CHOICES = {name: r.choices for name, r in RULES.items() if r.kind == "str"}
RANGES = {name: r.bounds for name, r in RULES.items() if r.bounds is not None}


def short(value: Any) -> str:
    """repr(value) cut to 60 characters; never raises (an int over 4300 digits has no repr)."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a message about a bad value must not fail itself
        if isinstance(value, int):
            return f"{'a negative' if value < 0 else 'an'} integer of {_digits(value)} digits"
        return f"a {type(value).__name__} that cannot be shown"
    return text if len(text) <= 60 else text[:57] + "..."


def _digits(value: int) -> int:
    """Decimal digits of |value|, without converting it to a string."""
    n = abs(value)
    digits = max(1, int(n.bit_length() * math.log10(2)))
    return digits + (n >= 10**digits)


def allowed_range(name: str) -> str:
    """The interval a numeric field allows, as "[1, 100]" or "(0, 100]"."""
    low, high, low_in, high_in = RANGES[name]
    return f"{'[' if low_in else '('}{_number(low)}, {_number(high)}{']' if high_in else ')'}"


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def describe(name: str) -> str:
    """What `name` allows, in words: "one of a, b", "int in [1, 100]" or "true or false"."""
    rule = RULES[name]
    if rule.kind == "str":
        return "one of " + ", ".join(rule.choices)
    if rule.kind == "bool":
        return "true or false"
    return f"{rule.kind} in {allowed_range(name)}"


def check(name: str, value: Any) -> Any:
    """Return `value` coerced to the field's type, or raise ValueError naming field and rule."""
    rule = RULES[name]
    if rule.kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{name}={short(value)}: must be true or false")
        return value
    if rule.kind == "str":
        if rule.bool_words:
            value = _bool_choice(rule, value)
        if not isinstance(value, str) or value not in rule.choices:
            raise ValueError(f"{name}={short(value)}: must be one of {', '.join(rule.choices)}")
        return value
    low, high, low_in, high_in = rule.bounds
    where = allowed_range(name)
    if rule.kind == "int":
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"{name}={short(value)}: must be an integer in {where}")
        value = int(value)
    else:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{name}={short(value)}: must be a number in {where}")
        try:
            value = float(value)
        except OverflowError:  # an int beyond float range
            value = math.inf
        if not math.isfinite(value):
            raise ValueError(f"{name}={short(value)}: must be a finite number in {where}")
    ok_low = value >= low if low_in else value > low
    ok_high = value <= high if high_in else value < high
    if not (ok_low and ok_high):
        raise ValueError(f"{name}={short(value)}: must be in {where}")
    return value


def _bool_choice(rule: Rule, value: Any) -> Any:
    """A choice field that was a bool: True/False (or their words) become its two choices."""
    on, off = rule.bool_words
    if isinstance(value, bool):
        return on if value else off
    if isinstance(value, str) and value not in rule.choices:
        low = value.strip().lower()
        if low in TRUE_WORDS:
            return on
        if low in FALSE_WORDS:
            return off
    return value


def parse_text(name: str, text: str) -> Any:
    """Turn one text value (URL query, CLI flag) into the field's type without evaluating it.

    Text that is not of the field's kind raises check()'s message; a float comes back checked
    against its range, an int or a choice as given (the caller's check() decides).
    """
    kind = RULES[name].kind
    if kind == "bool":
        low = text.strip().lower()
        if low in TRUE_WORDS:
            return True
        if low in FALSE_WORDS:
            return False
        raise ValueError(f"{name}={short(text)}: must be true or false")
    if kind == "str":
        return text
    if kind == "int":
        text = text.strip()
        if not _INT_RE.fullmatch(text):
            return check(name, text)  # raises with the allowed range
        return int(text)
    try:
        value = float(text) if len(text) <= 40 else math.nan
    except ValueError:
        return check(name, text)  # raises: a string is not a number
    return check(name, value)


def query_value(value: Any) -> str:
    """A field's value as URL-query text that parse_text reads back exactly."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)
