"""Numba CPU kernels for the common depthwise convolution: 3x3, stride 1, dilation 1 (MobileNet's).

Each image plane is first copied into a zero-bordered buffer whose rows are ``wp`` wide; on
that grid every output position q reads the nine inputs q + i*wp + j, so the nine taps fuse
into one flat loop over the whole plane with no edge tests (the general kernels in
cpu_numba_depthwise.py do one short loop per tap and output row). Outputs land on the same
``wp``-wide grid and are cropped. The units (planes, filters) are those of the general kernels.
"""
import numpy as np
from numba import njit, prange, uint64


def applies(kh, kw, sh, sw, ph, pw, dh, dw):
    """The geometries these kernels handle (padding up to 2: a 3x3 window still sees the image)."""
    return kh == kw == 3 and sh == sw == dh == dw == 1 and 0 <= ph <= 2 and 0 <= pw <= 2


@njit(cache=True)
def _pad_plane(src, s, h, w, dst, top, left, wp):
    """dst[(top + y)*wp + left + x] = src[s + y*w + x]: a plane into a zero-bordered buffer."""
    for y in range(h):
        d, r = uint64((top + y) * wp + left), uint64(s + y * w)
        for k in range(uint64(w)):
            dst[d + k] = src[r + k]


@njit(cache=True)
def _crop_plane(src, wp, dst, d, h, w, accumulate):
    """dst[d + y*w + x] (+)= src[y*wp + x]: a plane back from the padded grid."""
    for y in range(h):
        o, r = uint64(d + y * w), uint64(y * wp)
        if accumulate:
            for k in range(uint64(w)):
                dst[o + k] += src[r + k]
        else:
            for k in range(uint64(w)):
                dst[o + k] = src[r + k]


@njit(cache=True, inline="always")
def _tap_views(xs, wp):
    """The nine views xs[i*wp + j:] of a padded plane: one unit-stride stream per tap, indexed
    from 0, so that LLVM vectorises the loops that read them."""
    return (xs[0:], xs[1:], xs[2:], xs[wp:], xs[wp + 1:], xs[wp + 2:],
            xs[2 * wp:], xs[2 * wp + 1:], xs[2 * wp + 2:])


@njit(cache=True, fastmath={"contract"})
def _taps(out, xs, wv, wp, count):
    """out[q] = sum_{i,j} wv[3i + j] * xs[q + i*wp + j] for q < count."""
    x0, x1, x2, x3, x4, x5, x6, x7, x8 = _tap_views(xs, wp)
    w0, w1, w2, w3, w4, w5, w6, w7, w8 = wv[0], wv[1], wv[2], wv[3], wv[4], wv[5], wv[6], wv[7], wv[8]
    for q in range(count):
        out[q] = (w0 * x0[q] + w1 * x1[q] + w2 * x2[q] + w3 * x3[q] + w4 * x4[q] + w5 * x5[q]
                  + w6 * x6[q] + w7 * x7[q] + w8 * x8[q])


@njit(cache=True, fastmath={"reassoc", "contract"})
def _dots(gs, xs, wp, count, acc, zero):
    """acc[3i + j] += sum_q gs[q] * xs[q + i*wp + j] for q < count: nine running sums in one pass
    (reassociation lets LLVM keep vector partial sums)."""
    x0, x1, x2, x3, x4, x5, x6, x7, x8 = _tap_views(xs, wp)
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = zero
    for q in range(count):
        g = gs[q]
        a0 += g * x0[q]
        a1 += g * x1[q]
        a2 += g * x2[q]
        a3 += g * x3[q]
        a4 += g * x4[q]
        a5 += g * x5[q]
        a6 += g * x6[q]
        a7 += g * x7[q]
        a8 += g * x8[q]
    acc[0] += a0
    acc[1] += a1
    acc[2] += a2
    acc[3] += a3
    acc[4] += a4
    acc[5] += a5
    acc[6] += a6
    acc[7] += a7
    acc[8] += a8


@njit(cache=True)
def _forward(x, w, y, ph, pw, start, stop):
    n, c, h, wd = x.shape
    o, oh, ow = y.shape[1], y.shape[2], y.shape[3]
    m = o // c
    wp = wd + 2 * pw
    xp = np.zeros((h + 2 * ph) * wp + 2, dtype=x.dtype)  # + 2: the last row's junk outputs read past it
    yp = np.empty(oh * wp, dtype=y.dtype)
    xf, yf, wf = x.ravel(), y.ravel(), w.reshape(o, 9)
    for r in range(start, stop):
        b, oc = r // o, r % o
        if r == start or oc % m == 0:  # a new input plane (the m filters of a channel share it)
            _pad_plane(xf, (b * c + oc // m) * h * wd, h, wd, xp, ph, pw, wp)
        _taps(yp, xp, wf[oc], wp, oh * wp)
        _crop_plane(yp, wp, yf, r * oh * ow, oh, ow, False)


@njit(cache=True)
def _backward_data(gy, w, gx, ph, pw, start, stop):
    # dx = the 3x3 correlation of gy, zero-padded by 2 - p, with the flipped filters
    n, c, h, wd = gx.shape
    o, oh, ow = gy.shape[1], gy.shape[2], gy.shape[3]
    m = o // c
    top, left = 2 - ph, 2 - pw
    wp = ow + 2 * left
    gp = np.zeros((oh + 2 * top) * wp + 2, dtype=gy.dtype)
    xp = np.empty(h * wp, dtype=gx.dtype)
    gf, xf = gy.ravel(), gx.ravel()
    flipped = w.reshape(o, 9)[:, ::-1].copy()
    for r in range(start, stop):
        b, ch = r // c, r % c
        for q in range(m):
            oc = ch * m + q
            _pad_plane(gf, (b * o + oc) * oh * ow, oh, ow, gp, top, left, wp)
            _taps(xp, gp, flipped[oc], wp, h * wp)
            _crop_plane(xp, wp, xf, r * h * wd, h, wd, q > 0)


@njit(cache=True)
def _backward_weight(gy, x, gw, ph, pw, zero, start, stop):
    # dW[oc, i, j] = sum over the batch of the dot product of gy's plane (on the padded grid,
    # zero junk columns) with the padded input plane shifted by (i, j)
    n, c, h, wd = x.shape
    o, oh, ow = gy.shape[1], gy.shape[2], gy.shape[3]
    m = o // c
    wp = wd + 2 * pw
    xp = np.zeros((h + 2 * ph) * wp + 2, dtype=x.dtype)
    gp = np.zeros(oh * wp, dtype=gy.dtype)
    acc = np.zeros(9, dtype=gw.dtype)
    xf, gf = x.ravel(), gy.ravel()
    for oc in range(start, stop):
        acc[:] = 0
        for b in range(n):
            _pad_plane(xf, (b * c + oc // m) * h * wd, h, wd, xp, ph, pw, wp)
            _pad_plane(gf, (b * o + oc) * oh * ow, oh, ow, gp, 0, 0, wp)
            _dots(gp, xp, wp, oh * wp, acc, zero)
        for t in range(9):
            gw[oc, 0, t // 3, t % 3] = acc[t]


@njit(cache=True, parallel=True)
def _forward_par(x, w, y, ph, pw):
    for r in prange(y.shape[0] * y.shape[1]):
        _forward(x, w, y, ph, pw, r, r + 1)


@njit(cache=True, parallel=True)
def _backward_data_par(gy, w, gx, ph, pw):
    for r in prange(gx.shape[0] * gx.shape[1]):
        _backward_data(gy, w, gx, ph, pw, r, r + 1)


@njit(cache=True, parallel=True)
def _backward_weight_par(gy, x, gw, ph, pw, zero):
    for r in prange(gw.shape[0]):
        _backward_weight(gy, x, gw, ph, pw, zero, r, r + 1)
