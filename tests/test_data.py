"""lab.data: synthetic sets, digits, MNIST IDX files, splits and standardization."""

import gzip
import struct

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import lab.data
from lab.config import SYNTHETIC_DATASETS, Config

N_CLASSES = {"spirals": 3, "moons": 2, "circles": 2, "xor": 2}
IMAGES_STEM = "train-images-idx3-ubyte"
LABELS_STEM = "train-labels-idx1-ubyte"


@pytest.fixture(autouse=True)
def fresh_cache():
    lab.data._load.cache_clear()
    yield
    lab.data._load.cache_clear()


def _load(**kwargs):
    return lab.data.load(Config(**kwargs))


def _all(ds):
    x = np.concatenate([ds.x_train.numpy(), ds.x_val.numpy()])
    y = np.concatenate([ds.y_train.numpy(), ds.y_val.numpy()])
    return x, y


def _idx_bytes(array):
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def _write_idx(path, array, gz=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    data = _idx_bytes(array)
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


def _fake_mnist(n=30, shape=(5, 4), seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
    flat = images.reshape(n, -1)
    assert len({row.tobytes() for row in flat}) == n  # rows identify images
    return images, labels


def _write_mnist(folder, images, labels, gz=False):
    suffix = ".gz" if gz else ""
    _write_idx(folder / (IMAGES_STEM + suffix), images, gz)
    _write_idx(folder / (LABELS_STEM + suffix), labels, gz)


# ---------------------------------------------------------------- synthetic sets


@pytest.mark.parametrize("name", SYNTHETIC_DATASETS)
@pytest.mark.parametrize("n", [100, 53, 20])
def test_synthetic_shapes_split_and_labels(name, n):
    ds = _load(dataset=name, n_samples=n)
    n_val = round(0.2 * n)
    assert ds.name == name
    assert ds.x_train.shape == (n - n_val, 2) and ds.x_val.shape == (n_val, 2)
    assert ds.y_train.shape == (n - n_val,) and ds.y_val.shape == (n_val,)
    assert ds.n_features == 2 and ds.image_shape is None
    assert ds.x_train.dtype == ds.x_val.dtype == torch.float32
    assert ds.y_train.dtype == ds.y_val.dtype == torch.int64
    assert ds.n_classes == N_CLASSES[name]
    x, y = _all(ds)
    assert np.isfinite(x).all()
    assert y.min() >= 0 and y.max() < ds.n_classes
    assert set(np.unique(y)) == set(range(N_CLASSES[name]))


@pytest.mark.parametrize("n", [100, 101, 102, 20])
def test_spirals_classes_are_balanced(n):
    _, y = _all(_load(dataset="spirals", n_samples=n))
    counts = np.bincount(y, minlength=3)
    assert len(counts) == 3 and counts.sum() == n
    assert counts.max() - counts.min() <= 1


def test_noise_free_xor_labels_are_quadrant_signs():
    x, y = _all(_load(dataset="xor", n_samples=400, noise=0.0, standardize=False))
    assert np.abs(x).max() <= 1.0
    np.testing.assert_array_equal(y, (x[:, 0] * x[:, 1] > 0).astype(np.int64))


def test_noise_free_spirals_lie_in_the_unit_disk():
    x, _ = _all(_load(dataset="spirals", n_samples=300, noise=0.0, standardize=False))
    assert np.linalg.norm(x, axis=1).max() <= 1.0 + 1e-6


@pytest.mark.parametrize("name", SYNTHETIC_DATASETS)
def test_same_seed_same_data_other_seed_or_noise_other_data(name):
    a = _load(dataset=name, n_samples=200, seed=3)
    lab.data._load.cache_clear()
    b = _load(dataset=name, n_samples=200, seed=3)
    assert a.x_train is not b.x_train  # recomputed, not the cached object
    for t in ("x_train", "y_train", "x_val", "y_val"):
        assert torch.equal(getattr(a, t), getattr(b, t)), t
    c = _load(dataset=name, n_samples=200, seed=4)
    assert not torch.equal(a.x_train, c.x_train)
    d = _load(dataset=name, n_samples=200, seed=3, noise=0.3)
    assert not torch.equal(a.x_train, d.x_train)


# ---------------------------------------------------------------- standardization


@pytest.mark.parametrize("name", SYNTHETIC_DATASETS)
def test_standardize_uses_training_statistics(name):
    std_ds = _load(dataset=name, n_samples=500, seed=1, standardize=True)
    raw_ds = _load(dataset=name, n_samples=500, seed=1, standardize=False)
    x_train = std_ds.x_train.numpy().astype(np.float64)
    np.testing.assert_allclose(x_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(x_train.std(axis=0), 1.0, atol=1e-5)
    # same split either way
    assert torch.equal(std_ds.y_train, raw_ds.y_train) and torch.equal(std_ds.y_val, raw_ds.y_val)
    raw_train = raw_ds.x_train.numpy().astype(np.float64)
    raw_val = raw_ds.x_val.numpy().astype(np.float64)
    mean, std = raw_train.mean(axis=0), raw_train.std(axis=0)
    np.testing.assert_allclose(std_ds.x_train.numpy(), (raw_train - mean) / std, atol=1e-5)
    np.testing.assert_allclose(std_ds.x_val.numpy(), (raw_val - mean) / std, atol=1e-5)
    # and not with the validation set's own statistics
    own = (raw_val - raw_val.mean(axis=0)) / raw_val.std(axis=0)
    assert not np.allclose(std_ds.x_val.numpy(), own, atol=1e-5)


def test_standardized_digits_keep_constant_pixels_finite():
    ds = _load(dataset="digits", n_samples=500, standardize=True)
    raw = _load(dataset="digits", n_samples=500, standardize=False)
    raw_std = raw.x_train.numpy().std(axis=0)
    constant = raw_std < 1e-8
    assert constant.any() and not constant.all()  # digits have blank corner pixels
    x_train, x_val = ds.x_train.numpy(), ds.x_val.numpy()
    assert np.isfinite(x_train).all() and np.isfinite(x_val).all()
    np.testing.assert_allclose(x_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(x_train.std(axis=0)[~constant], 1.0, atol=1e-4)
    np.testing.assert_allclose(x_train[:, constant], 0.0, atol=1e-6)


def test_unit_scaling_divides_digit_pixels_by_16():
    unit = _load(dataset="digits", n_samples=1797, seed=2, standardize="unit")
    raw = _load(dataset="digits", n_samples=1797, seed=2, standardize="none")
    assert load_digits().data.max() == 16.0  # scikit-learn's digits: 4-bit pixels, 0..16
    x, _ = _all(unit)
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_allclose(unit.x_train.numpy(), raw.x_train.numpy() / 16.0, rtol=1e-7)
    np.testing.assert_allclose(unit.x_val.numpy(), raw.x_val.numpy() / 16.0, rtol=1e-7)
    assert torch.equal(unit.y_val, raw.y_val)  # same split


@pytest.mark.parametrize("name", SYNTHETIC_DATASETS)
def test_unit_scaling_of_2d_sets_is_min_max_of_the_training_split(name):
    unit = _load(dataset=name, n_samples=500, seed=1, standardize="unit")
    raw = _load(dataset=name, n_samples=500, seed=1, standardize=False)
    r_train, r_val = raw.x_train.numpy().astype(np.float64), raw.x_val.numpy().astype(np.float64)
    low, high = r_train.min(axis=0), r_train.max(axis=0)
    np.testing.assert_allclose(unit.x_train.numpy().min(axis=0), 0.0, atol=1e-7)
    np.testing.assert_allclose(unit.x_train.numpy().max(axis=0), 1.0, atol=1e-6)
    np.testing.assert_allclose(unit.x_val.numpy(), (r_val - low) / (high - low), atol=1e-6)


def test_standardize_true_and_false_are_zscore_and_none():
    assert Config(standardize=True).standardize == "zscore"
    assert Config(standardize=False).standardize == "none"
    a, b = _load(dataset="moons", standardize=True), _load(dataset="moons", standardize="zscore")
    assert torch.equal(a.x_train, b.x_train)


# ---------------------------------------------------------------- digits


def test_digits_are_sklearns_digits():
    ds = _load(dataset="digits", n_samples=5000, standardize=False)
    assert ds.n_features == 64 and ds.n_classes == 10 and ds.image_shape == (8, 8)
    x, y = _all(ds)
    assert len(x) == 1797 and len(ds.x_val) == round(0.2 * 1797)
    assert x.min() >= 0 and x.max() <= 16
    np.testing.assert_array_equal(x, np.round(x))
    ref = load_digits()
    mine = np.column_stack([x, y]).astype(np.float64)
    theirs = np.column_stack([ref.data, ref.target]).astype(np.float64)
    mine = mine[np.lexsort(mine.T[::-1])]
    theirs = theirs[np.lexsort(theirs.T[::-1])]
    np.testing.assert_array_equal(mine, theirs)


def test_digits_subset_is_drawn_from_digits():
    ds = _load(dataset="digits", n_samples=100, standardize=False)
    x, y = _all(ds)
    assert len(x) == 100 and len(ds.x_val) == 20
    ref = load_digits()
    known = {}
    for row, label in zip(ref.data.astype(np.float32), ref.target, strict=True):
        known.setdefault(row.tobytes(), set()).add(int(label))
    for row, label in zip(x, y, strict=True):
        assert int(label) in known[row.tobytes()]


# ---------------------------------------------------------------- IDX files


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_returns_what_was_written(tmp_path, gz):
    images, labels = _fake_mnist()
    suffix = ".gz" if gz else ""
    img_path = _write_idx(tmp_path / f"images{suffix}", images, gz)
    lab_path = _write_idx(tmp_path / f"labels{suffix}", labels, gz)
    got_images = lab.data.read_idx(img_path)
    got_labels = lab.data.read_idx(lab_path)
    assert got_images.dtype == np.uint8 and got_images.shape == (30, 5, 4)
    assert got_labels.dtype == np.uint8 and got_labels.shape == (30,)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    "corrupt",
    [
        lambda good: b"\x00\x00\x0d\x03" + good[4:],  # float IDX, not unsigned byte
        lambda good: b"\x01\x02" + good[2:],  # not an IDX magic at all
        lambda good: good[:-1],  # body one byte short
        lambda good: good[:20],  # body mostly missing
        lambda good: b"",  # empty file
    ],
    ids=["float-type", "bad-magic", "short-by-one", "truncated", "empty"],
)
def test_corrupt_idx_raises_naming_the_path(tmp_path, gz, corrupt):
    images, _ = _fake_mnist()
    data = corrupt(_idx_bytes(images))
    path = tmp_path / ("bad.gz" if gz else "bad")
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    with pytest.raises(ValueError) as info:
        lab.data.read_idx(path)
    assert str(path) in str(info.value)


def test_idx_with_truncated_dimensions_raises_value_error(tmp_path):
    path = tmp_path / "short-header"
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00\x00\x1e\x00")  # says 3 dims, holds 1.25
    with pytest.raises(ValueError, match="short-header"):
        lab.data.read_idx(path)


# ---------------------------------------------------------------- MNIST from a folder


LAYOUTS = [
    ("mnist", "mnist", False),
    ("mnist", "MNIST/raw", True),
    ("fashion_mnist", "fashion_mnist", True),
    ("fashion_mnist", "FashionMNIST/raw", False),
]


@pytest.mark.parametrize(("name", "sub", "gz"), LAYOUTS)
@pytest.mark.parametrize("n_samples", [30, 20])
def test_mnist_loads_from_lab_data_dir(tmp_path, monkeypatch, name, sub, gz, n_samples):
    images, labels = _fake_mnist()
    _write_mnist(tmp_path.joinpath(*sub.split("/")), images, labels, gz)
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path))
    ds = lab.data.load(Config(dataset=name, n_samples=n_samples, standardize=False))
    unit = lab.data.load(Config(dataset=name, n_samples=n_samples, standardize="unit"))
    np.testing.assert_allclose(unit.x_train.numpy(), ds.x_train.numpy() / 255.0, rtol=1e-7)
    assert ds.name == name and ds.n_features == 20 and ds.image_shape == (5, 4)
    assert len(ds.x_val) == round(0.2 * n_samples)
    x, y = _all(ds)
    assert x.dtype == np.float32 and y.dtype == np.int64 and len(x) == n_samples
    flat = images.reshape(len(images), -1)
    index = {row.tobytes(): i for i, row in enumerate(flat)}
    seen = []
    for row, label in zip(x, y, strict=True):
        i = index[row.astype(np.uint8).tobytes()]  # raw: the stored bytes 0..255
        np.testing.assert_array_equal(row, flat[i])
        assert label == labels[i]
        seen.append(i)
    assert len(set(seen)) == n_samples  # each image at most once
    if n_samples == 30:
        assert ds.n_classes == 10


def test_available_datasets_follows_the_files(tmp_path, monkeypatch):
    always = set(SYNTHETIC_DATASETS) | {"digits"}
    monkeypatch.delenv("LAB_DATA_DIR", raising=False)
    assert set(lab.data.available_datasets()) == always
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path))
    assert set(lab.data.available_datasets()) == always
    images, labels = _fake_mnist()
    _write_mnist(tmp_path / "mnist", images, labels)
    assert set(lab.data.available_datasets()) == always | {"mnist"}
    _write_mnist(tmp_path / "FashionMNIST" / "raw", images, labels, gz=True)
    assert set(lab.data.available_datasets()) == always | {"mnist", "fashion_mnist"}


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_missing_files_are_named_with_their_folder(tmp_path, monkeypatch, name):
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path))
    with pytest.raises(ValueError) as info:
        lab.data.load(Config(dataset=name))
    message = str(info.value)
    assert IMAGES_STEM in message and LABELS_STEM in message
    assert str(tmp_path / name) in message


def test_only_the_missing_file_is_named(tmp_path, monkeypatch):
    images, _ = _fake_mnist()
    _write_idx(tmp_path / "mnist" / IMAGES_STEM, images)
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path))
    with pytest.raises(ValueError) as info:
        lab.data.load(Config(dataset="mnist"))
    message = str(info.value)
    assert LABELS_STEM in message and IMAGES_STEM not in message
    assert "mnist" not in lab.data.available_datasets()


def test_image_and_label_counts_must_agree(tmp_path, monkeypatch):
    images, labels = _fake_mnist()
    _write_mnist(tmp_path / "mnist", images, labels[:-1])
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path))
    cfg = Config(dataset="mnist", n_samples=20)
    with pytest.raises(ValueError) as info:
        lab.data.load(cfg)
    assert str(tmp_path / "mnist") in str(info.value)


# ---------------------------------------------------------------- missing files: where loaded


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_missing_files_are_a_clean_error_of_loading_not_of_the_config(monkeypatch, name):
    monkeypatch.delenv("LAB_DATA_DIR", raising=False)
    cfg = Config(dataset=name)  # a value: valid whatever the disk holds
    with pytest.raises(lab.data.MissingDataError) as info:
        lab.data.load(cfg)
    error = info.value
    assert isinstance(error, FileNotFoundError) and isinstance(error, ValueError)
    message = str(error)
    assert "\n" not in message and message.startswith(f"dataset={name!r}: ")
    # which files, which folder, how to set it
    assert IMAGES_STEM in message and LABELS_STEM in message
    assert f"LAB_DATA_DIR/{name}/" in message and "set LAB_DATA_DIR" in message


def test_the_dashboard_says_which_files_are_missing_without_a_traceback(monkeypatch):
    import lab.ui

    monkeypatch.delenv("LAB_DATA_DIR", raising=False)
    dash = lab.ui.Dashboard(Config(dataset="mnist", depth=2, width=8, steps=5), cache=None)
    try:
        assert dash.wait(60)
        assert dash.controls["dataset"].value == "mnist"  # shown as asked, not swapped
        message = dash.message.value
        assert "Traceback" not in message and "\n" not in message
        assert "mnist" in message and "LAB_DATA_DIR" in message and IMAGES_STEM in message
        assert dash.run is None and dash.last_png == b""  # nothing trained, nothing drawn
    finally:
        dash.close()


@pytest.mark.parametrize("dataset", ["spirals", "moons", "circles", "xor", "digits"])
def test_sizes_without_building_the_dataset_are_the_built_datasets(dataset):
    cfg = Config(dataset=dataset, n_samples=200)
    data = lab.data.load(cfg)
    assert lab.data.sizes(cfg) == (data.n_features, data.n_classes, data.image_shape)
