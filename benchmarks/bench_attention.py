"""Scaled dot-product attention forward+backward: tinygrad_img vs PyTorch CPU.

q, k, v of shape (8, 8, 256, 64) (batch, heads, length, head dim), no mask and causal. Both
engines run in the same process on the same float32 data, interleaved round by round; each
cell is the median over rounds; ratio = ours / PyTorch, the median of per-round
ratios (target <= 1.3x).

    OMP_NUM_THREADS=1 python benchmarks/bench_attention.py [--rounds 11] [--inner 3]
"""
import argparse
import os
import sys

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
from timing import interleaved  # noqa: E402


def _step(sdpa, tensors, causal):
    for t in tensors:
        t.grad = None
    out = sdpa(*tensors, is_causal=causal)
    (out * out).sum().backward()


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
    print(f"{'sdpa (forward+backward)':<26}{'ours ms':>10}{'torch ms':>10}{'ratio':>8}")
    for causal in (False, True):
        t = interleaved(lambda: _step(F.scaled_dot_product_attention, ours, causal),
                        lambda: _step(torch.nn.functional.scaled_dot_product_attention, theirs, causal),
                        args.rounds, args.inner, warmup=2)
        print(f"{'causal' if causal else 'no mask':<26}{t.ours * 1e3:>10.2f}{t.theirs * 1e3:>10.2f}{t.ratio:>8.2f}")


if __name__ == "__main__":
    main()
