"""Config: every control of the lab as one frozen, validated dataclass."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode

from lab.fields import (  # noqa: F401 - the names callers import from lab.config
    ACTIVATIONS,
    ARCHS,
    BATCHNORMS,
    CLASSES,
    CLIPS,
    DATASETS,
    DEVICES,
    IMAGE_DATASETS,
    INITS,
    OPTIMIZERS,
    SCALINGS,
    SCHEDULES,
    SYNTHETIC_DATASETS,
    allowed_range,
    check,
    parse_text,
    query_value,
    short,
)


@dataclass(frozen=True)
class Config:
    """One lab scenario: model, initialization, regularization, optimization and data.

    Each field's meaning and allowed values: lab.fields.RULES (`python -m lab run --help`).
    """

    # --- model
    arch: str = "mlp"
    depth: int = 10
    width: int = 64
    activation: str = "relu"
    residual: bool = False
    # --- initialization
    init: str = "kaiming_normal"
    init_gain: float = 1.0
    # --- regularization
    batchnorm: str = "none"
    dropout: float = 0.0
    # --- optimization
    optimizer: str = "adam"
    lr: float = 0.003
    lr_schedule: str = "constant"
    weight_decay: float = 0.0
    batch_size: int = 128
    steps: int = 300
    clip: str = "none"
    clip_threshold: float = 1.0
    early_stopping: int = 0
    restore_best: bool = False
    # --- data
    dataset: str = "spirals"
    standardize: str = "zscore"
    noise: float = 0.1
    n_samples: int = 1500
    seed: int = 0
    # --- where
    device: str = "auto"

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, check(f.name, getattr(self, f.name)))
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
        unknown = sorted(k if isinstance(k, str) else short(k) for k in set(data) - FIELD_NAMES)
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
                items.append((f.name, query_value(value)))
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
            changes[key] = parse_text(key, text)
        return cls(**changes)


FIELD_NAMES = frozenset(f.name for f in fields(Config))


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


def _unknown_message(names: list[str]) -> str:
    shown = ", ".join(short(n[:40]) for n in names[:5])
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    return f"unknown config field(s) {shown}{more}; known fields: {', '.join(sorted(FIELD_NAMES))}"


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
            try:
                changes[key] = check(key, parse_text(key, text))
            except ValueError as e:
                problems.append(f"{e}; using the default {key}")
    # one sentence per field at most, however long the link: unknown names come together
    if unknown:
        problems.append(_unknown_message(unknown))
    problems += [f"{key}={short(text)}: ignored, {key} is given more than once"
                 for key, text in repeated.items()]
    try:
        return Config(**changes), problems
    except ValueError as e:  # a combination that is invalid: drop it all
        return Config(), [*problems, f"{e}; using the defaults"]
