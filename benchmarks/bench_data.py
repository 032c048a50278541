"""Data pipeline speed: one epoch of batches, and batch augmentation, tinygrad_img vs PyTorch CPU.

Both run in the same process on the same data, interleaved round by round;
each cell is the median over rounds. Ratio = ours / PyTorch.

- "loader": one shuffled epoch of load_digits(size=28) (1,442 images) at batch 64,
  ours (TensorDataset gathers a batch with one fancy index) vs
  torch.utils.data.DataLoader over a TensorDataset (per-sample collate).
- "rotate": per-image random rotation of a (64, 3, 32, 32) batch, ours
  (RandomRotation: coordinates + one bilinear gather) vs torch affine_grid +
  grid_sample (what torchvision does for tensor batches).
- "crop+flip": RandomCrop(32, padding=4) + RandomHorizontalFlip on the same batch vs
  torch pad + per-batch gather (unfold-free index math) + where/flip.

    python benchmarks/bench_data.py [--rounds 15]
"""
import argparse
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tinygrad_img as tg  # noqa: E402
from tinygrad_img.data import transforms as T  # noqa: E402
from timing import interleaved  # noqa: E402


def _torch_rotate(x, max_deg=20.0):
    theta = (torch.rand(x.shape[0]) * 2 - 1) * math.radians(max_deg)
    cos, sin = torch.cos(theta), torch.sin(theta)
    zero = torch.zeros_like(cos)
    mat = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = torch.nn.functional.affine_grid(mat, list(x.shape), align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _torch_crop_flip(x, size=32, pad=4):
    n, c = x.shape[:2]
    p = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    top = torch.randint(0, 2 * pad + 1, (n,))
    left = torch.randint(0, 2 * pad + 1, (n,))
    rows = (top[:, None] + torch.arange(size))[:, None, :, None]
    cols = (left[:, None] + torch.arange(size))[:, None, None, :]
    out = p[torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols]
    flip = torch.rand(n) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(-1), out)


def _epoch_ours(x, y):
    for xb, yb in tg.data.DataLoader(tg.data.TensorDataset(x, y), batch_size=64, shuffle=True):
        pass


def _epoch_torch(xt, yt):
    ds = torch.utils.data.TensorDataset(xt, yt)
    for xb, yb in torch.utils.data.DataLoader(ds, batch_size=64, shuffle=True):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(1)
    (x, y), _ = tg.data.datasets.load_digits(size=28)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    batch = np.random.default_rng(0).random((64, 3, 32, 32)).astype(np.float32)
    tbatch = torch.from_numpy(batch)
    rotate, crop_flip = T.RandomRotation(20), T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()])
    cases = [("loader epoch (1442 imgs, bs 64)", lambda: _epoch_ours(x, y), lambda: _epoch_torch(xt, yt)),
             ("RandomRotation 64x3x32x32", lambda: rotate(batch), lambda: _torch_rotate(tbatch)),
             ("RandomCrop+HFlip 64x3x32x32", lambda: crop_flip(batch), lambda: _torch_crop_flip(tbatch))]
    print(f"{'case':34s} {'ours ms':>9s} {'torch ms':>9s} {'ratio':>7s}")
    for name, ours, theirs in cases:
        t = interleaved(ours, theirs, args.rounds)
        print(f"{name:34s} {t.ours * 1e3:9.3f} {t.theirs * 1e3:9.3f} {t.ratio:7.2f}")


if __name__ == "__main__":
    main()
