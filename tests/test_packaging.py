"""Packaging: pyproject, environment.yml, constraints, Makefile, README and CI agree."""

import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, as a package
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
CONDA_ALIASES = {"pytorch-cpu": "torch", "pytorch": "torch"}
IMPORT_NAMES = {"scikit-learn": "sklearn"}


def _norm(name):
    return re.sub(r"[-_.]+", "-", name.strip().lower())


def _pyproject():
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def _runtime_requirements():
    return [Requirement(d) for d in _pyproject()["project"]["dependencies"]]


def _conda_environment():
    """(conda name -> version spec text, pip entries) of environment.yml."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = {}, []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip.extend(dep.get("pip", []))
            continue
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*", str(dep))
        assert match, dep
        conda[_norm(CONDA_ALIASES.get(_norm(match[1]), match[1]))] = match[2]
    return conda, pip


def _makefile():
    """(variables, {target: (prerequisites, recipe lines)}) with continuations joined."""
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    variables, targets, current = {}, {}, None
    for line in text.splitlines():
        if line.startswith("\t"):
            if current is not None:
                targets[current][1].append(line.strip())
            continue
        current = None
        var = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*(?:\?=|:=|=)\s*(.*)$", line)
        rule = re.match(r"^([^\s:#=][^:=]*):(?!=)(.*)$", line)
        if var:
            variables[var[1]] = var[2].strip()
        elif rule:
            for name in rule[1].split():
                targets[name] = (rule[2].split(), [])
                current = name
    return variables, targets


def _expand(text, variables):
    for _ in range(10):
        text = re.sub(r"\$\((\w+)\)", lambda m: variables.get(m[1], m[0]), text)
    return text


def _recipe(target):
    variables, targets = _makefile()
    assert target in targets, f"no `{target}` target in the Makefile"
    return [_expand(line, variables) for line in targets[target][1]]


# ---------------------------------------------------------------- dependencies


def test_environment_yml_names_every_runtime_dependency():
    conda, pip = _conda_environment()
    pip_names = {_norm(re.split(r"[<>=!~\[ ;]", p)[0]) for p in pip if not p.startswith("-")}
    available = set(conda) | pip_names
    missing = [r.name for r in _runtime_requirements() if _norm(r.name) not in available]
    assert not missing, f"environment.yml lacks {missing}"
    assert "-e ." in pip  # the lab itself


def test_environment_yml_versions_match_pyproject():
    conda, _ = _conda_environment()
    for req in _runtime_requirements():
        assert SpecifierSet(conda[_norm(req.name)]) == req.specifier, req.name
    python = conda["python"].lstrip("=")
    assert Version(python) in SpecifierSet(_pyproject()["project"]["requires-python"])


@pytest.mark.parametrize("req", _runtime_requirements(), ids=lambda r: r.name)
def test_runtime_dependency_is_importable_and_recent_enough(req):
    module = IMPORT_NAMES.get(_norm(req.name), _norm(req.name).replace("-", "_"))
    assert importlib.util.find_spec(module) is not None, module
    installed = Version(importlib.metadata.version(req.name))
    assert req.specifier.contains(installed, prereleases=True), (req.name, installed)


def test_constraints_pin_torch_exactly():
    lines = [ln.split("#")[0].strip() for ln in (ROOT / "constraints.txt").read_text().splitlines()]
    pins = {_norm(r.name): r for r in map(Requirement, filter(None, lines))}
    assert "torch" in pins
    specs = list(pins["torch"].specifier)
    assert len(specs) == 1 and specs[0].operator == "==" and specs[0].version == "2.13.0"


# ---------------------------------------------------------------- Makefile, README, CI


def test_makefile_installs_with_the_constraints():
    variables, targets = _makefile()
    installs = [
        (name, _expand(line, variables))
        for name, (_, lines) in targets.items()
        for line in lines
        if "pip install" in line and " -e " in f" {line} "
    ]
    assert installs, "no `pip install -e` line in the Makefile"
    for name, line in installs:
        assert re.search(r"(^|\s)-c constraints\.txt(\s|$)", line), line
        prerequisites = _expand(" ".join(targets[name][0]), variables).split()
        assert "constraints.txt" in prerequisites  # a new pin reinstalls


def test_makefile_demo_serves_the_dashboard_with_voila():
    recipe = " ".join(_recipe("demo"))
    voila = re.search(r"(\S*/)?voila\s+(\S+)(.*)", recipe)
    assert voila, recipe
    assert voila[2] == "notebooks/dashboard.ipynb"
    assert re.search(r"--port[= ]8866(\s|$)", voila[3]), recipe
    assert (ROOT / "notebooks" / "dashboard.ipynb").is_file()


def test_makefile_test_runs_ruff_and_pytest():
    recipe = " ".join(_recipe("test"))
    assert re.search(r"ruff check .*\btests\b", recipe), recipe
    assert re.search(r"-m pytest .*\btests\b", recipe), recipe


def test_readme_quick_start_is_two_make_commands():
    readme = (ROOT / "README.md").read_text()
    section = re.search(r"^## Quick start\s*$(.*?)(?=^## |\Z)", readme, re.M | re.S)
    assert section, "README has no `## Quick start` section"
    block = re.search(r"^```[^\n]*\n(.*?)^```", section[1], re.M | re.S)
    assert block, "Quick start has no code block"
    commands = [line.strip() for line in block[1].splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]


def test_ci_script_runs_make_test():
    script = ROOT / ".ci" / "run"
    assert script.is_file()
    assert os.access(script, os.X_OK)
    lines = script.read_text().splitlines()
    assert lines[0].startswith("#!")
    commands = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    assert "make test" in commands


def test_make_test_executes_every_notebook_once_under_nbval():
    recipe = " ".join(_recipe("test"))
    assert re.search(r"-m pytest .*--nbval .*\bnotebooks\b", recipe), recipe
    tests = (ROOT / "tests").glob("test_*.py")
    runners = [p.name for p in tests
               if re.search(r"^\s*(from|import)\s+(nbclient|nbconvert)\b", p.read_text(), re.M)]
    assert not runners, f"{runners} execute notebooks a second time"


def test_ci_runs_the_notebooks_under_a_non_native_kernel_setting_too():
    commands = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert commands.index("make test-portable") > commands.index("make test")
    recipe = " ".join(_recipe("test-portable"))
    assert "ATEN_CPU_CAPABILITY=default" in recipe and "MKL_CBWR=COMPATIBLE" in recipe
    assert re.search(r"-m pytest .*--nbval .*\bnotebooks\b.*tests/test_presets\.py", recipe)


def _fresh_python(code: str) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter on this checkout (nothing imported yet)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_importing_the_lab_and_its_config_does_not_import_torch():
    # a Voila kernel pays for torch (~1 s of CPU) only once it trains, not to show controls
    done = _fresh_python(
        "import sys\n"
        "import lab, lab.config\n"
        "assert 'torch' not in sys.modules, 'import lab imported torch'\n"
        "import lab.fields, lab.registry, lab.controls, lab.layout, lab.i18n, lab.data\n"
        "import lab.export, lab.theory, lab.schedule, lab.limits\n"
        "assert 'torch' not in sys.modules, 'a torch-free module imported torch'\n"
        "print(lab.Config(depth=3).depth)\n")
    assert done.returncode == 0 and done.stdout.strip() == "3", done.stderr


def test_a_dashboard_shows_its_controls_before_torch_loads():
    # what a Voila kernel started for a viewer runs: the page, the dashboard, its widget; the
    # first training (and torch) starts once the widget has been rendered
    done = _fresh_python(
        "import os, sys\n"
        "os.environ['QUERY_STRING'] = 'depth=3&width=8&steps=5'\n"
        "import lab.ui\n"
        "dash = lab.ui.Dashboard.from_query(cache=None)\n"
        "assert 'torch' not in sys.modules, 'the dashboard imported torch before its controls'\n"
        "bundle = dash._repr_mimebundle_()\n"
        "assert 'application/vnd.jupyter.widget-view+json' in bundle\n"
        "assert dash.wait(120) and dash.run.finished and 'torch' in sys.modules\n"
        "print(dash.run.steps_done)\n"
        "dash.close()\n")
    assert done.returncode == 0 and done.stdout.strip() == "5", done.stderr


def test_the_training_names_load_on_use_and_tune_the_allocator_first():
    done = _fresh_python(
        "import sys\n"
        "import lab, lab.allocator\n"
        "assert lab.allocator._tuned is None  # not yet: nothing trains\n"
        "from lab import train\n"
        "assert 'torch' in sys.modules and lab.allocator._tuned is not None\n"
        "assert train is lab.train and lab.inspect and lab.train_many and lab.build_model\n"
        "assert lab.Run.__name__ == 'Run' and set(lab.__all__) <= set(dir(lab))\n"
        "run = lab.train(lab.Config(depth=1, width=4, steps=2, n_samples=40))\n"
        "print(run.steps_done)\n"
        "assert lab.theory.predict and lab.sweep.sweep  # submodules, as attributes\n"
        "try:\n"
        "    lab.no_such_name\n"
        "except AttributeError as e:\n"
        "    print(e)\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["2", "module 'lab' has no attribute 'no_such_name'"]
