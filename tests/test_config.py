"""lab.Config: field validation, cross-field rules, and dict/JSON/query round trips."""

import dataclasses
import json
import math
from urllib.parse import parse_qsl, urlencode

import ipywidgets as W
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import lab
import lab.data
from lab import controls
from lab import fields as rules
from lab.config import Config, lenient_from_query

FIELDS = dataclasses.fields(Config)
NAMES = [f.name for f in FIELDS]
KIND = {f.name: f.type for f in FIELDS}
RANGES = rules.RANGES
CHOICES = rules.CHOICES
CHOICE_FIELDS = sorted(n for n in NAMES if n in CHOICES)
INT_FIELDS = sorted(n for n in NAMES if KIND[n] == "int")
FLOAT_FIELDS = sorted(n for n in NAMES if KIND[n] == "float")
BOOL_FIELDS = sorted(n for n in NAMES if KIND[n] == "bool")
FILE_DATASETS = ("mnist", "fashion_mnist")


def _error(**kwargs):
    with pytest.raises(ValueError) as info:
        Config(**kwargs)
    return str(info.value)


# ---------------------------------------------------------------- the field table


def test_every_field_has_a_kind_and_a_rule():
    assert lab.Config is Config
    assert list(rules.RULES) == NAMES  # one rule per field, in the dataclass's order
    for f in FIELDS:
        assert f.type in ("int", "float", "str", "bool"), f.name
        assert rules.RULES[f.name].kind == f.type, f.name
        if f.type == "str":
            assert f.name in CHOICES and f.name not in RANGES, f.name
        elif f.type in ("int", "float"):
            assert f.name in RANGES and f.name not in CHOICES, f.name
        else:
            assert f.name not in RANGES and f.name not in CHOICES, f.name
    # no stale rules for fields that no longer exist
    assert set(RANGES) | set(CHOICES) <= set(NAMES)


@pytest.mark.parametrize("name", sorted(RANGES))
def test_every_numeric_field_has_finite_ordered_bounds(name):
    low, high, low_in, high_in = RANGES[name]
    assert math.isfinite(low) and math.isfinite(high) and low < high
    assert isinstance(low_in, bool) and isinstance(high_in, bool)


def test_defaults_satisfy_their_own_rules():
    cfg = Config()
    for name in NAMES:
        value = getattr(cfg, name)
        kind = KIND[name]
        if kind == "bool":
            assert isinstance(value, bool)
        elif kind == "str":
            assert value in CHOICES[name]
        else:
            assert type(value) is (int if kind == "int" else float)
            low, high, low_in, high_in = RANGES[name]
            assert (value >= low) if low_in else (value > low)
            assert (value <= high) if high_in else (value < high)


# ---------------------------------------------------------------- bad values per field


def _bad_choice_values(name):
    return ["no_such_" + name, 3, None, CHOICES[name][0].upper() + "!"]


def _bad_numbers(name):
    low, high, low_in, high_in = RANGES[name]
    below = low - 1 if low_in else low
    above = high + 1 if high_in else high
    if KIND[name] == "int":
        return [float(low), True, str(low), below, above]
    return [math.nan, math.inf, -math.inf, str(float(low) + 0.5), True, False,
            float(below), float(above)]


BAD_CASES = (
    [(n, v) for n in CHOICE_FIELDS for v in _bad_choice_values(n)]
    + [(n, v) for n in INT_FIELDS + FLOAT_FIELDS for v in _bad_numbers(n)]
    + [(n, v) for n in BOOL_FIELDS for v in ("yes", 1, 0, None, "true")]
)


@pytest.mark.parametrize(("name", "value"), BAD_CASES, ids=[f"{n}={v!r}" for n, v in BAD_CASES])
def test_bad_value_raises_naming_the_field(name, value):
    message = _error(**{name: value})
    assert name in message
    if name in CHOICES:
        for allowed in CHOICES[name]:
            assert allowed in message
    else:
        assert repr(value) in message


@pytest.mark.parametrize(
    ("name", "value"),
    [("lr", 0), ("lr", -1), ("lr", 0.0), ("dropout", 1.0), ("dropout", -0.01), ("init_gain", 0),
     ("init_gain", -1.0), ("depth", 0), ("width", 3), ("batch_size", 0), ("steps", 0),
     ("n_samples", 19), ("seed", -1), ("seed", 2**31), ("clip_threshold", 0.0),
     ("noise", -0.1), ("weight_decay", -1e-9)],
)
def test_named_out_of_range_values(name, value):
    message = _error(**{name: value})
    assert name in message and repr(value) in message


@pytest.mark.parametrize("name", sorted(RANGES))
def test_bounds_are_inclusive_or_exclusive_as_declared(name):
    low, high, low_in, high_in = RANGES[name]
    cast = int if KIND[name] == "int" else float
    step = 1 if KIND[name] == "int" else 1e-9 * max(1.0, abs(high))
    inside = [cast(low) if low_in else cast(low + step),
              cast(high) if high_in else cast(high - step)]
    for value in inside:
        assert getattr(Config(**{name: value}), name) == value
    if not low_in:
        assert name in _error(**{name: cast(low)})
    if not high_in:
        assert name in _error(**{name: cast(high)})


def test_values_are_coerced_to_the_declared_type():
    cfg = Config(lr=1, init_gain=np.float32(0.5), depth=np.int64(7), seed=np.int32(3))
    assert type(cfg.lr) is float and cfg.lr == 1.0
    assert type(cfg.init_gain) is float and cfg.init_gain == 0.5
    assert type(cfg.depth) is int and cfg.depth == 7
    assert type(cfg.seed) is int and cfg.seed == 3


# ---------------------------------------------------------------- cross-field rules


def test_cnn_needs_an_image_dataset():
    assert "arch" in _error(arch="cnn", dataset="spirals")
    assert Config(arch="cnn", dataset="digits").arch == "cnn"


@pytest.mark.parametrize("batchnorm", ["before", "after"])
def test_batchnorm_needs_two_examples_per_batch(batchnorm):
    assert "batch_size" in _error(batchnorm=batchnorm, batch_size=1)
    assert Config(batchnorm=batchnorm, batch_size=2).batch_size == 2
    assert Config(batchnorm="none", batch_size=1).batch_size == 1


def test_restore_best_needs_early_stopping():
    message = _error(restore_best=True)
    # the message names both fields and says what the combination would mean
    assert "restore_best=True" in message and "early_stopping=0" in message
    assert "after the last step" in message
    assert _error(restore_best=True, early_stopping=0) == message
    assert Config(restore_best=True, early_stopping=1).restore_best is True
    assert Config(restore_best=False, early_stopping=0).restore_best is False
    with pytest.raises(ValueError, match="restore_best"):
        Config(restore_best=True, early_stopping=3).replace(early_stopping=0)
    with pytest.raises(ValueError, match="restore_best"):
        Config.from_query("restore_best=true")
    assert Config.from_query("restore_best=true&early_stopping=2") == Config(
        restore_best=True, early_stopping=2)


@pytest.mark.parametrize("dataset", FILE_DATASETS)
def test_file_datasets_need_lab_data_dir(dataset, monkeypatch):
    # a Config is a value: valid whatever the disk holds; loading its data says what is missing
    monkeypatch.delenv("LAB_DATA_DIR", raising=False)
    cfg = Config(dataset=dataset)
    assert cfg.dataset == dataset and Config.from_query(cfg.to_query()) == cfg
    with pytest.raises(ValueError) as info:
        lab.data.load(cfg)
    message = str(info.value)
    assert "LAB_DATA_DIR" in message and "dataset" in message


# ---------------------------------------------------------------- frozen, replace, dict, JSON


def test_config_is_frozen():
    cfg = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.depth = 3
    assert cfg.depth == Config().depth


def test_replace_returns_a_validated_copy():
    cfg = Config(depth=5)
    new = cfg.replace(depth=20, lr=1)
    assert (new.depth, new.lr, type(new.lr)) == (20, 1.0, float)
    assert cfg.depth == 5 and cfg.lr == Config().lr
    for name in NAMES:
        if name not in ("depth", "lr"):
            assert getattr(new, name) == getattr(cfg, name)
    assert cfg.replace() == cfg


def test_replace_rejects_unknown_keys_and_bad_values():
    with pytest.raises(ValueError, match="no_such_knob"):
        Config().replace(no_such_knob=1)
    with pytest.raises(ValueError, match="depth"):
        Config().replace(depth=0)
    with pytest.raises(ValueError, match="arch"):
        Config().replace(arch="cnn")


SAMPLE_CONFIGS = [
    Config(),
    Config(lr=0.0123, depth=3, residual=True, activation="tanh"),
    Config(standardize=False, dataset="digits", arch="cnn", batchnorm="after", batch_size=2),
    Config(init="orthogonal", init_gain=0.1 + 0.2, dropout=0.5, optimizer="sgd",
           lr_schedule="cosine", clip="norm", clip_threshold=1e-7, weight_decay=1e-4,
           early_stopping=7, restore_best=True, noise=0.0, n_samples=20, seed=2**31 - 1,
           device="cpu"),
]


@pytest.mark.parametrize("cfg", SAMPLE_CONFIGS)
def test_dict_and_json_round_trip(cfg):
    data = cfg.to_dict()
    assert list(data) == NAMES
    assert all(data[n] == getattr(cfg, n) for n in NAMES)
    assert Config.from_dict(data) == cfg
    assert json.loads(cfg.to_json()) == data
    assert Config.from_json(cfg.to_json()) == cfg


def test_from_dict_fills_defaults_and_rejects_unknown_keys():
    assert Config.from_dict({"depth": 4}) == Config(depth=4)
    with pytest.raises(ValueError, match="bogus_key"):
        Config.from_dict({"depth": 4, "bogus_key": 1})


@pytest.mark.parametrize("data", [[("depth", 3)], "depth=3", None, 3])
def test_from_dict_rejects_non_dicts(data):
    with pytest.raises(ValueError):
        Config.from_dict(data)


@pytest.mark.parametrize("text", ["{not json", "", "[1, 2]", "null", '{"depth": "3"}'])
def test_from_json_rejects_bad_text(text):
    with pytest.raises(ValueError):
        Config.from_json(text)


# ---------------------------------------------------------------- URL queries


QUERY_CONFIGS = SAMPLE_CONFIGS[1:] + [
    Config(lr=0.0123),
    Config(residual=True, standardize=False),
    Config(lr=1e-5, init_gain=2.5, noise=4.999999999999999, activation="leaky_relu"),
]


@pytest.mark.parametrize("cfg", QUERY_CONFIGS)
def test_query_round_trip(cfg):
    query = cfg.to_query()
    assert Config.from_query(query) == cfg
    assert Config.from_query("?" + query) == cfg
    default = Config()
    differing = {n for n in NAMES if getattr(cfg, n) != getattr(default, n)}
    keys = [k for k, _ in parse_qsl(query, keep_blank_values=True)]
    assert sorted(keys) == sorted(differing)


def test_query_of_defaults_is_empty():
    assert Config().to_query() == ""
    assert Config.from_query("") == Config()
    assert Config.from_query("?") == Config()


def test_query_values_are_readable():
    pairs = dict(parse_qsl(Config(lr=0.0123, residual=True, activation="tanh").to_query()))
    assert pairs == {"lr": "0.0123", "residual": "true", "activation": "tanh"}
    assert Config.from_query("depth=20&activation=tanh") == Config(depth=20, activation="tanh")


@pytest.mark.parametrize(("given", "want"), [
    (True, "zscore"), (False, "none"), ("zscore", "zscore"), ("unit", "unit"), ("none", "none")])
def test_standardize_is_a_choice_and_old_booleans_still_work(given, want):
    cfg = Config(standardize=given)
    assert cfg.standardize == want and cfg == Config(standardize=want)
    assert Config.from_query(cfg.to_query()) == cfg
    assert Config.from_json(cfg.to_json()) == cfg
    assert Config.from_dict({"standardize": given}) == cfg


def test_old_standardize_links_and_json_still_open():
    assert Config.from_query("standardize=false").standardize == "none"
    assert Config.from_query("standardize=true") == Config()
    assert Config.from_query("standardize=unit").standardize == "unit"
    assert Config.from_json('{"standardize": false}').standardize == "none"
    assert lenient_from_query("standardize=0") == (Config(standardize="none"), [])
    assert Config(standardize=False).to_query() == "standardize=none"
    assert Config(standardize=True).to_query() == ""  # the default


def test_cache_keys_tell_the_input_scalings_apart():
    from lab.cache import key

    keys = {s: key(Config(standardize=s)) for s in ("zscore", "unit", "none")}
    assert len(set(keys.values())) == 3
    assert key(Config(standardize=True)) == keys["zscore"]
    assert key(Config(standardize=False)) == keys["none"]


@pytest.mark.parametrize(
    ("query", "name"),
    [("depth=1e9", "depth"), ("depth=abc", "depth"), ("depth=", "depth"), ("depth=3.0", "depth"),
     ("lr=nan", "lr"), ("lr=inf", "lr"), ("lr=-inf", "lr"), ("lr=1e400", "lr"), ("lr=", "lr"),
     ("lr=0", "lr"), ("dropout=1", "dropout"), ("activation=__import__('os')", "activation"),
     ("unknown=1", "unknown"), ("depth=3&depth=4", "depth"), ("standardize=maybe", "standardize"),
     ("seed=-1", "seed"), ("dataset=../../etc/passwd", "dataset")],
)
def test_bad_query_raises_naming_the_field(query, name):
    with pytest.raises(ValueError) as info:
        Config.from_query(query)
    assert name in str(info.value)


def test_overlong_query_is_refused_by_length():
    padded = "depth=3" + "&" * 1000
    assert Config.from_query(padded) == Config(depth=3)  # padding alone is harmless
    long = "depth=3" + "&" * 4993
    assert len(long) == 5000
    with pytest.raises(ValueError) as info:
        Config.from_query(long)
    assert "5000" in str(info.value)


def test_from_query_never_evaluates(capsys):
    for query in ("activation=print(1)", "activation=__import__('builtins').print(1)"):
        with pytest.raises(ValueError, match="activation"):
            Config.from_query(query)
    assert capsys.readouterr().out == ""


def test_from_query_rejects_non_strings():
    with pytest.raises(ValueError):
        Config.from_query(b"depth=3")


def test_query_int_ignores_surrounding_whitespace_of_any_kind():
    # "\x1c".isspace() is True: the value must be parsed as the stripped text the check saw
    assert Config.from_query("depth=%1C3").depth == 3
    assert Config.from_query("depth=%20%204%09").depth == 4


def test_huge_integer_for_float_field_raises_value_error():
    with pytest.raises(ValueError, match="lr"):
        Config.from_json('{"lr": ' + "1" * 400 + "}")


# ---------------------------------------------------------------- properties

JUNK_KEYS = ["", "unknown", "__class__", "DEPTH", "depth ", "lr[]", "../../etc", "%00"]
JUNK_VALUES = ["nan", "NaN", "inf", "-inf", "-1", "0", "1", "1e400", "", "../../etc/passwd",
               "__import__('os')", "true", "yes", "maybe", "mlp", "cnn", "digits", "mnist",
               "0.5", "1e-5", "0x10", "1_000", " 3 ", "+4", "9" * 50, "\x00"]


@st.composite
def junk_queries(draw):
    keys = st.sampled_from(NAMES + JUNK_KEYS) | st.text(max_size=12)
    values = st.sampled_from(JUNK_VALUES) | st.text(max_size=20)
    pairs = draw(st.lists(st.tuples(keys, values), max_size=6))
    if draw(st.booleans()):
        query = urlencode(pairs)
    else:
        query = "&".join(f"{k}={v}" for k, v in pairs)
    return ("?" if draw(st.booleans()) else "") + query


@settings(max_examples=200, deadline=None)
@given(junk_queries())
@example("depth=1e400&lr=" + "9" * 41)
@example("activation=__import__('os').system('true')")
def test_from_query_only_raises_value_error(query):
    try:
        cfg = Config.from_query(query)
    except ValueError:
        return
    assert isinstance(cfg, Config)
    assert Config.from_query(cfg.to_query()) == cfg


def _field_strategy(name):
    kind = KIND[name]
    if kind == "bool":
        return st.booleans()
    if kind == "str":
        allowed = [c for c in CHOICES[name] if not (name == "dataset" and c in FILE_DATASETS)]
        return st.sampled_from(allowed)
    low, high, low_in, high_in = RANGES[name]
    if kind == "int":
        return st.integers(int(low), int(high))
    return st.floats(min_value=low, max_value=high, exclude_min=not low_in,
                     exclude_max=not high_in, allow_nan=False, allow_infinity=False)


def _make_consistent(values):
    values = dict(values)
    if values["dataset"] != "digits":
        values["arch"] = "mlp"
    if values["batchnorm"] != "none" and values["batch_size"] < 2:
        values["batch_size"] = 2
    if values["restore_best"] and values["early_stopping"] == 0:
        values["early_stopping"] = 1
    return values


valid_values = st.fixed_dictionaries({n: _field_strategy(n) for n in NAMES}).map(_make_consistent)


@settings(max_examples=200, deadline=None)
@given(valid_values)
def test_valid_values_construct_and_round_trip_exactly(values):
    cfg = Config(**values)
    for name, value in values.items():
        assert getattr(cfg, name) == value
        assert type(getattr(cfg, name)).__name__ == KIND[name]
    back = Config.from_query(cfg.to_query())
    assert back == cfg
    for name in FLOAT_FIELDS:  # exact, not approximate: to_query writes repr()
        assert getattr(back, name) == getattr(cfg, name)
    assert Config.from_json(cfg.to_json()) == cfg


# ---------------------------------------------------------------- the table sizes the controls


@pytest.mark.parametrize("name", sorted(controls.LABELS))
def test_each_control_offers_what_its_rule_allows(name, monkeypatch):
    monkeypatch.delenv("LAB_DATA_DIR", raising=False)
    default = getattr(Config(), name)
    w = controls.make_control(name, default)
    assert w.value == default
    if KIND[name] == "str":
        offered = [v for _, v in w.options]
        want = [c for c in CHOICES[name] if c not in FILE_DATASETS]  # no files: no MNIST
        assert offered == want
    elif KIND[name] == "bool":
        assert isinstance(w, W.Checkbox)
    elif isinstance(w, W.FloatLogSlider):  # a narrower view of a (0, high] rule
        low, high, _, _ = RANGES[name]
        assert low < 10.0 ** w.min < 10.0 ** w.max <= high
    else:
        low, high, _, _ = RANGES[name]
        assert low <= w.min < w.max <= high  # a slider may be narrower, never wider
        if isinstance(w, (W.BoundedIntText, W.BoundedFloatText)):
            assert (w.min, w.max) == (low, high)  # typed numbers: exactly the rule's interval
    controls.show_value(w, default)
    assert w.value == default
