"""Config: every control of the lab as one frozen, validated dataclass."""

from __future__ import annotations

import json
import math
import numbers
import re
from dataclasses import asdict, dataclass, fields, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode

ARCHS = ("mlp", "cnn")
ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "gelu", "selu")
INITS = (
    "zeros", "normal", "uniform", "xavier_normal", "xavier_uniform",
    "kaiming_normal", "kaiming_uniform", "lecun_normal", "orthogonal",
)
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

# field -> allowed strings, or (low, high, low_inclusive, high_inclusive) for numbers
_CHOICES: dict[str, tuple[str, ...]] = {
    "arch": ARCHS, "activation": ACTIVATIONS, "init": INITS, "batchnorm": BATCHNORMS,
    "optimizer": OPTIMIZERS, "lr_schedule": SCHEDULES, "clip": CLIPS,
    "dataset": DATASETS, "device": DEVICES, "standardize": SCALINGS,
}
# what a true/false standardize meant before it became a choice (Python, URL, CLI, JSON)
_BOOL_CHOICES = {"standardize": ("zscore", "none")}
_RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "depth": (1, 100, True, True),
    "width": (4, 1024, True, True),
    "init_gain": (0.0, 100.0, False, True),
    "dropout": (0.0, 1.0, True, False),
    "lr": (0.0, 100.0, False, True),
    "weight_decay": (0.0, 10.0, True, True),
    "batch_size": (1, 4096, True, True),
    "steps": (1, 20000, True, True),
    "clip_threshold": (0.0, 1e6, False, True),
    "early_stopping": (0, 1000, True, True),
    "noise": (0.0, 5.0, True, True),
    "n_samples": (20, 70000, True, True),
    "seed": (0, 2**31 - 1, True, True),
}
_INT_RE = re.compile(r"[+-]?\d{1,12}")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Config:
    """One lab scenario: model, initialization, regularization, optimization and data."""

    # --- model
    arch: str = "mlp"  # "mlp", or "cnn" (image datasets only)
    depth: int = 10  # number of hidden layers, layer 1 nearest the input
    width: int = 64  # units (mlp) or channels (cnn) per hidden layer
    activation: str = "relu"  # nonlinearity after each hidden layer
    residual: bool = False  # identity skip around each hidden block after the first
    # --- initialization
    init: str = "kaiming_normal"  # weight scheme (torch.nn.init); biases start at zero
    init_gain: float = 1.0  # multiplier on the scheme; for "normal"/"uniform" the std / half-width
    # --- regularization
    batchnorm: str = "none"  # BatchNorm "before" or "after" each hidden activation, or "none"
    dropout: float = 0.0  # drop probability after each hidden activation
    # --- optimization
    optimizer: str = "adam"  # "sgd", "momentum" (0.9), "adam" (betas 0.9, 0.999, eps 1e-8) or
    # "rmsprop" (torch.optim.RMSprop's defaults: squared-gradient average alpha 0.99, eps 1e-8,
    # no momentum, not centered)
    lr: float = 0.003  # learning rate
    lr_schedule: str = "constant"  # "constant", "step" (x0.1 at 50% and 75%), "cosine", or
    # "plateau": x0.1 each time the validation loss has not improved (by 1e-4) for 3
    # evaluations in a row (Keras's ReduceLROnPlateau; lab.evaluation.PLATEAU_*)
    weight_decay: float = 0.0  # L2 penalty coefficient passed to the optimizer
    batch_size: int = 128  # examples per step (capped at the training-set size)
    steps: int = 300  # optimizer steps
    clip: str = "none"  # gradient clipping: "none", "norm" (global L2) or "value"
    clip_threshold: float = 1.0  # max global norm, or max |g| per entry
    early_stopping: int = 0  # patience in evaluations without val-loss improvement; 0 = off
    restore_best: bool = False  # end with the weights of the lowest validation loss (Keras's
    # EarlyStopping(restore_best_weights=True)); needs early_stopping >= 1
    # --- data
    dataset: str = "spirals"  # "spirals", "moons", "circles", "xor", "digits", "mnist", ...
    standardize: str = "zscore"  # input scaling: "zscore" (mean 0, std 1 with training
    # statistics), "unit" (to [0, 1]: pixels / 16 for digits, / 255 for MNIST; min-max with
    # training statistics for the 2-D sets) or "none" (raw values); True/False = zscore/none
    noise: float = 0.1  # label-preserving input noise of the synthetic 2-D datasets
    n_samples: int = 1500  # examples drawn (synthetic) or kept (image datasets)
    seed: int = 0  # seeds data, initialization, batches and dropout
    # --- where
    device: str = "auto"  # "auto" = cuda, else mps, else cpu; or a device by name

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, _check_field(f.name, f.type, getattr(self, f.name)))
        _check_combination(self)

    def replace(self, **changes: Any) -> Config:
        """Return a copy with `changes` applied and validated."""
        unknown = sorted(set(changes) - FIELD_NAMES)
        if unknown:
            raise ValueError(_unknown_message(unknown))
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return every field as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """Build a Config from a dict; unknown keys or bad values raise ValueError."""
        if not isinstance(data, dict):
            raise ValueError(f"config must be a dict of field -> value, got {type(data).__name__}")
        unknown = sorted(k if isinstance(k, str) else _short(k) for k in set(data) - FIELD_NAMES)
        if unknown:
            raise ValueError(_unknown_message(unknown))
        return cls(**data)

    def to_json(self) -> str:
        """Return the config as an indented JSON string."""
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> Config:
        """Parse a JSON object of fields (as written by to_json)."""
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as e:  # also: a 5000-digit number, deep nesting
            raise ValueError(f"config JSON is not valid JSON: {_first_line(e)}") from None
        return cls.from_dict(data)

    def to_query(self) -> str:
        """Return a URL query string holding the fields that differ from the defaults."""
        default = Config()
        items = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value != getattr(default, f.name):
                items.append((f.name, _query_value(value)))
        return urlencode(items)

    @classmethod
    def from_query(cls, query: str) -> Config:
        """Parse a URL query string ("depth=20&activation=tanh"); never evaluates anything."""
        if not isinstance(query, str):
            raise ValueError(f"query must be a string, got {type(query).__name__}")
        query = query.lstrip("?")
        if len(query) > 4096:
            raise ValueError(f"query is {len(query)} characters long; at most 4096 are allowed")
        changes: dict[str, Any] = {}
        for key, text in parse_qsl(query, keep_blank_values=True):
            if key not in FIELD_NAMES:
                raise ValueError(_unknown_message([key]))
            if key in changes:
                raise ValueError(f"{key} is given twice in the query; give each field once")
            changes[key] = _parse_text(key, _FIELD_TYPES[key], text)
        return cls(**changes)


FIELD_NAMES = frozenset(f.name for f in fields(Config))
_FIELD_TYPES = {f.name: f.type for f in fields(Config)}


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


def _unknown_message(names: list[str]) -> str:
    shown = ", ".join(_short(n[:40]) for n in names[:5])
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    return f"unknown config field(s) {shown}{more}; known fields: {', '.join(sorted(FIELD_NAMES))}"


def _short(value: Any) -> str:
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


def _check_field(name: str, kind: str, value: Any) -> Any:
    """Return `value` coerced to the field's type, or raise ValueError naming field and rule."""
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{name}={_short(value)}: must be true or false")
        return value
    if kind == "str":
        allowed = _CHOICES[name]
        if name in _BOOL_CHOICES:
            value = _bool_choice(name, value)
        if not isinstance(value, str) or value not in allowed:
            raise ValueError(f"{name}={_short(value)}: must be one of {', '.join(allowed)}")
        return value
    low, high, low_in, high_in = _RANGES[name]
    rule = allowed_range(name)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"{name}={_short(value)}: must be an integer in {rule}")
        value = int(value)
    else:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{name}={_short(value)}: must be a number in {rule}")
        try:
            value = float(value)
        except OverflowError:  # an int beyond float range
            value = math.inf
        if not math.isfinite(value):
            raise ValueError(f"{name}={_short(value)}: must be a finite number in {rule}")
    ok_low = value >= low if low_in else value > low
    ok_high = value <= high if high_in else value < high
    if not (ok_low and ok_high):
        raise ValueError(f"{name}={_short(value)}: must be in {rule}")
    return value


def _bool_choice(name: str, value: Any) -> Any:
    """A choice field that was a bool: True/False (or their words) become its two choices."""
    on, off = _BOOL_CHOICES[name]
    if isinstance(value, bool):
        return on if value else off
    if isinstance(value, str) and value not in _CHOICES[name]:
        low = value.strip().lower()
        if low in _TRUE:
            return on
        if low in _FALSE:
            return off
    return value


def allowed_range(name: str) -> str:
    """The interval a numeric field allows, as "[1, 100]" or "(0, 100]"."""
    low, high, low_in, high_in = _RANGES[name]
    return f"{'[' if low_in else '('}{_num(low)}, {_num(high)}{']' if high_in else ')'}"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def _check_combination(cfg: Config) -> None:
    """Rules that involve more than one field."""
    if cfg.arch == "cnn" and cfg.dataset not in IMAGE_DATASETS:
        raise ValueError(
            f"arch='cnn' needs an image dataset ({', '.join(IMAGE_DATASETS)}), "
            f"not dataset={cfg.dataset!r}"
        )
    if cfg.batchnorm != "none" and cfg.batch_size < 2:
        raise ValueError(
            f"batch_size={cfg.batch_size}: BatchNorm needs at least 2 examples per batch "
            f"(batchnorm={cfg.batchnorm!r})"
        )
    if cfg.restore_best and cfg.early_stopping == 0:
        raise ValueError(
            "restore_best=True needs early stopping: it keeps the weights of the lowest "
            "validation loss while early stopping watches it; with early_stopping=0 the model "
            "is the weights after the last step (set early_stopping to 1 or more, or "
            "restore_best to false)"
        )
    if cfg.dataset in ("mnist", "fashion_mnist"):
        from lab.data import missing_files  # deferred: data imports torch

        missing = missing_files(cfg.dataset)
        if missing:
            raise ValueError(f"dataset={cfg.dataset!r}: {missing}")


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _parse_text(name: str, kind: str, text: str) -> Any:
    """Turn one query-string value into the field's type without evaluating it."""
    shown = _short(text)
    if kind == "bool":
        low = text.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(f"{name}={shown}: must be true or false")
    if kind == "str":
        return text
    if kind == "int":
        text = text.strip()
        if not _INT_RE.fullmatch(text):
            return _check_field(name, kind, text)  # raises with the allowed range
        return int(text)
    try:
        value = float(text) if len(text) <= 40 else math.nan
    except ValueError:
        return _check_field(name, kind, text)  # raises: a string is not a number
    return _check_field(name, kind, value)


def lenient_from_query(query: str) -> tuple[Config, list[str]]:
    """Parse a URL query field by field: bad fields fall back to defaults, each one reported.

    For pages opened from a shared link: the viewer gets the valid part of the scenario and a
    sentence per problem instead of an error page: one per bad or repeated field (the first
    value counts), one for all unknown names, one for a combination that does not go together.
    """
    problems: list[str] = []
    try:
        pairs = parse_qsl(str(query).lstrip("?")[:4096], keep_blank_values=True)
    except ValueError as e:
        return Config(), [f"query not understood ({e}); using the defaults"]
    changes: dict[str, Any] = {}
    unknown: list[str] = []
    seen: set[str] = set()
    repeated: dict[str, str] = {}  # field -> its first ignored later value
    for key, text in pairs:
        if key not in FIELD_NAMES:
            if key not in unknown:
                unknown.append(key)
        elif key in seen:  # the first value of a field counts
            repeated.setdefault(key, text)
        else:
            seen.add(key)
            kind = _FIELD_TYPES[key]
            try:
                changes[key] = _check_field(key, kind, _parse_text(key, kind, text))
            except ValueError as e:
                problems.append(f"{e}; using the default {key}")
    # one sentence per field at most, however long the link: unknown names come together
    if unknown:
        problems.append(_unknown_message(unknown))
    problems += [f"{key}={_short(text)}: ignored, {key} is given more than once"
                 for key, text in repeated.items()]
    try:
        return Config(**changes), problems
    except ValueError as e:  # a combination that is invalid: drop it all
        return Config(), [*problems, f"{e}; using the defaults"]
