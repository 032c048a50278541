"""Kernel benchmark: NumPy reference, Numba CPU, CuPy im2col+cuBLAS, raw CUDA and cuDNN (PyTorch)
on the image-ops conv shapes and a max-pool, plus an MNIST-CNN training step, CPU vs GPU.

    python benchmarks/bench_kernels.py [--quick] [--repeat N] [--png bench_kernels.png] [--no-train]

Same as ``python -m tinygrad_img bench``; see ``tinygrad_img/bench.py``.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tinygrad_img.bench import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
