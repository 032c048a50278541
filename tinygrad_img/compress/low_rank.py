"""Low-rank factorisation of dense layers by the truncated SVD.

With W = U S V^T (singular values s_1 >= s_2 >= ...), the rank-r truncation
W_r = U_r S_r V_r^T is the best rank-r approximation in the Frobenius norm
(Eckart–Young): ||W - W_r||_F^2 = sum_{i > r} s_i^2. A Linear(in, out) layer
becomes Linear(in, r, bias=False) followed by Linear(r, out), with weights
sqrt(S_r) V_r^T and U_r sqrt(S_r) (the singular values split evenly so both
factors are equally scaled): out*in parameters become r*(in + out).

The SVD runs in float64 with the weight's own array module (``numpy.linalg.svd`` or
``cupy.linalg.svd``), so a CUDA layer is factorised on the GPU; only the singular
values go to the host to choose the rank.
"""
import math

import numpy as np

from .. import backend
from ..data.dataset import as_array
from ..decomposition import fewest_reaching
from ..nn.containers import Sequential
from ..nn.layers import Linear

__all__ = ["low_rank_linear", "singular_values", "parameter_count"]


def singular_values(weight):
    """The singular values s_1 >= s_2 >= ... of a 2-D weight (a Tensor or array) as a float64
    array of the weight's array module (NumPy, or CuPy for a CUDA weight)."""
    w = as_array(weight)
    return backend.get_array_module(w).linalg.svd(w.astype(np.float64), compute_uv=False)


def low_rank_linear(linear, rank):
    """Replace ``linear`` (y = x W^T + b, W of shape (out, in)) by
    Sequential(Linear(in, rank, bias=False), Linear(rank, out)) computing
    y = x (V_r sqrt(S_r)) (sqrt(S_r) U_r^T) + b = x W_r^T + b.

    ``rank`` is an int in [1, min(in, out)] or a float in (0, 1]: the smallest r whose
    singular values keep that fraction of the energy, sum_{i<=r} s_i^2 >= f * sum_i s_i^2.
    The new layers are on the old layer's device and dtype; the bias Parameter is shared.
    """
    fn = "low_rank_linear"
    if not isinstance(linear, Linear):
        raise TypeError(f"{fn}: expected an nn.Linear, got {type(linear).__name__}")
    w = linear.weight
    out_f, in_f = w.shape
    xp = w.xp
    u, s, vt = xp.linalg.svd(w.data.astype(np.float64), full_matrices=False)
    rank = _rank(fn, rank, backend.to_device(s, "cpu"))
    root = xp.sqrt(s[:rank])
    first, second = Linear(in_f, rank, bias=False), Linear(rank, out_f, bias=linear.bias is not None)
    first.weight.data = (root[:, None] * vt[:rank]).astype(w.dtype)
    second.weight.data = (u[:, :rank] * root).astype(w.dtype)
    if linear.bias is not None:
        second.bias = linear.bias
    return Sequential(first, second)


def _rank(fn, rank, s):
    full = len(s)
    if isinstance(rank, bool) or not isinstance(rank, (int, float, np.integer, np.floating)):
        raise TypeError(f"{fn}: rank must be an int or an energy fraction, got {type(rank).__name__}")
    if isinstance(rank, (float, np.floating)):
        if not 0.0 < rank <= 1.0:
            raise ValueError(f"{fn}: an energy fraction rank={rank} must be in (0, 1]")
        return fewest_reaching(s ** 2, rank)
    if not 1 <= rank <= full:
        raise ValueError(f"{fn}: rank={rank} is out of range [1, {full}] for a weight of shape "
                         f"(out, in) with min(out, in) = {full}")
    return int(rank)


def parameter_count(module):
    """Number of parameter entries of ``module``."""
    return int(sum(math.prod(p.shape) for p in module.parameters()))
