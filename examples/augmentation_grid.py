"""The data-augmentation pipeline the articles describe, shown on a grid of images.

Source program: the articles' augmentation recipe (random horizontal flip,
random crop with padding, random rotation of about +-20 degrees, random
scale, colour jitter, added noise, normalisation to [0, 1]) as PyTorch's
``transforms.Compose([...])``. Row 0 holds the originals; every other row is
one random draw of the whole pipeline, and the last columns show each
transform alone. Written to a PNG.

    python examples/augmentation_grid.py [--out augmentation_grid.png] [--rows 4] [--quick]
"""
import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import tinygrad_img as tg  # noqa: E402
from tinygrad_img.data import transforms as T  # noqa: E402
from tinygrad_img.data.datasets import make_shapes  # noqa: E402

SINGLE = {
    "flip": T.RandomHorizontalFlip(p=1.0),
    "crop (pad 4)": T.RandomCrop(32, padding=4),
    "rotate 20": T.RandomRotation(20),
    "scale": T.RandomScale((0.8, 1.2)),
    "colour": T.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4),
    "noise": T.GaussianNoise(0.08, clip=True),
}


def pipeline():
    return T.Compose([T.RandomHorizontalFlip(), T.RandomCrop(32, padding=4), T.RandomRotation(20),
                      T.RandomScale((0.9, 1.1)), T.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3),
                      T.GaussianNoise(0.03, clip=True)])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="augmentation_grid.png")
    parser.add_argument("--rows", type=int, default=4, help="random draws of the full pipeline")
    parser.add_argument("--cols", type=int, default=6, help="images per row")
    parser.add_argument("--quick", action="store_true", help="a 2 x 3 grid (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.cols = 2, 3
    tg.manual_seed(0)
    (images, _), _ = make_shapes(n=40, size=32)
    batch = images[:args.cols]                      # (cols, 3, 32, 32) in [0, 1]
    augment = pipeline()
    grid = [batch] + [augment(batch) for _ in range(args.rows)]
    singles = [(name, t(batch[:1])[0]) for name, t in SINGLE.items()]

    cols = args.cols + len(singles)
    fig, axes = plt.subplots(len(grid), cols, figsize=(1.4 * cols, 1.5 * len(grid)), squeeze=False)
    for r, row in enumerate(grid):
        for c in range(cols):
            ax = axes[r][c]
            ax.axis("off")
            if c < args.cols:
                ax.imshow(np.clip(row[c].transpose(1, 2, 0), 0, 1))
                if c == 0:
                    ax.set_title("original" if r == 0 else f"draw {r}", fontsize=8, loc="left")
            elif r == 0:
                name, img = singles[c - args.cols]
                ax.imshow(np.clip(img.transpose(1, 2, 0), 0, 1))
                ax.set_title(name, fontsize=8)
    fig.suptitle("Augmentation pipeline: flip, crop, rotate, scale, colour, noise")
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    plt.close(fig)
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
