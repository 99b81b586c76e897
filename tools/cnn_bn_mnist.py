"""Lesson 11's MNIST figure: the lab's small CNN with and without BatchNorm2d on MNIST.

Usage: python tools/cnn_bn_mnist.py --mnist DIR [--out docs/cnn-bn-mnist.png] [--seeds 3]
                                    [--steps 200] [--n-samples 3000]
DIR holds MNIST's IDX files (train-images-idx3-ubyte and train-labels-idx1-ubyte, raw or .gz),
directly or in DIR/mnist/ or DIR/MNIST/raw/ (torchvision's layout). Nothing is downloaded. Each
seed trains lesson 11's digits CNN at half its width (lab.Config arch="cnn": 3 conv layers of
8 channels, Adam) with batchnorm "none" and "before" (conv -> BN -> ReLU); the figure shows (a)
validation accuracy and (b) training loss over the steps, and the command prints each run's
final numbers. A few minutes on one CPU core (28x28 convolutions cost ~12x the digits' 8x8).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402 - matplotlib's own dependency

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import lab  # noqa: E402
from lab.data import IDX_FILES, _find  # noqa: E402
from lab.figure_style import RUN_COLORS  # noqa: E402

LABELS = {"none": "CNN, no BN", "before": "CNN, conv -> BN -> ReLU"}


def data_root(folder: Path, scratch: Path) -> Path:
    """A LAB_DATA_DIR under which lab.data finds `folder`'s MNIST files."""
    if all(_find(folder, stem, strict=False) for stem in IDX_FILES):
        (scratch / "mnist").symlink_to(folder.resolve(), target_is_directory=True)
        return scratch
    return folder  # DIR/mnist/ or DIR/MNIST/raw/: lab.data looks there itself


def main(argv: list[str] | None = None) -> None:
    """Train, print the final numbers and write the figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", type=Path, required=True, help="folder with the IDX files")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "cnn-bn-mnist.png")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--n-samples", type=int, default=3000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["LAB_DATA_DIR"] = str(data_root(args.mnist, Path(scratch)))
        base = lab.Config(arch="cnn", dataset="mnist", depth=3, width=8, steps=args.steps,
                          n_samples=args.n_samples)
        configs = [base.replace(batchnorm=bn, seed=s) for bn in LABELS for s in range(args.seeds)]
        runs = lab.train_many(configs)
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(10, 3.6), dpi=110)
    for cfg, run in zip(configs, runs, strict=True):
        color = RUN_COLORS[list(LABELS).index(cfg.batchnorm)]
        label = LABELS[cfg.batchnorm] if cfg.seed == 0 else None
        ax_acc.plot(run.val_steps, run.val_acc * 100, color=color, label=label, lw=1.5)
        ax_loss.semilogy(np.arange(len(run.loss)), run.loss, color=color, lw=0.8, alpha=0.7)
        print(f"{LABELS[cfg.batchnorm]:24s} seed {cfg.seed}: val acc {run.val_acc[-1]:.1%}, "
              f"train acc {run.train_acc[-1]:.1%}, {run.seconds:.0f} s")
    ax_acc.set(xlabel="step", ylabel="validation accuracy (%)", ylim=(0, 100))
    ax_acc.set_title(f"a  MNIST, {base.depth} conv layers x {base.width} channels, Adam, "
                     f"{args.seeds} seeds", loc="left", fontsize=10)
    ax_acc.legend(fontsize=8.5, loc="lower right")
    ax_loss.set(xlabel="step", ylabel="training loss (per batch)")
    ax_loss.set_title(f"b  training loss ({base.n_samples} images, 80% for training)",
                      loc="left", fontsize=10)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    buffer.seek(0)
    # 256 colours, as tools/dashboard_sizes.py: a third of the size, no visible change
    Image.open(buffer).convert("RGB").quantize(256).save(args.out, optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
