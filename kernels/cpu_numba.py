"""Numba CPU kernels for im2col/col2im and pooling (same contract and results as reference.py).

Each kernel is a serial loop over a range of independent units and has a
``prange`` driver for large arrays. Units never share an output element:
im2col's unit is one column row; col2im's and the pooling kernels' unit is one
(n, c) image plane, into which the unit gathers every contribution that lands
there, so no ``prange`` iteration ever adds into memory another one writes.
"""
import numpy as np
from numba import njit, prange, uint64

from .reference import avg_divisor, out_size
from .registry import register

# Outputs smaller than these run on one thread (see _run).
PARALLEL_MIN_ELEMENTS = 1 << 22
POOL_PARALLEL_MIN_ELEMENTS = 1 << 16


@njit(cache=True)
def _valid(o, s, offset, size):
    """Range [lo, hi) of output positions q with 0 <= q*s - offset < size."""
    lo = max(0, (offset + s - 1) // s)
    hi = min(o, (size - 1 + offset) // s + 1)
    return lo, max(lo, hi)


@njit(cache=True)
def _im2col(x, col, kh, kw, sh, sw, ph, pw, dh, dw, start, stop):
    n, c, h, w = x.shape
    oh, ow = col.shape[4], col.shape[5]
    xf, cf = x.ravel(), col.ravel()
    for r in range(start, stop):
        b = r % n
        t = r // n
        j = t % kw
        t = t // kw
        i = t % kh
        ch = t // kh
        xoff = pw - j * dw
        xlo, xhi = _valid(ow, sw, xoff, w)
        ylo, yhi = _valid(oh, sh, ph - i * dh, h)
        base = r * oh * ow
        for k in range(uint64(base), uint64(base + ylo * ow)):
            cf[k] = 0
        for k in range(uint64(base + yhi * ow), uint64(base + oh * ow)):
            cf[k] = 0
        for oy in range(ylo, yhi):
            d = base + oy * ow
            s = ((b * c + ch) * h + oy * sh - ph + i * dh) * w + xlo * sw - xoff
            for k in range(uint64(d), uint64(d + xlo)):
                cf[k] = 0
            for k in range(uint64(d + xhi), uint64(d + ow)):
                cf[k] = 0
            # unsigned offsets: no negative-index wraparound test, so the copy vectorises
            dst, src = uint64(d + xlo), uint64(s)
            if sw == 1:
                for k in range(uint64(xhi - xlo)):
                    cf[dst + k] = xf[src + k]
            else:
                for k in range(uint64(xhi - xlo)):
                    cf[dst + k] = xf[src + k * uint64(sw)]


@njit(cache=True)
def _col2im(col, gx, kh, kw, sh, sw, ph, pw, dh, dw, start, stop):
    n, c, h, w = gx.shape
    oh, ow = col.shape[4], col.shape[5]
    cf, gf = col.ravel(), gx.ravel()
    for r in range(start, stop):
        b = r // c
        ch = r % c
        for k in range(uint64(r * h * w), uint64((r + 1) * h * w)):
            gf[k] = 0
        for i in range(kh):
            ylo, yhi = _valid(oh, sh, ph - i * dh, h)
            for j in range(kw):
                xoff = pw - j * dw
                xlo, xhi = _valid(ow, sw, xoff, w)
                row0 = (((ch * kh + i) * kw + j) * n + b) * oh
                for oy in range(ylo, yhi):
                    src = uint64((row0 + oy) * ow + xlo)
                    dst = uint64((r * h + oy * sh - ph + i * dh) * w + xlo * sw - xoff)
                    if sw == 1:
                        for k in range(uint64(xhi - xlo)):
                            gf[dst + k] += cf[src + k]
                    else:
                        for k in range(uint64(xhi - xlo)):
                            gf[dst + k * uint64(sw)] += cf[src + k]


@njit(cache=True)
def _maxpool_fwd(x, y, argmax, kh, kw, sh, sw, ph, pw, start, stop):
    n, c, h, w = x.shape
    oh, ow = y.shape[2], y.shape[3]
    for r in range(start, stop):
        b = r // c
        ch = r % c
        plane = x[b, ch]
        for oy in range(oh):
            y0 = oy * sh - ph
            ylo, yhi = max(y0, 0), min(y0 + kh, h)
            for ox in range(ow):
                x0 = ox * sw - pw
                xlo, xhi = max(x0, 0), min(x0 + kw, w)
                best = -np.inf
                arg = ylo * w + xlo
                for iy in range(ylo, yhi):
                    for ix in range(xlo, xhi):
                        v = plane[iy, ix]
                        if v > best or np.isnan(v):
                            best = v
                            arg = iy * w + ix
                y[b, ch, oy, ox] = best
                argmax[b, ch, oy, ox] = arg


@njit(cache=True)
def _maxpool_bwd(gy, argmax, gx, start, stop):
    c = gx.shape[1]
    for r in range(start, stop):
        b = r // c
        ch = r % c
        plane = gx[b, ch].ravel()
        plane[:] = 0
        g = gy[b, ch].ravel()
        a = argmax[b, ch].ravel()
        for k in range(g.size):
            plane[a[k]] += g[k]


@njit(cache=True)
def _avgpool_fwd(x, y, kh, kw, sh, sw, ph, pw, count_include_pad, start, stop):
    n, c, h, w = x.shape
    oh, ow = y.shape[2], y.shape[3]
    for r in range(start, stop):
        plane = x[r // c, r % c]
        out = y[r // c, r % c]
        out[:] = 0
        for i in range(kh):
            ylo, yhi = _valid(oh, sh, ph - i, h)
            for j in range(kw):
                xoff = pw - j
                xlo, xhi = _valid(ow, sw, xoff, w)
                for oy in range(ylo, yhi):
                    src = plane[oy * sh - ph + i]
                    dst = out[oy]
                    for ox in range(xlo, xhi):
                        dst[ox] += src[ox * sw - xoff]
        for oy in range(oh):
            rows = kh if count_include_pad else min(oy * sh - ph + kh, h) - max(oy * sh - ph, 0)
            for ox in range(ow):
                cols = kw if count_include_pad else min(ox * sw - pw + kw, w) - max(ox * sw - pw, 0)
                out[oy, ox] = out[oy, ox] / (rows * cols)


@njit(cache=True)
def _avgpool_bwd(share, gx, kh, kw, sh, sw, ph, pw, start, stop):
    n, c, h, w = gx.shape
    oh, ow = share.shape[2], share.shape[3]
    for r in range(start, stop):
        plane = gx[r // c, r % c]
        g = share[r // c, r % c]
        plane[:] = 0
        for i in range(kh):
            ylo, yhi = _valid(oh, sh, ph - i, h)
            for j in range(kw):
                xoff = pw - j
                xlo, xhi = _valid(ow, sw, xoff, w)
                for oy in range(ylo, yhi):
                    src = g[oy]
                    dst = plane[oy * sh - ph + i]
                    for ox in range(xlo, xhi):
                        dst[ox * sw - xoff] += src[ox]


# Parallel drivers: each prange iteration runs the serial kernel on one unit
# (a column row or an image plane), so iterations never write the same memory.
@njit(cache=True, parallel=True)
def _im2col_par(x, col, kh, kw, sh, sw, ph, pw, dh, dw):
    for r in prange(col.shape[0] * kh * kw * x.shape[0]):
        _im2col(x, col, kh, kw, sh, sw, ph, pw, dh, dw, r, r + 1)


@njit(cache=True, parallel=True)
def _col2im_par(col, gx, kh, kw, sh, sw, ph, pw, dh, dw):
    for r in prange(gx.shape[0] * gx.shape[1]):
        _col2im(col, gx, kh, kw, sh, sw, ph, pw, dh, dw, r, r + 1)


@njit(cache=True, parallel=True)
def _maxpool_fwd_par(x, y, argmax, kh, kw, sh, sw, ph, pw):
    for r in prange(x.shape[0] * x.shape[1]):
        _maxpool_fwd(x, y, argmax, kh, kw, sh, sw, ph, pw, r, r + 1)


@njit(cache=True, parallel=True)
def _maxpool_bwd_par(gy, argmax, gx):
    for r in prange(gx.shape[0] * gx.shape[1]):
        _maxpool_bwd(gy, argmax, gx, r, r + 1)


@njit(cache=True, parallel=True)
def _avgpool_fwd_par(x, y, kh, kw, sh, sw, ph, pw, count_include_pad):
    for r in prange(x.shape[0] * x.shape[1]):
        _avgpool_fwd(x, y, kh, kw, sh, sw, ph, pw, count_include_pad, r, r + 1)


@njit(cache=True, parallel=True)
def _avgpool_bwd_par(share, gx, kh, kw, sh, sw, ph, pw):
    for r in prange(gx.shape[0] * gx.shape[1]):
        _avgpool_bwd(share, gx, kh, kw, sh, sw, ph, pw, r, r + 1)


def _run(serial, parallel, parallel_ok, units, *args):
    """Small jobs run serially: waking the worker threads would cost more than it saves."""
    if parallel_ok:
        parallel(*args)
    else:
        serial(*args, 0, units)


@register("im2col", "numba")
def im2col(x, kh, kw, sh, sw, ph, pw, dh, dw):
    n, c, h, w = x.shape
    oh, ow = out_size(h, kh, sh, ph, dh), out_size(w, kw, sw, pw, dw)
    col = np.empty((c, kh, kw, n, oh, ow), dtype=x.dtype)
    _run(_im2col, _im2col_par, col.size >= PARALLEL_MIN_ELEMENTS, c * kh * kw * n,
         np.ascontiguousarray(x), col, kh, kw, sh, sw, ph, pw, dh, dw)
    return col


@register("col2im", "numba")
def col2im(col, x_shape, kh, kw, sh, sw, ph, pw, dh, dw):
    gx = np.empty(x_shape, dtype=col.dtype)
    _run(_col2im, _col2im_par, col.size >= PARALLEL_MIN_ELEMENTS, x_shape[0] * x_shape[1],
         np.ascontiguousarray(col), gx, kh, kw, sh, sw, ph, pw, dh, dw)
    return gx


@register("maxpool2d_forward", "numba")
def maxpool2d_forward(x, kh, kw, sh, sw, ph, pw):
    n, c, h, w = x.shape
    shape = (n, c, out_size(h, kh, sh, ph), out_size(w, kw, sw, pw))
    y = np.empty(shape, dtype=x.dtype)
    argmax = np.empty(shape, dtype=np.int64)
    _run(_maxpool_fwd, _maxpool_fwd_par, x.size >= POOL_PARALLEL_MIN_ELEMENTS, n * c,
         np.ascontiguousarray(x), y, argmax, kh, kw, sh, sw, ph, pw)
    return y, argmax


@register("maxpool2d_backward", "numba")
def maxpool2d_backward(gy, argmax, x_shape, kh, kw, sh, sw, ph, pw):
    gx = np.empty(x_shape, dtype=gy.dtype)
    _run(_maxpool_bwd, _maxpool_bwd_par, gx.size >= POOL_PARALLEL_MIN_ELEMENTS, x_shape[0] * x_shape[1],
         np.ascontiguousarray(gy), np.ascontiguousarray(argmax), gx)
    return gx


@register("avgpool2d_forward", "numba")
def avgpool2d_forward(x, kh, kw, sh, sw, ph, pw, count_include_pad):
    n, c, h, w = x.shape
    y = np.empty((n, c, out_size(h, kh, sh, ph), out_size(w, kw, sw, pw)), dtype=x.dtype)
    _run(_avgpool_fwd, _avgpool_fwd_par, x.size >= POOL_PARALLEL_MIN_ELEMENTS, n * c,
         np.ascontiguousarray(x), y, kh, kw, sh, sw, ph, pw, bool(count_include_pad))
    return y


@register("avgpool2d_backward", "numba")
def avgpool2d_backward(gy, x_shape, kh, kw, sh, sw, ph, pw, count_include_pad):
    share = gy / avg_divisor(x_shape, kh, kw, sh, sw, ph, pw, count_include_pad, gy.dtype)
    gx = np.empty(x_shape, dtype=gy.dtype)
    _run(_avgpool_bwd, _avgpool_bwd_par, gx.size >= POOL_PARALLEL_MIN_ELEMENTS, x_shape[0] * x_shape[1],
         share, gx, kh, kw, sh, sw, ph, pw)
    return gx


from . import cpu_numba_depthwise  # noqa: E402,F401  (registers the depthwise kernels)
