"""Scaled dot-product attention forward+backward: tinygrad_img vs PyTorch CPU.

q, k, v of shape (8, 8, 256, 64) (batch, heads, length, head dim), no mask and causal. Both
engines run in the same process on the same float32 data, interleaved round by round; each
cell is the median over rounds; ratio = ours / PyTorch, of the medians and as the median of
per-round ratios (target <= 1.3x).

    OMP_NUM_THREADS=1 python benchmarks/bench_attention.py [--rounds 11] [--inner 3]
"""
import argparse
import os
import statistics
import sys
import time

# Same thread count for both engines (default 1): multi-threaded BLAS on a loaded machine
# distorts the comparison far more than it speeds either side up. Must precede numpy's import.
THREADS = int(os.environ.setdefault("OMP_NUM_THREADS", "1"))
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(THREADS))
os.environ.setdefault("MKL_NUM_THREADS", str(THREADS))

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tinygrad_img as tg  # noqa: E402
import tinygrad_img.functional as F  # noqa: E402


def _step(sdpa, tensors, causal):
    for t in tensors:
        t.grad = None
    out = sdpa(*tensors, is_causal=causal)
    (out * out).sum().backward()


def _time(sdpa, tensors, causal, inner):
    start = time.perf_counter()
    for _ in range(inner):
        _step(sdpa, tensors, causal)
    return (time.perf_counter() - start) / inner


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--inner", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((8, 8, 256, 64)).astype(np.float32) for _ in range(3)]
    ours = [tg.Tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    print(f"torch threads: {torch.get_num_threads()}; q, k, v (8, 8, 256, 64)")
    print(f"{'sdpa (forward+backward)':<26}{'ours ms':>10}{'torch ms':>10}{'ratio':>8}{'per-round':>11}")
    for causal in (False, True):
        for _ in range(2):
            _step(F.scaled_dot_product_attention, ours, causal)
            _step(torch.nn.functional.scaled_dot_product_attention, theirs, causal)
        mine, ref = [], []
        for _ in range(args.rounds):
            mine.append(_time(F.scaled_dot_product_attention, ours, causal, args.inner))
            ref.append(_time(torch.nn.functional.scaled_dot_product_attention, theirs, causal, args.inner))
        a, b = statistics.median(mine) * 1e3, statistics.median(ref) * 1e3
        r = statistics.median(m / t for m, t in zip(mine, ref))
        print(f"{'causal' if causal else 'no mask':<26}{a:>10.2f}{b:>10.2f}{a / b:>8.2f}{r:>11.2f}")


if __name__ == "__main__":
    main()
