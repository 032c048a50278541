"""Numba CPU kernels for max pooling (same contract as reference.py; see cpu_numba.py for the
serial-kernel + opt-in ``prange`` driver scheme). A unit is one (n, c) image plane: it gathers
every contribution that lands in its own output plane.
"""
import numpy as np
from numba import int64, njit, prange, uint64

from . import cpu_numba
from .cpu_numba import _run, _valid, _window
from .geometry import out_size
from .registry import register


@njit(cache=True)
def _better(v, best):
    """v replaces the running maximum: it is larger, or NaN (NaN wins, as in PyTorch)."""
    return (v > best) | (v != v)


@njit(cache=True)
def _maxpool_2x2(x, y, argmax, start, stop):
    """The common 2x2 stride-2 unpadded case, unrolled, with selects instead of branches."""
    h, w = x.shape[2], x.shape[3]
    oh, ow = y.shape[2], y.shape[3]
    xf, yf, af = x.ravel(), y.ravel(), argmax.ravel()
    for r in range(start, stop):
        for oy in range(oh):
            s = uint64(r * h * w + 2 * oy * w)
            d = uint64(r * oh * ow + oy * ow)
            p = 2 * oy * w
            for ox in range(uint64(ow)):
                k = s + 2 * ox
                best, arg = xf[k], p + 2 * ox
                v = xf[k + 1]
                b = _better(v, best)
                best, arg = (v, p + 2 * ox + 1) if b else (best, arg)
                v = xf[k + w]
                b = _better(v, best)
                best, arg = (v, p + w + 2 * ox) if b else (best, arg)
                v = xf[k + w + 1]
                b = _better(v, best)
                best, arg = (v, p + w + 2 * ox + 1) if b else (best, arg)
                yf[d + ox] = best
                af[d + ox] = arg


# Output rows at least this wide take the row kernel (_maxpool_rows): against the per-output kernel
# it ran 0.48x the time at 13-14 outputs per row and 0.75x at 10; at 4-8 it ranged 0.81-1.25x and a
# 7x7 global pool (1 output) took 1.5x.
ROW_KERNEL_MIN_WIDTH = 10


@njit(cache=True)
def _maxpool_rows(x, y, argmax, kh, kw, sh, sw, ph, pw, start, stop):
    """Max pooling a whole output row at a time: the row starts from each window's first pixel,
    then every (input row, tap column) pair updates all the outputs it reaches in one loop. The
    outputs' compare chains are independent, so LLVM vectorises across them; per output, the
    window's pixels are still visited in row-major order, so ties and NaNs resolve as in the
    reference. With a stride, each input row is first split into its stride phases (row[q::sw]),
    where a tap column reads contiguously. (4, 64, 56, 56) 3x3/s2/p1 5.5 -> 2.2 ms, (4, 64, 28, 28)
    3x3/s1/p1 5.0 -> 1.3 ms against the per-output kernel, whose 9-step chains ran one at a time."""
    h, w = x.shape[2], x.shape[3]
    oh, ow = y.shape[2], y.shape[3]
    xf, yf, af = x.ravel(), y.ravel(), argmax.ravel()
    phase_len = (w + sw - 1) // sw
    taps = np.empty((kw, 4), np.int64)  # valid outputs [lo, hi), phase, shift within the phase
    for j in range(kw):
        lo, hi = _valid(ow, sw, pw - j, w)
        taps[j, 0], taps[j, 1], taps[j, 2], taps[j, 3] = lo, hi, (j - pw) % sw, (j - pw) // sw
    split = np.empty(sw * phase_len, x.dtype)
    usw, uow = uint64(sw), uint64(ow)
    for r in range(start, stop):
        xb, yb = r * h * w, r * oh * ow
        for oy in range(oh):
            ylo, yhi = max(oy * sh - ph, 0), min(oy * sh - ph + kh, h)
            d = uint64(yb + oy * ow)
            for ox in range(ow):
                first = ylo * w + max(ox * sw - pw, 0)
                yf[d + uint64(ox)] = xf[xb + first]
                af[d + uint64(ox)] = first
            yv, av = yf[d:d + uow], af[d:d + uow]
            for iy in range(ylo, yhi):
                row = uint64(xb + iy * w)
                if sw == 1:
                    src = xf[row:row + uint64(w)]
                else:
                    for q in range(sw):
                        for k in range(uint64((w - q + sw - 1) // sw)):
                            split[uint64(q * phase_len) + k] = xf[row + uint64(q) + k * usw]
                    src = split
                for j in range(kw):
                    lo, hi, q, shift = taps[j, 0], taps[j, 1], taps[j, 2], taps[j, 3]
                    s0 = uint64(q * phase_len + lo + shift)
                    a0 = iy * w + (lo + shift) * sw + q  # the x index read for output lo
                    ulo = uint64(lo)
                    for k in range(uint64(hi - lo)):
                        v = src[s0 + k]
                        o = ulo + k
                        best = yv[o]
                        b = _better(v, best)
                        yv[o] = v if b else best
                        av[o] = a0 + int64(k) * sw if b else av[o]


# The kernels index with uint64: Numba tests every signed index for negative
# wraparound, which ran these loops 2-4x slower.
@njit(cache=True)
def _maxpool_fwd(x, y, argmax, kh, kw, sh, sw, ph, pw, start, stop):
    # the unrolled 2x2 kernel beats the row kernel on rows of up to 15 outputs (0.26-0.34 vs
    # 0.36-0.53 ms on (4, 64, 28, 28)); from 16 the row kernel wins (0.70 vs 0.98 ms at 28)
    if kh == kw == sh == sw == 2 and ph == pw == 0 and y.shape[3] < 16:
        _maxpool_2x2(x, y, argmax, start, stop)
        return
    if y.shape[3] >= ROW_KERNEL_MIN_WIDTH:
        _maxpool_rows(x, y, argmax, kh, kw, sh, sw, ph, pw, start, stop)
        return
    h, w = x.shape[2], x.shape[3]
    oh, ow = y.shape[2], y.shape[3]
    xf, yf, af = x.ravel(), y.ravel(), argmax.ravel()
    uw = uint64(w)
    for r in range(start, stop):
        xb, yb = uint64(r * h * w), uint64(r * oh * ow)
        for oy in range(oh):
            ylo, yhi = _window(oy, sh, ph, kh, h)
            for ox in range(ow):
                xlo, xhi = _window(ox, sw, pw, kw, w)
                arg = ylo * uw + xlo
                best = xf[xb + arg]
                for iy in range(ylo, yhi):
                    for ix in range(iy * uw + xlo, iy * uw + xhi):
                        v = xf[xb + ix]
                        b = _better(v, best)
                        best, arg = (v, ix) if b else (best, arg)
                yf[yb + uint64(oy * ow + ox)] = best
                af[yb + uint64(oy * ow + ox)] = arg


@njit(cache=True)
def _maxpool_bwd(gy, argmax, gx, start, stop):
    hw = gx.shape[2] * gx.shape[3]
    ohw = gy.shape[2] * gy.shape[3]
    gf, af, xf = gy.ravel(), argmax.ravel(), gx.ravel()
    for r in range(start, stop):
        for k in range(uint64(r * hw), uint64((r + 1) * hw)):
            xf[k] = 0
        for k in range(r * ohw, (r + 1) * ohw):
            xf[r * hw + af[k]] += gf[k]


# Parallel drivers: each prange iteration runs the serial kernel on one image plane.
@njit(cache=True, parallel=True)
def _maxpool_fwd_par(x, y, argmax, kh, kw, sh, sw, ph, pw):
    for r in prange(x.shape[0] * x.shape[1]):
        _maxpool_fwd(x, y, argmax, kh, kw, sh, sw, ph, pw, r, r + 1)


@njit(cache=True, parallel=True)
def _maxpool_bwd_par(gy, argmax, gx):
    for r in prange(gx.shape[0] * gx.shape[1]):
        _maxpool_bwd(gy, argmax, gx, r, r + 1)


@register("maxpool2d_forward", "numba")
def maxpool2d_forward(x, kh, kw, sh, sw, ph, pw):
    n, c, h, w = x.shape
    shape = (n, c, out_size(h, kh, sh, ph), out_size(w, kw, sw, pw))
    y = np.empty(shape, dtype=x.dtype)
    argmax = np.empty(shape, dtype=np.int64)
    _run(_maxpool_fwd, _maxpool_fwd_par, x.size >= cpu_numba.PARALLEL_MIN_ELEMENTS, n * c,
         np.ascontiguousarray(x), y, argmax, kh, kw, sh, sw, ph, pw)
    return y, argmax


@register("maxpool2d_backward", "numba")
def maxpool2d_backward(gy, argmax, x_shape, kh, kw, sh, sw, ph, pw):
    gx = np.empty(x_shape, dtype=gy.dtype)
    _run(_maxpool_bwd, _maxpool_bwd_par, gx.size >= cpu_numba.PARALLEL_MIN_ELEMENTS, x_shape[0] * x_shape[1],
         np.ascontiguousarray(gy), np.ascontiguousarray(argmax), gx)
    return gx
