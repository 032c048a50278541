"""Per-op overhead of small ops, forward + backward: tinygrad_img vs PyTorch CPU.

Both engines run in the same process on the same float32 data, interleaved
round by round; each cell is the median over rounds of the mean time of one
forward+backward in a batch of calls. Ratio = ours / PyTorch (target <= 2.5x).

    python benchmarks/bench_overhead.py [--rounds 15] [--inner 200]
"""
import argparse
import os
import statistics
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tinygrad_img as tg  # noqa: E402
from timing import interleaved  # noqa: E402


def _cases(rng):
    a = rng.standard_normal((16, 16)).astype(np.float32)
    b = rng.standard_normal((16, 16)).astype(np.float32)
    m1 = rng.standard_normal((64, 64)).astype(np.float32)
    m2 = rng.standard_normal((64, 64)).astype(np.float32)
    return [
        ("add 16x16", (a, b), lambda x, y: (x + y).sum()),
        ("mul 16x16", (a, b), lambda x, y: (x * y).sum()),
        ("matmul 64x64", (m1, m2), lambda x, y: (x @ y).sum()),
        ("sum 16x16", (a,), lambda x: x.sum()),
        ("mul by 2.0 16x16", (a,), lambda x: (x * 2.0).sum()),
    ]


def _step(fn, inputs):
    for t in inputs:
        t.grad = None
    fn(*inputs).backward()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--inner", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    print(f"{'op (forward+backward)':<24}{'ours ms':>10}{'torch ms':>10}{'ratio':>8}")
    ratios = []
    for name, arrays, fn in _cases(rng):
        ours = [tg.Tensor(a, requires_grad=True) for a in arrays]
        theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
        t = interleaved(lambda: _step(fn, ours), lambda: _step(fn, theirs), args.rounds, args.inner, warmup=20)
        ratios.append(t.ratio)
        print(f"{name:<24}{t.ours * 1e3:>10.4f}{t.theirs * 1e3:>10.4f}{t.ratio:>7.2f}x")
    print(f"{'median ratio':<44}{statistics.median(ratios):>7.2f}x  (target <= 2.5x)")


if __name__ == "__main__":
    main()
