"""Numba CPU kernels for average pooling (same contract as reference.py; see cpu_numba.py for the
serial-kernel + opt-in ``prange`` driver scheme). A unit is one (n, c) image plane: it gathers
every contribution that lands in its own output plane.
"""
import numpy as np
from numba import njit, prange, uint64

from . import cpu_numba
from .cpu_numba import _run, _valid, _window
from .geometry import out_size
from .reference import avg_divisor
from .registry import register


@njit(cache=True, inline="always")
def _strided_sums(xs, hs, sw, kw):
    for q in range(hs.size):
        if kw == 3:
            hs[q] = xs[sw * q] + xs[sw * q + 1] + xs[sw * q + 2]
        elif kw == 2:
            hs[q] = xs[sw * q] + xs[sw * q + 1]
        else:
            t = xs[sw * q]
            for j in range(1, kw):
                t += xs[sw * q + j]
            hs[q] = t


@njit(cache=True)
def _window_sums(xf, hf, q0, q1, src, sw, kw):
    """hf[q] = sum_j xf[src + sw*(q - q0) + j] for q in [q0, q1): kw taps summed left to right.
    Inlined with a constant stride for sw = 1, 2, on views indexed from 0, so that LLVM
    vectorises the loop (a runtime stride, or unsigned offsets, ran it 1.8x slower)."""
    xs, hs = xf[src:], hf[q0:q1]
    if sw == 2:
        _strided_sums(xs, hs, 2, kw)
    elif sw == 1:
        _strided_sums(xs, hs, 1, kw)
    else:
        _strided_sums(xs, hs, sw, kw)


@njit(cache=True)
def _avgpool_fwd(x, y, hs, div, kh, kw, sh, sw, ph, pw, start, stop):
    """Separable: hs = each input row's horizontal window sums (n, c, h, ow), then each output row
    = the sum of its window's hs rows / divisor. Horizontal first because, when w == sw*ow, every
    input row maps onto ow outputs and one flat loop covers all rows of all planes (per-plane
    tap-by-tap loops were 14 elements long and cost 2x). Sums are in a different order from
    the reference's tap-by-tap one: equal within rounding, not bitwise."""
    h, w = x.shape[2], x.shape[3]
    oh, ow = y.shape[2], y.shape[3]
    xf, yf, hf, df = x.ravel(), y.ravel(), hs.ravel(), div.ravel()
    r0, r1 = start * h, stop * h                         # the input rows of the planes
    full_lo = min(ow, (pw + sw - 1) // sw)               # outputs whose window lies inside its row
    full_hi = max(full_lo, min(ow, (w - kw + pw) // sw + 1))
    if w == sw * ow and full_hi > full_lo:
        # rows are back to back in x and in hs: one loop; windows of edge outputs spill into
        # the neighbouring rows (never past the planes' rows), and are recomputed below
        qa = r0 * ow + full_lo
        _window_sums(xf, hf, qa, r1 * ow - ow + full_hi, sw * qa - pw, sw, kw)
    else:
        for row in range(r0, r1):
            q = row * ow
            _window_sums(xf, hf, q + full_lo, q + full_hi, row * w + full_lo * sw - pw, sw, kw)
    for ox in range(ow):
        if full_lo <= ox < full_hi:
            continue
        lo, hi = _window(ox, sw, pw, kw, w)
        for row in range(r0, r1):
            s = uint64(row * w) + lo
            t = xf[s]
            for ix in range(uint64(1), hi - lo):
                t += xf[s + ix]
            hf[row * ow + ox] = t
    uow = uint64(ow)
    for r in range(start, stop):
        for oy in range(oh):
            ylo, yhi = _window(oy, sh, ph, kh, h)
            a = (uint64(r * h) + ylo) * uow
            d, dv = uint64((r * oh + oy) * ow), uint64(oy * ow)
            if yhi - ylo == 3:
                for k in range(uow):
                    yf[d + k] = (hf[a + k] + hf[a + uow + k] + hf[a + 2 * uow + k]) / df[dv + k]
            elif yhi - ylo == 2:
                for k in range(uow):
                    yf[d + k] = (hf[a + k] + hf[a + uow + k]) / df[dv + k]
            else:
                for k in range(uow):
                    yf[d + k] = 0
                for iy in range(yhi - ylo):
                    b = a + uint64(iy) * uow
                    for k in range(uow):
                        yf[d + k] += hf[b + k]
                for k in range(uow):
                    yf[d + k] /= df[dv + k]


@njit(cache=True)
def _avgpool_bwd(share, gx, kh, kw, sh, sw, ph, pw, start, stop):
    h, w = gx.shape[2], gx.shape[3]
    oh, ow = share.shape[2], share.shape[3]
    sf, xf = share.ravel(), gx.ravel()
    for r in range(start, stop):
        xb, sb = uint64(r * h * w), uint64(r * oh * ow)
        for k in range(xb, xb + uint64(h * w)):
            xf[k] = 0
        for i in range(kh):
            ylo, yhi = _valid(oh, sh, ph - i, h)
            for j in range(kw):
                xlo, xhi = _valid(ow, sw, pw - j, w)
                for oy in range(ylo, yhi):
                    src = sb + uint64(oy * ow + xlo)
                    d = xb + uint64((oy * sh - ph + i) * w + xlo * sw - pw + j)
                    if sw == 1:
                        for k in range(uint64(xhi - xlo)):
                            xf[d + k] += sf[src + k]
                    else:
                        for k in range(uint64(xhi - xlo)):
                            xf[d + k * uint64(sw)] += sf[src + k]



# Parallel drivers: each prange iteration runs the serial kernel on one image plane.
@njit(cache=True, parallel=True)
def _avgpool_fwd_par(x, y, hs, div, kh, kw, sh, sw, ph, pw):
    for r in prange(x.shape[0] * x.shape[1]):
        _avgpool_fwd(x, y, hs, div, kh, kw, sh, sw, ph, pw, r, r + 1)


@njit(cache=True, parallel=True)
def _avgpool_bwd_par(share, gx, kh, kw, sh, sw, ph, pw):
    for r in prange(gx.shape[0] * gx.shape[1]):
        _avgpool_bwd(share, gx, kh, kw, sh, sw, ph, pw, r, r + 1)



@register("avgpool2d_forward", "numba")
def avgpool2d_forward(x, kh, kw, sh, sw, ph, pw, count_include_pad):
    n, c, h, w = x.shape
    y = np.empty((n, c, out_size(h, kh, sh, ph), out_size(w, kw, sw, pw)), dtype=x.dtype)
    hs = np.empty((n, c, h, y.shape[3]), dtype=x.dtype)
    _run(_avgpool_fwd, _avgpool_fwd_par, x.size >= cpu_numba.PARALLEL_MIN_ELEMENTS, n * c,
         np.ascontiguousarray(x), y, hs, avg_divisor(x.shape, kh, kw, sh, sw, ph, pw, count_include_pad, x.dtype),
         kh, kw, sh, sw, ph, pw)
    return y


@register("avgpool2d_backward", "numba")
def avgpool2d_backward(gy, x_shape, kh, kw, sh, sw, ph, pw, count_include_pad):
    share = gy / avg_divisor(x_shape, kh, kw, sh, sw, ph, pw, count_include_pad, gy.dtype)
    gx = np.empty(x_shape, dtype=gy.dtype)
    _run(_avgpool_bwd, _avgpool_bwd_par, gx.size >= cpu_numba.PARALLEL_MIN_ELEMENTS, x_shape[0] * x_shape[1],
         share, gx, kh, kw, sh, sw, ph, pw)
    return gx
