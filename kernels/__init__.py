"""Hot loops behind one registry: NumPy reference, Numba CPU and raw CUDA kernels."""
from .registry import get, lookup, register, use  # noqa: F401
