"""Claims: the check itself, and that every trained number a lesson or preset quotes is claimed
with bounds that contain what tools/spread.py measured over seeds and CPU kernel settings."""

import ast
import json
import math
import re
from pathlib import Path

import nbformat
import pytest

from lab.claims import LOG_ENV, claim

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted([*(ROOT / "notebooks").glob("*.ipynb"),
                    *(ROOT / "notebooks").glob("zh/*.ipynb")])  # Chinese editions too
PRESET_TESTS = ROOT / "tests" / "test_presets.py"
MEASURED = ROOT / "docs" / "claims.json"
IGNORE_TAG = "nbval-ignore-output"


# --- the check


def test_claim_that_holds_prints_it(capsys, monkeypatch):
    monkeypatch.delenv(LOG_ENV, raising=False)
    claim("accuracy", 0.953, 0.9, 0.99, percent=True)
    assert capsys.readouterr().out == "claim holds: accuracy is between 90% and 99%\n"
    claim("ratio", 2e-6, high=1e-5)
    assert capsys.readouterr().out == "claim holds: ratio is at most 1e-05\n"


@pytest.mark.parametrize("value", [0.5, 1.2, float("nan"), float("inf")])
def test_claim_that_fails_names_the_claim_the_value_and_the_bounds(value, monkeypatch):
    monkeypatch.delenv(LOG_ENV, raising=False)
    with pytest.raises(AssertionError) as info:
        claim("gain", value, 0.9, 1.1)
    assert str(info.value) == f"claim does not hold: gain: {value:.3g}, between 0.9 and 1.1"


@pytest.mark.parametrize("low, high", [(None, None), (2.0, 1.0)])
def test_claim_without_a_range_is_refused(low, high):
    with pytest.raises(ValueError, match="claim 'x'"):
        claim("x", 1.0, low, high)


def test_measuring_mode_records_and_never_raises(tmp_path, monkeypatch, capsys):
    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv(LOG_ENV, str(log))
    claim("in", 1.0, 0.0, 2.0)
    claim("out", 5.0, low=6.0)
    claim("nan", float("nan"), high=1.0)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert rows == [{"what": "in", "value": 1.0, "low": 0.0, "high": 2.0},
                    {"what": "out", "value": 5.0, "low": 6.0, "high": None},
                    {"what": "nan", "value": None, "low": None, "high": 1.0}]
    assert "claim FAILS: out: 5, at least 6\n" in capsys.readouterr().out


# --- where claims are made


def _constant(node: ast.AST | None):
    """The number (or None) a literal bound holds; ValueError if it is not a literal."""
    if node is None:
        return None
    value = ast.literal_eval(node)  # numbers, -numbers, None; raises on anything else
    if value is not None and not isinstance(value, (int, float)):
        raise ValueError(ast.unparse(node))
    return value


def claims_in(source: str, where: str) -> list[tuple[str, float | None, float | None, str]]:
    """(name, low, high, where) of every claim(...) call in Python `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", getattr(node.func, "attr", None))
        if name != "claim":
            continue
        args = list(node.args) + [None] * 4
        kw = {k.arg: k.value for k in node.keywords}
        what = args[0]
        assert isinstance(what, ast.Constant) and isinstance(what.value, str), (
            f"{where}: a claim's name must be a literal string")
        try:
            low, high = _constant(kw.get("low", args[2])), _constant(kw.get("high", args[3]))
        except ValueError as err:
            raise AssertionError(f"{where}: bounds of {what.value!r} must be literal numbers "
                                 f"(checked against docs/claims.json), not {err}") from None
        found.append((what.value, low, high, where))
    return found


def notebook_cells():
    """(notebook, index, code cell) of every code cell of every notebook."""
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        for i, cell in enumerate(code, 1):
            yield path.relative_to(ROOT / "notebooks").as_posix(), i, cell


def ignores_output(cell) -> bool:
    """Whether nbval leaves the cell's output out of its comparison."""
    comments = [ln.strip().lstrip("#").strip() for ln in cell.source.splitlines()]
    return IGNORE_TAG in cell.metadata.get("tags", []) or "NBVAL_IGNORE_OUTPUT" in comments


ALL_CLAIMS = [c for name, i, cell in notebook_cells()
              for c in claims_in(cell.source, f"{name} cell {i}")]
ALL_CLAIMS += claims_in(PRESET_TESTS.read_text(), "tests/test_presets.py")


def test_every_output_left_out_of_nbval_is_claimed_in_its_cell_or_the_next():
    cells = list(notebook_cells())
    unchecked = [f"{name} cell {i}" for k, (name, i, cell) in enumerate(cells)
                 if ignores_output(cell) and not claims_in(cell.source, name)
                 and not (k + 1 < len(cells) and cells[k + 1][0] == name
                          and claims_in(cells[k + 1][2].source, name))]
    assert not unchecked, f"outputs compared by nothing: {unchecked}"


def test_no_cell_is_skipped_or_allowed_to_raise():
    markers = ("nbval-skip", "NBVAL_SKIP", "raises-exception", "NBVAL_RAISES_EXCEPTION")
    for name, i, cell in notebook_cells():
        text = cell.source + " ".join(cell.metadata.get("tags", []))
        assert not any(m in text for m in markers), f"{name} cell {i}"


def test_lessons_and_presets_make_claims_with_unique_names():
    names = [c[0] for c in ALL_CLAIMS]
    assert len(names) >= 30
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})
    for lesson in (p.relative_to(ROOT / "notebooks").as_posix() for p in NOTEBOOKS
                   if re.match(r"\d\d_", p.name)):
        assert any(c[3].startswith(lesson) for c in ALL_CLAIMS), f"{lesson} claims nothing"


def test_measurement_covers_seeds_and_kernel_settings():
    measured = json.loads(MEASURED.read_text())
    keys = list(measured["passes"])
    settings = {k.split("/")[0] for k in keys}
    seeds = {k.split("/")[1] for k in keys}
    # the CPU's own kernels and the generic ones (default, or default with MKL's compatible path)
    assert "native" in settings and settings & {"default", "compat"} and len(seeds) >= 3, keys
    assert len(keys) == len(settings) * len(seeds)  # every setting with every seed


@pytest.mark.parametrize("what, low, high, where", ALL_CLAIMS, ids=[c[0] for c in ALL_CLAIMS])
def test_claim_bounds_contain_every_measured_value(what, low, high, where):
    measured = json.loads(MEASURED.read_text())
    entry = measured["claims"].get(what)
    assert entry, f"{where}: {what!r} was never measured: run python tools/spread.py"
    values = entry["values"]
    assert set(values) == set(measured["passes"]), f"{what!r} missing in some passes"
    for key, value in values.items():
        assert value is not None and math.isfinite(value), f"{what!r}: {key} gave {value}"
        assert (low is None or value >= low) and (high is None or value <= high), (
            f"{where}: {what!r} measured {value:.4g} under {key}, outside [{low}, {high}]")
