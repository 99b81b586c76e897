"""Notebook rules: thin cells, saved figures in lessons, no saved errors.

`make test` executes every notebook once, under nbval (--nbval notebooks), not here."""

import ast
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / "notebooks"
NOTEBOOKS = sorted([*NB.glob("*.ipynb"), *NB.glob("zh/*.ipynb")])
LESSONS = sorted(NB.glob("[0-9][0-9]_*.ipynb"))  # the English lessons
ZH_LESSONS = sorted(NB.glob("zh/[0-9][0-9]_*.ipynb"))  # Chinese editions of some of them
TRY_THIS = re.compile(r"try this|试一试", re.I)


def rel(path: Path) -> str:
    """The notebook's path under notebooks/ ("zh/01_vanishing_gradients.ipynb")."""
    return path.relative_to(NB).as_posix()


def code_cells(path: Path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_there_are_eleven_lessons_and_the_dashboard():
    assert len(LESSONS) == 11
    assert (ROOT / "notebooks" / "dashboard.ipynb") in NOTEBOOKS


@pytest.mark.parametrize("path", ZH_LESSONS, ids=rel)
def test_chinese_lesson_is_a_translation_of_an_english_one(path):
    assert (NB / path.name).exists(), f"{rel(path)}: no English lesson of that name"
    text = "".join(c.source for c in nbformat.read(path, as_version=4).cells
                   if c.cell_type == "markdown")
    han = len(re.findall(r"[\u4e00-\u9fff]", text))
    words = len(re.findall(r"[A-Za-z]+", text))
    assert han > 2 * words, f"{rel(path)}: {han} Chinese characters, {words} English words"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=rel)
def test_cells_are_thin_calls_into_lab(path):
    for cell in code_cells(path):
        lines = [ln for ln in cell.source.splitlines() if ln.strip()]
        assert len(lines) <= 15, f"{path.name}: a cell of {len(lines)} lines"
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                         ast.Lambda)), f"{path.name}: logic belongs in lab"


# What lessons must ask the package for instead of re-deriving it in a cell (exercise cells
# excepted: there the student derives it, and a lab check compares with the package)
BY_HAND = {
    r"\*\*\s*\(\s*1(\.0)?\s*/": "a root by hand: lab.diagnosis.per_layer_gain",
    # (g: a row of act_grad_std; lesson 06's g0 is a row of weight-gradient norms)
    r"\b(g|g_\w+)\[0\]\s*/\s*\1\[-1\]": "layer 1 over the last: diagnosis.gradient_ratio",
    r"\b\w*points\[\d+\]|\b(decayed|both)\[\w+\]": "a sweep point by position: lab.sweep_table",
    r"load_state_dict\(": "a net rebuilt by hand: lab.scoring.trained_model / accuracy",
}


@pytest.mark.parametrize("path", LESSONS + ZH_LESSONS, ids=rel)
def test_lessons_ask_the_package_for_what_it_computes(path):
    for cell in code_cells(path):
        if "exercise" in cell.metadata.get("tags", []):
            continue
        for pattern, instead in BY_HAND.items():
            found = re.search(pattern, cell.source)
            assert not found, f"{rel(path)}: {found.group(0)!r} computed in a cell; use {instead}"


@pytest.mark.parametrize("path", LESSONS + ZH_LESSONS, ids=rel)
def test_lesson_has_a_saved_figure_an_exercise_and_a_folded_answer(path):
    nb = nbformat.read(path, as_version=4)
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert images, f"{path.name}: no saved PNG output"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert TRY_THIS.search(text), f"{rel(path)}: no 'Try this' (试一试) exercise"
    assert "<details>" in text and "</details>" in text, f"{path.name}: no folded answer"
    sources = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "Dashboard(" in sources and "fields=" in sources, f"{path.name}: no small widget"


PREDICT = re.compile(r"\*\*(Predict\.|先预测。|预测。)\*\*")  # a question, not its mention
# The articles' claims the issue names, by the lesson whose box answers each one
BOXES = {"03": "He", "04": "updates", "06": "vanish", "07": "Adam", "08": "validation loss"}


@pytest.mark.parametrize("path", LESSONS + ZH_LESSONS, ids=rel)
def test_lesson_asks_before_it_tells(path):
    """Predict questions come with a folded answer; no Try-this answer is left in the open."""
    cells = [c.source for c in nbformat.read(path, as_version=4).cells
             if c.cell_type == "markdown"]
    asking = [c for c in cells if PREDICT.search(c)]
    assert len(asking) >= 2, f"{rel(path)}: {len(asking)} Predict questions"
    for cell in asking:
        after = cell[PREDICT.search(cell).start():]
        assert "<details>" in after, f"{rel(path)}: a Predict question with its answer open"
    trying = [c for c in cells if TRY_THIS.search(c.split("\n", 1)[0])]
    assert trying, f"{rel(path)}: no Try-this section"
    start = cells.index(trying[0])
    section = "\n".join(c for c in cells[start:] if not c.lstrip().startswith("## ")
                        or c is trying[0])
    body = section.split("\n", 1)[1].split("<details>", 1)
    assert len(body) == 2, f"{rel(path)}: Try this has no folded answer"


@pytest.mark.parametrize("lesson, word", BOXES.items())
def test_a_claim_you_will_read_is_answered_where_it_belongs(lesson, word):
    path = next(NB.glob(f"{lesson}_*.ipynb"))
    boxes = [c.source for c in nbformat.read(path, as_version=4).cells
             if c.cell_type == "markdown" and "> **A claim you will read" in c.source]
    assert any(word in box for box in boxes), f"{path.name}: no box on the claim about {word}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=rel)
def test_saved_notebook_has_no_error_output(path):
    for cell in code_cells(path):
        assert all(o.get("output_type") != "error" for o in cell.outputs), path.name


def test_readme_lists_every_lesson():
    readme = (ROOT / "README.md").read_text()
    for lesson in LESSONS + ZH_LESSONS:
        assert f"notebooks/{rel(lesson)}" in readme, rel(lesson)
