"""python -m lab: run, sweep and presets from the command line, and its bad-input errors."""

import re
import subprocess
import sys

import pytest
from PIL import Image

from lab import presets
from lab.cli import main

SMALL = ["--steps", "20", "--depth", "4", "--width", "8", "--n-samples", "200"]


def test_run_writes_a_wide_png_and_a_gif_and_prints_the_verdict(tmp_path, capsys):
    png, gif = tmp_path / "fig.png", tmp_path / "anim.gif"
    assert main(["run", *SMALL, "--activation", "sigmoid", "--out", str(png),
                 "--gif", str(gif)]) == 0
    assert Image.open(png).size[0] >= 1000
    frames = Image.open(gif)
    assert frames.n_frames >= 5
    out = capsys.readouterr().out
    assert "verdict:" in out and "finished 20 steps" in out and "activation=sigmoid" in out


def test_run_from_a_preset_applies_flags_on_top(tmp_path, capsys):
    name = presets.names()[0]
    assert main(["run", "--preset", name, "--steps", "5", "--out", str(tmp_path / "p.png")]) == 0
    out = capsys.readouterr().out
    want = presets.get(name).config.replace(steps=5).to_query()
    assert f"config: {want}" in out


def test_sweep_trains_every_combination(tmp_path, capsys):
    out_png = tmp_path / "sweep.png"
    assert main(["sweep", "--vary", "init_gain=0.5,2", "--vary", "activation=relu,tanh",
                 *SMALL, "--out", str(out_png)]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "layer1/last" in ln]
    assert len(lines) == 4
    assert {ln.split()[0] + " " + ln.split()[1] for ln in lines} == {
        "init_gain=0.5 activation=relu", "init_gain=0.5 activation=tanh",
        "init_gain=2.0 activation=relu", "init_gain=2.0 activation=tanh"}
    assert Image.open(out_png).size[0] >= 1000


def test_run_says_which_weights_it_shows_and_the_training_accuracy(tmp_path, capsys):
    argv = ["run", "--steps", "3000", "--depth", "6", "--width", "16", "--n-samples", "200",
            "--lr", "0.03", "--early-stopping", "3", "--restore-best", "true", "--no-cache",
            "--out", str(tmp_path / "best.png")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    step = re.search(r"stopped early at step \d+; showing the best weights, from step (\d+)", out)
    assert step, out
    assert f"best weights (step {step[1]}): validation accuracy" in out
    assert "training accuracy" in out and f"model at step {step[1]}: val loss" in out


def test_restore_best_without_early_stopping_is_refused_with_both_fields(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "--restore-best", "true", "--out", "never.png"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "restore_best=True" in err and "early_stopping=0" in err


@pytest.mark.parametrize("text,want", [("unit", "unit"), ("none", "none"), ("false", "none"),
                                       ("true", "zscore"), ("zscore", "zscore")])
def test_standardize_flag_takes_a_choice_or_the_old_true_false(text, want):
    from lab.cli import _base_config, _parser

    parser = _parser()
    args = parser.parse_args(["run", "--standardize", text, "--out", "x.png"])
    assert _base_config(parser, args).standardize == want


def test_presets_lists_every_preset(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in out] == presets.names()


@pytest.mark.parametrize("argv,needle", [
    (["run", "--depth", "1e9"], "--depth"),
    (["run", "--activation", "foo"], "--activation"),
    (["run", "--init-gain", "nan"], "--init-gain"),
    (["run", "--standardize", "maybe"], "--standardize"),
    (["run", "--preset", "no-such-preset"], "no-such-preset"),
    (["run", "--arch", "cnn"], "arch"),
    (["sweep", "--vary", "depth"], "--vary"),
    (["sweep", "--vary", "nofield=1,2"], "--vary"),
    (["sweep", "--vary", "depth=1,abc"], "--vary depth"),
    (["run", "--bogus-flag", "3"], "--bogus-flag"),
])
def test_bad_flags_exit_2_naming_the_flag(tmp_path, capsys, argv, needle):
    with pytest.raises(SystemExit) as info:
        main([*argv, "--out", str(tmp_path / "x.png")])
    assert info.value.code == 2
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_module_entry_point():
    done = subprocess.run([sys.executable, "-m", "lab", "run", "--depth", "0", "--out", "x.png"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--depth" in done.stderr


def test_run_reuses_the_result_cache_unless_told_not_to(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path / "cache"))
    png = str(tmp_path / "fig.png")
    outs = []
    for extra in ([], [], ["--no-cache"]):
        assert main(["run", *SMALL, "--out", png, *extra]) == 0
        outs.append(capsys.readouterr().out)
    assert ["from the result cache" in out for out in outs] == [False, True, False]
    assert all("finished 20 steps" in out for out in outs)


def test_warm_trains_the_default_and_every_preset_once(tmp_path, monkeypatch, capsys):
    tiny = presets.Preset("tiny", "Tiny", presets.Config(steps=10, depth=3, width=8,
                                                         n_samples=200), "A tiny net.",
                          ("healthy", "fine"))
    monkeypatch.setattr(presets, "PRESETS", {"tiny": tiny})
    monkeypatch.setenv("LAB_CACHE_DIR", "")
    assert main(["warm"]) == 0
    assert "cache is off" in capsys.readouterr().out
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["warm"]) == 0
    first = capsys.readouterr().out
    assert "2 runs: 0 from cache, 2 trained" in first and str(tmp_path / "cache") in first
    assert re.search(r"\[ 2/2\] tiny +trained in", first)
    assert main(["warm"]) == 0
    assert "2 runs: 2 from cache, 0 trained" in capsys.readouterr().out


@pytest.mark.parametrize("command", [["run"], ["sweep", "--vary", "depth=1,2"]])
def test_missing_mnist_files_exit_2_with_one_line_naming_them(tmp_path, monkeypatch, capsys,
                                                               command):
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path))  # an empty folder
    monkeypatch.setenv("LAB_CACHE_DIR", "")
    with pytest.raises(SystemExit) as info:
        main([*command, "--dataset", "mnist", *SMALL, "--out", str(tmp_path / "x.png")])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after any progress bar
    assert err.startswith("python -m lab: error: dataset='mnist': ")
    assert "train-images-idx3-ubyte" in err and str(tmp_path / "mnist") in err
    assert "LAB_DATA_DIR" in err and "Traceback" not in err
    assert not (tmp_path / "x.png").exists()


def test_help_names_every_field_with_its_rule(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "--help"])
    assert info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert ("--depth VALUE number of hidden layers, layer 1 nearest the input; "
            "int in [1, 100]") in out
    assert "x0.1 at 50% and 75%" in out  # a literal percent sign, not a format
    assert "--dropout VALUE drop probability after each hidden activation; float in [0, 1)" in out
    assert "--residual VALUE identity skip around each hidden block after the first; true or " \
           "false" in out
    assert "one of linear, sigmoid, tanh, relu, leaky_relu, gelu, selu" in out
