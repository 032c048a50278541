"""Plain NumPy kernels for im2col/col2im and pooling: written for reading, the oracle.

Every kernel loops over the kh x kw kernel offsets and moves one strided slice
of the (padded) image per offset, as in Chainer's ``utils/conv.py``. Shapes and
argument order follow the contract in :mod:`registry`.
"""
import numpy as np

from .geometry import out_size, window
from .registry import register


@register("im2col", "reference")
def im2col(x, kh, kw, sh, sw, ph, pw, dh, dw):
    """col[c, i, j, n, y, x] = x_padded[n, c, y*sh + i*dh, x*sw + j*dw] (zero padding)."""
    n, c, h, w = x.shape
    oh, ow = out_size(h, kh, sh, ph, dh), out_size(w, kw, sw, pw, dw)
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    col = np.empty((c, kh, kw, n, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            patch = padded[:, :, window(i * dh, sh, oh), window(j * dw, sw, ow)]
            col[:, i, j] = patch.transpose(1, 0, 2, 3)
    return col


@register("col2im", "reference")
def col2im(col, x_shape, kh, kw, sh, sw, ph, pw, dh, dw):
    """The adjoint of im2col: every column entry is added back onto the pixel it came from."""
    n, c, h, w = x_shape
    oh, ow = col.shape[4], col.shape[5]
    padded = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=col.dtype)
    for i in range(kh):
        for j in range(kw):
            padded[:, :, window(i * dh, sh, oh), window(j * dw, sw, ow)] += col[:, i, j].transpose(1, 0, 2, 3)
    return np.ascontiguousarray(padded[:, :, ph:ph + h, pw:pw + w])


def _first_pixel(o, s, p):
    """Index of the first in-bounds pixel of each window (the argmax when all are -inf)."""
    return np.maximum(np.arange(o) * s - p, 0)


@register("maxpool2d_forward", "reference")
def maxpool2d_forward(x, kh, kw, sh, sw, ph, pw):
    """y = max over each window (padding is -inf); argmax = the flat index h*W + w of the first maximum.

    NaN wins over any number (the last NaN of a window, as in PyTorch).
    """
    n, c, h, w = x.shape
    oh, ow = out_size(h, kh, sh, ph), out_size(w, kw, sw, pw)
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    y = np.full((n, c, oh, ow), -np.inf, dtype=x.dtype)
    argmax = np.broadcast_to(_first_pixel(oh, sh, ph)[:, None] * w + _first_pixel(ow, sw, pw), y.shape).copy()
    rows, cols = np.arange(oh) * sh - ph, np.arange(ow) * sw - pw
    for i in range(kh):
        for j in range(kw):
            win = padded[:, :, window(i, sh, oh), window(j, sw, ow)]
            better = (win > y) | np.isnan(win)
            y = np.where(better, win, y)
            argmax = np.where(better, (rows[:, None] + i) * w + (cols + j), argmax)
    return y, argmax.astype(np.int64, copy=False)


@register("maxpool2d_backward", "reference")
def maxpool2d_backward(gy, argmax, x_shape, kh, kw, sh, sw, ph, pw):
    """gx[argmax] += gy: each window's gradient goes to its winner."""
    n, c, h, w = x_shape
    gx = np.zeros((n * c, h * w), dtype=gy.dtype)
    planes = np.arange(n * c)[:, None]
    np.add.at(gx, (planes, argmax.reshape(n * c, -1)), gy.reshape(n * c, -1))
    return gx.reshape(x_shape)


def avg_divisor(x_shape, kh, kw, sh, sw, ph, pw, count_include_pad, dtype):
    """kh*kw, or (count_include_pad=False) the number of real pixels in each window."""
    h, w = x_shape[2:]
    oh, ow = out_size(h, kh, sh, ph), out_size(w, kw, sw, pw)
    if count_include_pad:
        return np.full((oh, ow), kh * kw, dtype=dtype)
    inside = np.pad(np.ones((h, w), dtype=dtype), ((ph, ph), (pw, pw)))
    count = np.zeros((oh, ow), dtype=dtype)
    for i in range(kh):
        for j in range(kw):
            count += inside[window(i, sh, oh), window(j, sw, ow)]
    return count


@register("avgpool2d_forward", "reference")
def avgpool2d_forward(x, kh, kw, sh, sw, ph, pw, count_include_pad):
    """y = (sum over each zero-padded window) / divisor."""
    n, c, h, w = x.shape
    div = avg_divisor(x.shape, kh, kw, sh, sw, ph, pw, count_include_pad, x.dtype)
    oh, ow = div.shape
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    total = np.zeros((n, c, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            total += padded[:, :, window(i, sh, oh), window(j, sw, ow)]
    return total / div


@register("avgpool2d_backward", "reference")
def avgpool2d_backward(gy, x_shape, kh, kw, sh, sw, ph, pw, count_include_pad):
    """Each window spreads gy / divisor evenly over its pixels."""
    n, c, h, w = x_shape
    share = gy / avg_divisor(x_shape, kh, kw, sh, sw, ph, pw, count_include_pad, gy.dtype)
    oh, ow = share.shape[2:]
    padded = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=gy.dtype)
    for i in range(kh):
        for j in range(kw):
            padded[:, :, window(i, sh, oh), window(j, sw, ow)] += share
    return np.ascontiguousarray(padded[:, :, ph:ph + h, pw:pw + w])
