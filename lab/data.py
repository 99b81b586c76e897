"""Datasets: seeded synthetic 2-D sets, scikit-learn's digits, and MNIST IDX files from a folder.

Importing this module does not import torch (the controls list the datasets before a kernel
has needed torch); building a Dataset does.
"""

from __future__ import annotations

import functools
import gzip
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lab.config import CLASSES, DATASETS, IMAGE_DATASETS, Config
from lab.schedule import VAL_FRACTION  # noqa: F401  (re-exported)

if TYPE_CHECKING:
    import torch

# file stem -> what it holds; each may be raw or .gz
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
# alternative sub-folders people already have (torchvision's layout)
_FOLDERS = {"mnist": ("mnist", "MNIST/raw"), "fashion_mnist": ("fashion_mnist", "FashionMNIST/raw")}
DIGITS_SHAPE = (8, 8)  # scikit-learn's digits
PIXEL_MAX = {"digits": 16.0, "mnist": 255.0, "fashion_mnist": 255.0}  # standardize="unit" divides
DATA_DIR_ENV = "LAB_DATA_DIR"


class MissingDataError(FileNotFoundError, ValueError):
    """A dataset's files are not where LAB_DATA_DIR says; the message (one line) says which.

    A ValueError too: callers that report a bad scenario (the CLI, the dashboard) catch it
    with the rest.
    """


@dataclass(frozen=True)
class Dataset:
    """A classification dataset split into train and validation tensors (CPU)."""

    name: str
    x_train: torch.Tensor  # (n_train, n_features) float32
    y_train: torch.Tensor  # (n_train,) int64
    x_val: torch.Tensor  # (n_val, n_features) float32
    y_val: torch.Tensor  # (n_val,) int64
    n_classes: int
    image_shape: tuple[int, int] | None  # (H, W) for image datasets, else None

    @property
    def n_features(self) -> int:
        """Number of input features per example."""
        return int(self.x_train.shape[1])


def load(cfg: Config) -> Dataset:
    """Return the dataset `cfg` names, split and scaled as cfg.standardize says."""
    return _load(cfg.dataset, cfg.n_samples, cfg.noise, cfg.seed, cfg.standardize,
                 data_source(cfg.dataset))  # a new folder is a new entry


@functools.lru_cache(maxsize=16)
def _load(name: str, n_samples: int, noise: float, seed: int, standardize: str,
          where: str) -> Dataset:
    import torch  # here, not at the top: see the module's docstring

    rng = np.random.default_rng(seed)
    image_shape = None
    if name in IMAGE_DATASETS:
        x, y, image_shape = _images(name)
        keep = rng.permutation(len(x))[: min(n_samples, len(x))]
        x, y = x[keep], y[keep]
    else:
        x, y = _synthetic(name, n_samples, noise, rng)
    order = rng.permutation(len(x))
    n_val = max(1, int(round(VAL_FRACTION * len(x))))
    val, train = order[:n_val], order[n_val:]
    x_train, x_val = x[train], x[val]
    x_train, x_val = scale(name, standardize, x_train, x_val)
    return Dataset(
        name=name,
        x_train=torch.from_numpy(np.ascontiguousarray(x_train, dtype=np.float32)),
        y_train=torch.from_numpy(y[train].astype(np.int64)),
        x_val=torch.from_numpy(np.ascontiguousarray(x_val, dtype=np.float32)),
        y_val=torch.from_numpy(y[val].astype(np.int64)),
        n_classes=int(y.max()) + 1,
        image_shape=image_shape,
    )


def scale(name: str, how: str, x_train: np.ndarray,
          x_val: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale both splits as `how` says, with training statistics only (Config.standardize)."""
    if how == "zscore":
        shift = x_train.mean(axis=0)
        size = x_train.std(axis=0)
        size[size < 1e-8] = 1.0  # constant pixels (digit corners) stay as they are
    elif how == "unit" and name in PIXEL_MAX:  # pixels: the format's own range, 0..max
        shift, size = 0.0, PIXEL_MAX[name]
    elif how == "unit":  # 2-D sets: min-max; validation points may fall a little outside
        shift = x_train.min(axis=0)
        size = x_train.max(axis=0) - shift
        size[size < 1e-8] = 1.0
    else:
        return x_train, x_val
    return (x_train - shift) / size, (x_val - shift) / size


def _synthetic(name: str, n: int, noise: float, rng: np.random.Generator):
    """Return (x, y) for a 2-D toy set; `noise` is the std of Gaussian jitter."""
    if name == "spirals":  # three interleaved arms (cs231n)
        k = 3
        per = np.full(k, n // k)
        per[: n % k] += 1
        xs, ys = [], []
        for c in range(k):
            r = np.linspace(0.0, 1.0, per[c])
            t = np.linspace(c * 4.0, (c + 1) * 4.0, per[c]) + rng.normal(0, 1, per[c]) * noise * 2
            xs.append(np.column_stack([r * np.sin(t), r * np.cos(t)]))
            ys.append(np.full(per[c], c))
        return np.concatenate(xs), np.concatenate(ys)
    if name == "moons":
        from sklearn.datasets import make_moons

        return make_moons(n, noise=noise, random_state=_sk_seed(rng))
    if name == "circles":
        from sklearn.datasets import make_circles

        return make_circles(n, noise=noise, factor=0.5, random_state=_sk_seed(rng))
    if name == "xor":
        x = rng.uniform(-1.0, 1.0, size=(n, 2))
        y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
        return x + rng.normal(0.0, noise, size=x.shape), y
    raise ValueError(f"dataset={name!r}: unknown")


def _sk_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def _images(name: str):
    """Return (x flattened float, y, (H, W)) for an image dataset, pixels as stored (0..max)."""
    if name == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()  # ships with scikit-learn: 1797 8x8 images, values 0..16
        return bunch.data.astype(np.float64), bunch.target, DIGITS_SHAPE
    folder = data_folder(name)
    images = read_idx(_find(folder, IDX_FILES[0]))
    labels = read_idx(_find(folder, IDX_FILES[1]))
    if len(images) != len(labels):
        raise ValueError(f"{name}: {len(images)} images but {len(labels)} labels in {folder}")
    if images.ndim != 3:
        raise ValueError(f"{name}: {folder} holds images of shape {images.shape}; "
                         "expected (count, height, width)")
    h, w = images.shape[1:]
    return images.reshape(len(images), -1).astype(np.float64), labels, (h, w)


def sizes(cfg: Config) -> tuple[int, int, tuple[int, int] | None]:
    """(input features, classes, image (H, W) or None) of cfg's dataset; without torch or
    building it, except for file datasets (their image size is in their files)."""
    if reads_files(cfg.dataset):
        data = load(cfg)
        return data.n_features, data.n_classes, data.image_shape
    if cfg.dataset == "digits":
        return DIGITS_SHAPE[0] * DIGITS_SHAPE[1], CLASSES["digits"], DIGITS_SHAPE
    return 2, CLASSES[cfg.dataset], None


def data_dir() -> Path | None:
    """The folder named by LAB_DATA_DIR, or None if unset."""
    value = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(value).expanduser() if value else None


def reads_files(name: str) -> bool:
    """Whether dataset `name` is read from files under LAB_DATA_DIR (the MNIST variants)."""
    return name in _FOLDERS


def data_source(name: str) -> str:
    """Where `name`'s examples come from: the LAB_DATA_DIR folder for file datasets, else ''.

    Part of every key that caches a dataset or a run (lab.cache): other files, other results.
    """
    return str(data_dir()) if reads_files(name) else ""


def data_folder(name: str) -> Path:
    """The folder holding `name`'s IDX files (first layout that has them); MissingDataError."""
    folder = _complete_folder(name)
    if folder is None:
        raise MissingDataError(f"dataset={name!r}: {missing_files(name)}")
    return folder


def _complete_folder(name: str) -> Path | None:
    """The first of `name`'s layouts under LAB_DATA_DIR that holds every IDX file, or None."""
    root = data_dir()
    for sub in _FOLDERS[name] if root is not None else ():
        if all(_find(root / sub, stem, strict=False) for stem in IDX_FILES):
            return root / sub
    return None


def missing_files(name: str) -> str:
    """A sentence saying which IDX files are missing for `name` and where to put them, or ''."""
    if _complete_folder(name) is not None:
        return ""
    root = data_dir()
    wanted = " and ".join(f"{s}[.gz]" for s in IDX_FILES)
    if root is None:
        return (f"{name} is read from files: set {DATA_DIR_ENV} to a folder and put {wanted} "
                f"in {DATA_DIR_ENV}/{name}/")
    folder = root / name
    missing = [s for s in IDX_FILES if not _find(folder, s, strict=False)]
    return (f"{', '.join(missing)} (raw or .gz) not found in {folder}; put the {name} files "
            f"there, or set {DATA_DIR_ENV} to the folder that holds {name}/")


def available_datasets() -> tuple[str, ...]:
    """Dataset names usable now (MNIST variants only when their files are present)."""
    return tuple(d for d in DATASETS if not reads_files(d) or not missing_files(d))


def _find(folder: Path, stem: str, strict: bool = True) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz", folder / stem.replace("-idx", ".idx")):
        if candidate.is_file():
            return candidate
    if strict:
        raise FileNotFoundError(f"{stem}[.gz] not found in {folder}")
    return None


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (raw or gzip) into a uint8 array of its stated shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        head = f.read(4)
        if len(head) != 4 or head[:2] != b"\x00\x00" or head[2] != 0x08:
            raise ValueError(f"{path}: not an unsigned-byte IDX file (magic {head.hex()})")
        ndim = head[3]
        dims = f.read(4 * ndim)
        if len(dims) != 4 * ndim:
            raise ValueError(f"{path}: IDX header is cut short ({len(dims)} of {4 * ndim} bytes)")
        shape = struct.unpack(f">{ndim}I", dims)
        body = f.read()
    count = int(np.prod(shape))
    if len(body) != count:
        raise ValueError(f"{path}: header says {count} bytes of data, file has {len(body)}")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)
