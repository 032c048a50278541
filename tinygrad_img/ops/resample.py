"""Separable resampling of (N, C, H, W) images: interpolation and adaptive average pooling.

Each of these maps rows and columns independently and linearly, so
  y = R_h x R_w^T  (R_h (OH, H), R_w (OW, W)),   dx = R_h^T dy R_w.
The matrices hold nearest-neighbour picks, bilinear weights or averaging
windows, built exactly as PyTorch computes its source indices. Each is built on
the host once per (builder, sizes, device, dtype) and then kept on the device.
"""
import functools
import math

import numpy as np

from .. import backend
from ..autograd import Function
from ..backend import get_array_module


@functools.lru_cache(maxsize=256)
def device_matrix(builder, args, device, dtype):
    """``builder(*args)`` as a ``dtype`` array on ``device``, cached (read-only: never write it)."""
    r = backend.to_device(builder(*args).astype(dtype), device)
    if isinstance(r, np.ndarray):
        r.flags.writeable = False
    return r


def nearest_matrix(size_in, size_out, scale):
    """R[o, min(floor(o * scale), size_in - 1)] = 1 (scale = in/out, or 1/scale_factor), float32 math."""
    src = np.floor(np.arange(size_out, dtype=np.float32) * np.float32(scale)).astype(np.int64)
    r = np.zeros((size_out, size_in))
    r[np.arange(size_out), np.minimum(src, size_in - 1)] = 1.0
    return r


def bilinear_matrix(size_in, size_out, scale, align_corners):
    """Linear interpolation weights; align_corners=False samples at (o + 0.5) * scale - 0.5, clamped at 0."""
    o = np.arange(size_out, dtype=np.float64)
    if align_corners:
        src = o * ((size_in - 1) / (size_out - 1) if size_out > 1 else 0.0)
    else:
        src = np.maximum((o + 0.5) * scale - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), size_in - 1)
    i1 = np.minimum(i0 + 1, size_in - 1)
    frac = src - i0
    r = np.zeros((size_out, size_in))
    np.add.at(r, (np.arange(size_out), i0), 1.0 - frac)
    np.add.at(r, (np.arange(size_out), i1), frac)
    return r


def adaptive_matrix(size_in, size_out):
    """Row o averages x[floor(o*in/out) : ceil((o+1)*in/out)]."""
    r = np.zeros((size_out, size_in))
    for o in range(size_out):
        start, end = (o * size_in) // size_out, -((-(o + 1) * size_in) // size_out)
        r[o, start:end] = 1.0 / (end - start)
    return r


class Resample2d(Function):
    """y = R_h x R_w^T over the last two axes;  dx = R_h^T dy R_w.

    ``rows`` and ``cols`` are ``(builder, args)`` pairs, e.g. ``(adaptive_matrix, (H, OH))``,
    so the matrices come from the per-device cache of :func:`device_matrix`.
    """

    def __init__(self, rows, cols):
        self.rows, self.cols = rows, cols

    def forward(self, x):
        xp = get_array_module(x)
        device = backend.device_of(x)
        self.rh = device_matrix(*self.rows, device, x.dtype)
        self.rw = device_matrix(*self.cols, device, x.dtype)
        return xp.matmul(xp.matmul(self.rh, x), self.rw.T)

    def backward(self, gy):
        xp = get_array_module(gy)
        return xp.matmul(xp.matmul(self.rh.T, gy), self.rw)


def interpolation_matrices(x_shape, size, scale_factor, mode, align_corners):
    """(R_h, R_w) for F.interpolate as ``(builder, args)`` pairs (see :class:`Resample2d`),
    PyTorch's output sizes and source indices."""
    h, w = x_shape[2:]
    if size is not None:
        out = (size, size) if isinstance(size, int) else tuple(int(s) for s in size)
        scales = (h / out[0], w / out[1])
    else:
        sf = (scale_factor, scale_factor) if isinstance(scale_factor, (int, float)) else tuple(scale_factor)
        if min(sf) <= 0:
            raise ValueError(f"interpolate: scale_factor must be positive, got {scale_factor}")
        out = (math.floor(h * sf[0]), math.floor(w * sf[1]))
        scales = (1.0 / sf[0], 1.0 / sf[1])
    if min(out) <= 0:
        raise ValueError(f"interpolate: input of shape {tuple(x_shape)} gives an empty output {out} "
                         f"(size={size}, scale_factor={scale_factor})")
    if mode == "nearest":
        return (nearest_matrix, (h, out[0], scales[0])), (nearest_matrix, (w, out[1], scales[1]))
    return ((bilinear_matrix, (h, out[0], scales[0], align_corners)),
            (bilinear_matrix, (w, out[1], scales[1], align_corners)))
