"""Compose the README's picture of the dashboard at four screen sizes from chromium screenshots.

Usage: python tools/dashboard_sizes.py [ARTIFACTS] [OUT]
(defaults: test-artifacts, docs/dashboard-sizes.png). The screenshots are the ones
tests/test_browser.py saves (test-artifacts/layout-<size>.png, after picking the
vanishing-sigmoid preset and its run finishing): run
`pytest tests/test_browser.py -k layout` first. Each is scaled to one height and labelled; the
result is a 256-colour PNG, well under 1 MB.
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend
from PIL import Image  # noqa: E402 - matplotlib's own dependency

SIZES = [("1920x1080", "projector, 1920x1080"), ("1280x800", "projector / laptop, 1280x800"),
         ("1024x768", "old projector, 1024x768"), ("390x844", "phone, 390x844 (touch)")]
HEIGHT_IN = 4.2  # of each screenshot in the figure
DPI = 130


def compose(artifacts: Path, out: Path) -> None:
    """Write the four screenshots side by side, same height, each under its caption."""
    images = [Image.open(artifacts / f"layout-{size}.png").convert("RGB") for size, _ in SIZES]
    aspects = [im.width / im.height for im in images]
    gap = 0.25
    fig = plt.figure(figsize=(sum(aspects) * HEIGHT_IN + gap * (len(images) + 1),
                              HEIGHT_IN + 0.45), dpi=DPI)
    width_in = fig.get_figwidth()
    x = gap
    for im, aspect, (_, caption) in zip(images, aspects, SIZES, strict=True):
        w = aspect * HEIGHT_IN
        ax = fig.add_axes((x / width_in, 0.02, w / width_in, HEIGHT_IN / fig.get_figheight()))
        ax.imshow(im, interpolation="lanczos")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_color("#999999")
        ax.set_title(caption, fontsize=11)
        x += w + gap
    tmp = out.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=DPI, facecolor="white")
    plt.close(fig)
    Image.open(tmp).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
        out, optimize=True)
    tmp.unlink()
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    compose(Path(sys.argv[1] if len(sys.argv) > 1 else "test-artifacts"),
            Path(sys.argv[2] if len(sys.argv) > 2 else "docs/dashboard-sizes.png"))
