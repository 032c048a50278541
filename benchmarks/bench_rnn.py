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


def _step(model, x):
    for p in model.parameters():
        p.grad = None
    x.grad = None
    out, _ = model(x)
    (out * out).sum().backward()


def _time(model, x, inner):
    start = time.perf_counter()
    for _ in range(inner):
        _step(model, x)
    return (time.perf_counter() - start) / inner


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--inner", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    T, B, I, H = 32, 32, 64, 128
    x = np.random.default_rng(0).standard_normal((B, T, I)).astype(np.float32)
    print(f"torch threads: {torch.get_num_threads()}; shapes T={T} B={B} I={I} H={H}")
    print(f"{'layer (forward+backward)':<26}{'ours ms':>10}{'torch ms':>10}{'ratio':>8}{'per-round':>11}")
    for name in ("LSTM", "GRU"):
        ours = getattr(tg.nn, name)(I, H)
        theirs = getattr(torch.nn, name)(I, H, batch_first=True)
        xo, xt = tg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        for _ in range(3):
            _step(ours, xo)
            _step(theirs, xt)
        mine, ref = [], []
        for _ in range(args.rounds):
            mine.append(_time(ours, xo, args.inner))
            ref.append(_time(theirs, xt, args.inner))
        a, b = statistics.median(mine) * 1e3, statistics.median(ref) * 1e3
        r = statistics.median(m / t for m, t in zip(mine, ref))
        print(f"{name:<26}{a:>10.2f}{b:>10.2f}{a / b:>8.2f}{r:>11.2f}")


if __name__ == "__main__":
    main()
