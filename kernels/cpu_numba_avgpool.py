"""Numba CPU kernels for average pooling (same contract as reference.py; see cpu_numba.py for the
serial-kernel + opt-in ``prange`` driver scheme). A unit is one (n, c) image plane: it gathers
every contribution that lands in its own output plane.
"""
import numpy as np
from numba import njit, prange, uint64

from . import cpu_numba
from .cpu_numba import _add_row, _run, _valid, _window
from .geometry import out_size
from .reference import avg_divisor
from .registry import register


@njit(cache=True, inline="always")
def _strided_sums(xs, hs, sw, kw):
    """hs[q] = xs[sw*q] + ... + xs[sw*q + kw - 1] (written out for kw = 2, 3: the common pools)."""
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
                    _add_row(xf, d, sf, src, xhi - xlo, sw)


@njit(cache=True)
def _avgpool_2x2(x, y, div, start, stop):
    """The common 2x2 / stride 2 / unpadded average (every window has 4 pixels) in one pass:
    (4, 64, 56, 56) 0.30 -> 0.10 ms against the separable kernel's two passes."""
    h, w = x.shape[2], x.shape[3]
    oh, ow = y.shape[2], y.shape[3]
    xf, yf = x.ravel(), y.ravel()
    for r in range(start, stop):
        for oy in range(oh):
            a = xf[uint64(r * h * w + 2 * oy * w):]
            b = a[uint64(w):]
            d = yf[uint64(r * oh * ow + oy * ow):]
            for ox in range(ow):
                d[ox] = ((a[2 * ox] + a[2 * ox + 1]) + (b[2 * ox] + b[2 * ox + 1])) / div


@njit(cache=True)
def _plane_sums(x, y, div, start, stop):
    """y[r] = the sum of plane r / div: pooling whose one window covers the whole plane (global
    average pooling, e.g. 7x7 on 7x7), where the separable passes are all loop overhead."""
    m = x.shape[2] * x.shape[3]
    xf, yf = x.ravel(), y.ravel()
    for r in range(start, stop):
        yf[r] = xf[r * m:(r + 1) * m].sum() / div


@njit(cache=True)
def _plane_fill(share, gx, start, stop):
    """gx[r] = share[r] everywhere: the adjoint of _plane_sums (the tap-by-tap backward spent 49
    one-pixel row adds per 7x7 plane: 5x slower than the NumPy reference)."""
    m = gx.shape[2] * gx.shape[3]
    sf, xf = share.ravel(), gx.ravel()
    for r in range(start, stop):
        xf[r * m:(r + 1) * m] = sf[r]


@njit(cache=True, inline="always")
def _collect(gv, xv, count, sw, kw, pw, zero):
    """xv[sw*k + rho] = sum over taps j (ascending) with (rho + pw - j) % sw == 0 of
    gv[k + (rho + pw - j) // sw - dmin], k in [0, count), where dmin is the lowest window offset
    a pixel reads: the flat form of "each pixel collects the windows that cover it". Inlined with
    constant (sw, kw, pw), the tap tests fold away and LLVM vectorises the loop (0.015 ms on a
    (4, 64, 28, 14) gradient; 1.1 ms with runtime ones)."""
    dmin = (pw - kw + 1) // sw
    for k in range(count):
        for rho in range(sw):
            t = zero
            for j in range(kw):
                if (rho + pw - j) % sw == 0:
                    t += gv[k + (rho + pw - j) // sw - dmin]
            xv[sw * k + rho] = t


@njit(cache=True)
def _edge_windows(ix, ow, sw, kw, pw):
    """The windows of a row that cover pixel ix, in tap order (the first two, and how many there
    are: never more than two for the edge pixels of SEPARABLE_BWD geometries), and whether the
    flat form would have read a neighbouring row's window for it."""
    first = second = count = 0
    spills = False
    for j in range(kw):
        d = ix + pw - j
        if d % sw == 0:
            if 0 <= d // sw < ow:
                first, second = (d // sw, second) if count == 0 else (first, d // sw)
                count += 1
            else:
                spills = True
    return first, second, count, spills


# (stride, kernel, padding) along a row with a vectorised backward (see _avgpool_bwd_separable)
SEPARABLE_BWD = ((2, 2, 0), (2, 3, 1), (1, 3, 1))


@njit(cache=True)
def _avgpool_bwd_separable(share, gx, gh, kh, sh, ph, sw, kw, pw, zero, start, stop):
    """The adjoint of the separable forward for rows with w == sw*ow and (sw, kw, pw) in
    SEPARABLE_BWD: gh[row] = sum of the share rows whose window covers the input row, then every
    pixel collects the window sums of gh that cover it, in one flat loop over all rows; pixels
    for which that loop read a neighbouring row's windows are recomputed."""
    h, w = gx.shape[2], gx.shape[3]
    oh, ow = share.shape[2], share.shape[3]
    sf, xf, gf = share.ravel(), gx.ravel(), gh.ravel()
    uow = uint64(ow)
    for r in range(start, stop):
        for iy in range(h):
            olo, ohi = max(0, -((kh - 1 - iy - ph) // sh)), min(oh, (iy + ph) // sh + 1)
            d = uint64((r * h + iy) * ow)
            a = uint64((r * oh + olo) * ow)
            if ohi - olo == 1:
                for k in range(uow):
                    gf[d + k] = sf[a + k]
            elif ohi - olo == 2:
                for k in range(uow):
                    gf[d + k] = sf[a + k] + sf[a + uow + k]
            else:
                for k in range(uow):
                    gf[d + k] = zero
                for oy in range(olo, ohi):
                    b = uint64((r * oh + oy) * ow)
                    for k in range(uow):
                        gf[d + k] += sf[b + k]
    r0, r1 = start * h, stop * h
    dmin, dmax = (pw - kw + 1) // sw, (sw - 1 + pw) // sw   # window offsets a pixel can read
    m0, m1 = r0 * ow - dmin, max(r0 * ow - dmin, r1 * ow - dmax)
    gv, xv = gf[m0 + dmin:], xf[sw * m0:]
    if sw == 2 and kw == 2 and pw == 0:
        _collect(gv, xv, m1 - m0, 2, 2, 0, zero)
    elif sw == 2 and kw == 3 and pw == 1:
        _collect(gv, xv, m1 - m0, 2, 3, 1, zero)
    elif sw == 1 and kw == 3 and pw == 1:
        _collect(gv, xv, m1 - m0, 1, 3, 1, zero)
    else:
        raise ValueError("avgpool2d_backward: no separable kernel for this (stride, kernel, padding)")
    # only pixels this close to a row end can read a neighbouring row (whether one does is the
    # same in every row); those of the first and last rows also lie outside [m0, m1)
    for ix in range(w):
        if sw * (-dmin) <= ix < w - sw * dmax:
            continue
        first, second, count, spills = _edge_windows(ix, ow, sw, kw, pw)
        for row in range(r0, r1, 1 if spills else max(1, r1 - 1 - r0)):
            q = row * ow
            if count == 1:
                xf[row * w + ix] = gf[q + first]
            elif count == 2:
                xf[row * w + ix] = gf[q + first] + gf[q + second]
            else:
                xf[row * w + ix] = zero


@njit(cache=True, parallel=True)
def _avgpool_fwd_par(x, y, hs, div, kh, kw, sh, sw, ph, pw):
    for r in prange(x.shape[0] * x.shape[1]):
        _avgpool_fwd(x, y, hs, div, kh, kw, sh, sw, ph, pw, r, r + 1)


@njit(cache=True, parallel=True)
def _avgpool_bwd_par(share, gx, kh, kw, sh, sw, ph, pw):
    for r in prange(gx.shape[0] * gx.shape[1]):
        _avgpool_bwd(share, gx, kh, kw, sh, sw, ph, pw, r, r + 1)


@njit(cache=True, parallel=True)
def _plane_sums_par(x, y, div):
    for r in prange(x.shape[0] * x.shape[1]):
        _plane_sums(x, y, div, r, r + 1)


@njit(cache=True, parallel=True)
def _plane_fill_par(share, gx):
    for r in prange(gx.shape[0] * gx.shape[1]):
        _plane_fill(share, gx, r, r + 1)


@njit(cache=True, parallel=True)
def _avgpool_2x2_par(x, y, div):
    for r in prange(x.shape[0] * x.shape[1]):
        _avgpool_2x2(x, y, div, r, r + 1)


def _two_by_two(kh, kw, sh, sw, ph, pw):
    """2x2 / stride 2 / unpadded: the forward's one-pass kernel (its backward is the separable
    (2, 2, 0) one: a one-pass spread measured no faster, 0.075 vs 0.085 ms)."""
    return kh == kw == sh == sw == 2 and ph == pw == 0


def _global(shape, kh, kw, ph, pw, oh, ow):
    """Whether the one window of each plane covers the whole plane (global pooling)."""
    return oh == ow == 1 and ph == pw == 0 and kh >= shape[2] and kw >= shape[3]


@njit(cache=True, parallel=True)
def _avgpool_bwd_separable_par(share, gx, gh, kh, sh, ph, sw, kw, pw, zero):
    for r in prange(gx.shape[0] * gx.shape[1]):
        _avgpool_bwd_separable(share, gx, gh, kh, sh, ph, sw, kw, pw, zero, r, r + 1)


@register("avgpool2d_forward", "numba")
def avgpool2d_forward(x, kh, kw, sh, sw, ph, pw, count_include_pad):
    n, c, h, w = x.shape
    y = np.empty((n, c, out_size(h, kh, sh, ph), out_size(w, kw, sw, pw)), dtype=x.dtype)
    parallel = x.size >= cpu_numba.PARALLEL_MIN_ELEMENTS
    # both special cases are unpadded: every window holds kh*kw pixels, whatever count_include_pad
    if _global(x.shape, kh, kw, ph, pw, *y.shape[2:]):
        _run(_plane_sums, _plane_sums_par, parallel, n * c, np.ascontiguousarray(x), y, x.dtype.type(kh * kw))
        return y
    if _two_by_two(kh, kw, sh, sw, ph, pw):
        _run(_avgpool_2x2, _avgpool_2x2_par, parallel, n * c, np.ascontiguousarray(x), y, x.dtype.type(4))
        return y
    div = avg_divisor(x.shape, kh, kw, sh, sw, ph, pw, count_include_pad, x.dtype)
    hs = np.empty((n, c, h, y.shape[3]), dtype=x.dtype)
    _run(_avgpool_fwd, _avgpool_fwd_par, parallel, n * c, np.ascontiguousarray(x), y, hs, div,
         kh, kw, sh, sw, ph, pw)
    return y


@register("avgpool2d_backward", "numba")
def avgpool2d_backward(gy, x_shape, kh, kw, sh, sw, ph, pw, count_include_pad):
    share = gy / avg_divisor(x_shape, kh, kw, sh, sw, ph, pw, count_include_pad, gy.dtype)
    gx = np.empty(x_shape, dtype=gy.dtype)
    n, c, h, w = x_shape
    parallel = gx.size >= cpu_numba.PARALLEL_MIN_ELEMENTS
    if _global(x_shape, kh, kw, ph, pw, *share.shape[2:]):
        _run(_plane_fill, _plane_fill_par, parallel, n * c, share, gx)
    elif w == sw * share.shape[3] and (sw, kw, pw) in SEPARABLE_BWD:
        gh = np.empty((n, c, h, share.shape[3]), dtype=gy.dtype)
        _run(_avgpool_bwd_separable, _avgpool_bwd_separable_par, parallel, n * c,
             share, gx, gh, kh, sh, ph, sw, kw, pw, gy.dtype.type(0))
    else:
        _run(_avgpool_bwd, _avgpool_bwd_par, parallel, n * c, share, gx, kh, kw, sh, sw, ph, pw)
    return gx
