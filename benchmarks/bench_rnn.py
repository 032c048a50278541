"""LSTM and GRU layer forward+backward: tinygrad_img vs PyTorch CPU.

One layer, T=32 steps, batch 32, input 64, hidden 128 (batch-first). Both engines run in the
same process on the same float32 data, interleaved round by round; each cell is the median
over rounds; ratio = ours / PyTorch, of the medians and as the median of per-round ratios
(target: LSTM <= 1.5x). Our GRU is the articles' variant (reset before the recurrent
matmul), PyTorch's applies it after: the same amount of work.

    OMP_NUM_THREADS=1 python benchmarks/bench_rnn.py [--rounds 15] [--inner 5]
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
from timing import interleaved  # noqa: E402


def _step(model, x):
    for p in model.parameters():
        p.grad = None
    x.grad = None
    out, _ = model(x)
    (out * out).sum().backward()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--inner", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    T, B, I, H = 32, 32, 64, 128
    x = np.random.default_rng(0).standard_normal((B, T, I)).astype(np.float32)
    print(f"torch threads: {torch.get_num_threads()}; shapes T={T} B={B} I={I} H={H}")
    print(f"{'layer (forward+backward)':<26}{'ours ms':>10}{'torch ms':>10}{'ratio':>8}")
    for name in ("LSTM", "GRU"):
        ours = getattr(tg.nn, name)(I, H)
        theirs = getattr(torch.nn, name)(I, H, batch_first=True)
        xo, xt = tg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        t = interleaved(lambda: _step(ours, xo), lambda: _step(theirs, xt), args.rounds, args.inner, warmup=3)
        print(f"{name:<26}{t.ours * 1e3:>10.2f}{t.theirs * 1e3:>10.2f}{t.ratio:>8.2f}")


if __name__ == "__main__":
    main()
