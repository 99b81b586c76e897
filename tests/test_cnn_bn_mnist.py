"""tools/cnn_bn_mnist.py: it finds MNIST's IDX files in a flat folder (named as some copies name
them, train-images.idx3-ubyte) and trains and draws from exactly those images."""

import importlib.util
import struct
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import lab

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("cnn_bn_mnist", ROOT / "tools" / "cnn_bn_mnist.py")
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _fake_mnist(folder: Path, n: int = 60) -> np.ndarray:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 8, 8), dtype=np.uint8)
    folder.mkdir()
    _write_idx(folder / "train-images.idx3-ubyte", images)
    _write_idx(folder / "train-labels.idx1-ubyte", np.arange(n) % 10)
    return images


def test_a_flat_folder_is_read_image_for_image(tmp_path, monkeypatch):
    images = _fake_mnist(tmp_path / "flat")
    (tmp_path / "scratch").mkdir()
    root = tool.data_root(tmp_path / "flat", tmp_path / "scratch")
    monkeypatch.setenv("LAB_DATA_DIR", str(root))
    ds = lab.data.load(lab.Config(arch="cnn", dataset="mnist", n_samples=60, standardize="unit"))
    seen = torch.cat([ds.x_train, ds.x_val]).numpy() * 255  # "unit": bytes / 255
    assert ds.image_shape == (8, 8)
    assert sorted(map(tuple, np.rint(seen).astype(int))) == sorted(
        map(tuple, images.reshape(60, -1).astype(int)))


def test_the_tool_trains_both_nets_and_writes_the_figure(tmp_path, monkeypatch, capsys):
    _fake_mnist(tmp_path / "flat")
    monkeypatch.setenv("LAB_DATA_DIR", "")  # restored after the tool sets it
    out = tmp_path / "figure.png"
    tool.main(["--mnist", str(tmp_path / "flat"), "--out", str(out), "--seeds", "1",
               "--steps", "3", "--n-samples", "60"])
    printed = capsys.readouterr().out
    assert printed.count("seed 0: val acc") == 2 and "no BN" in printed
    with Image.open(out) as im:
        assert im.size == (1100, 396)
