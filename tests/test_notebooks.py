"""Notebook rules: thin cells, saved figures in lessons, no saved errors.

`make test` executes every notebook once, under nbval (--nbval notebooks), not here."""

import ast
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
LESSONS = [p for p in NOTEBOOKS if re.match(r"\d\d_", p.name)]


def code_cells(path: Path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_there_are_eleven_lessons_and_the_dashboard():
    assert len(LESSONS) == 11
    assert (ROOT / "notebooks" / "dashboard.ipynb") in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_cells_are_thin_calls_into_lab(path):
    for cell in code_cells(path):
        lines = [ln for ln in cell.source.splitlines() if ln.strip()]
        assert len(lines) <= 15, f"{path.name}: a cell of {len(lines)} lines"
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                         ast.Lambda)), f"{path.name}: logic belongs in lab"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_lesson_has_a_saved_figure_an_exercise_and_a_folded_answer(path):
    nb = nbformat.read(path, as_version=4)
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert images, f"{path.name}: no saved PNG output"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert re.search(r"try this", text, re.I), f"{path.name}: no 'Try this' exercise"
    assert "<details>" in text and "</details>" in text, f"{path.name}: no folded answer"
    sources = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "Dashboard(" in sources and "fields=" in sources, f"{path.name}: no small widget"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_saved_notebook_has_no_error_output(path):
    for cell in code_cells(path):
        assert all(o.get("output_type") != "error" for o in cell.outputs), path.name


def test_readme_lists_every_lesson():
    readme = (ROOT / "README.md").read_text()
    for lesson in LESSONS:
        assert f"notebooks/{lesson.name}" in readme, lesson.name
