"""Every lesson ends with a coding exercise whose folded solution the lab itself checks.

For each lesson: the exercise cell (tagged `exercise`) run as saved says "Not answered yet"; run
with the placeholder line replaced by the folded solution (the python block in the next
markdown cell's <details>) it says "Correct"; with a wrong number in its place, "Not quite".
"""

import contextlib
import io
import re
from pathlib import Path

import nbformat
import pytest

from lab import exercises

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted(p for p in (ROOT / "notebooks").rglob("*.ipynb") if re.match(r"\d\d_", p.name))
PLACEHOLDER = re.compile(r"^(\s*)(\w+) = \.\.\.\s*# your code.*$", re.M)


def exercise(path: Path) -> tuple[str, str]:
    """(the exercise cell's source, the solution code folded after it)."""
    cells = nbformat.read(path, as_version=4).cells
    marked = [i for i, c in enumerate(cells) if "exercise" in c.metadata.get("tags", [])]
    assert len(marked) == 1, f"{path.name}: {len(marked)} cells tagged 'exercise', want 1"
    i = marked[0]
    after = [c for c in cells[i + 1:] if c.cell_type == "markdown"]
    assert after, f"{path.name}: no markdown cell after the exercise"
    found = re.search(r"<details>.*?```python\n(.*?)```.*?</details>", after[0].source, re.S)
    assert found, f"{path.name}: the cell after the exercise folds no python solution"
    return cells[i].source, found.group(1)


def run_cell(source: str) -> str:
    """Execute `source` in a fresh namespace; what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, "<exercise>", "exec"), {})
    return out.getvalue()


@pytest.mark.parametrize("path", LESSONS,
                         ids=lambda p: p.relative_to(ROOT / "notebooks").as_posix())
def test_exercise_checks_the_folded_solution(path):
    source, solution = exercise(path)
    not_yet, correct, wrong = exercises.MARKS["zh" if path.parent.name == "zh" else "en"]
    assert len(PLACEHOLDER.findall(source)) == 1, f"{path.name}: want one `x = ...  # your code`"
    assert not_yet in run_cell(source)
    indent = PLACEHOLDER.search(source).group(1)
    body = "\n".join(indent + line for line in solution.strip().splitlines())
    solved = PLACEHOLDER.sub(lambda _: body, source, count=1)
    assert correct in run_cell(solved), f"{path.name}: the folded solution fails"
    name = PLACEHOLDER.search(source).group(2)
    mistaken = PLACEHOLDER.sub(lambda m: f"{m.group(1)}{name} = 12345.678", source, count=1)
    assert wrong in run_cell(mistaken), f"{path.name}: a wrong answer passes"


def test_report_tells_placeholder_right_and_wrong_apart(capsys):
    assert not exercises.report(..., 2.0, "x", "do it")
    assert exercises.report(2.0005, 2.0, "x", "do it", rel=1e-3)
    assert not exercises.report(2.01, 2.0, "x", "do it", rel=1e-3)
    assert not exercises.report("two", 2.0, "x", "do it")
    out = capsys.readouterr().out
    assert out.count(exercises.NOT_YET) == 1 and out.count(exercises.CORRECT) == 1
    assert out.count(exercises.WRONG) == 2


def test_he_std_is_the_std_kaiming_init_draws_with(capsys):
    import math

    import torch

    from lab.config import Config
    from lab.models import build_model

    weight = build_model(Config(activation="relu", init="kaiming_normal", width=256)).blocks[1]
    weight = weight.layer.weight.detach()  # (256, 256): 65,536 draws
    assert exercises.he_std(weight) == pytest.approx(math.sqrt(2 / 256))
    assert float(weight.std()) == pytest.approx(exercises.he_std(weight), rel=0.02)
    assert exercises.he_std(torch.nn.Conv2d(3, 8, 3).weight) == pytest.approx(math.sqrt(2 / 27))
    exercises.check_he_std(math.sqrt(2 / 256), weight)
    exercises.check_he_std(1.0, weight)  # the articles' "standard normal"
    said = capsys.readouterr().out.splitlines()
    assert said[0].startswith(exercises.CORRECT) and said[1].startswith(exercises.WRONG)


def test_report_speaks_the_lesson_s_language(capsys):
    exercises.report(..., 2.0, "增益", "把 ... 换掉", lang="zh")
    exercises.report(2.0, 2.0, "增益", "把 ... 换掉", lang="zh")
    exercises.report(3.0, 2.0, "增益", "把 ... 换掉", hint="再想想", lang="zh")
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["还没有作答：把 ... 换掉", "正确：这就是增益。", "还不对：这不是增益。再想想"]
