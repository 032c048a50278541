"""Numba CPU kernels for im2col/col2im (same contract and results as reference.py); pooling is in
cpu_numba_maxpool.py / cpu_numba_avgpool.py, depthwise convolution in cpu_numba_depthwise.py.

Each kernel is a serial loop over a range of independent units and has an
opt-in ``prange`` driver (see PARALLEL_MIN_ELEMENTS). Units never share an output element:
the general im2col's unit is one (n, c) image plane, which writes that plane's kh*kw column
rows, the shifted im2col's is one column row; col2im's and the pooling kernels' unit is one
(n, c) image plane, into which the unit gathers every contribution that lands
there, so no ``prange`` iteration ever adds into memory another one writes.
"""
import functools
import os

import numpy as np
from numba import njit, prange, uint64

from .geometry import out_size
from .registry import register

# Arrays smaller than these run on one thread (see _run). After every GEMM,
# OpenBLAS's worker threads spin (yielding) for a while; inside a training
# loop Numba's prange workers then fight them for the cores, and on the
# 2-core test machine the parallel drivers ran im2col 3x and the pooling
# kernels 7x slower than the serial kernels (and slowed PyTorch's OpenMP pool
# in the same process). So the drivers are opt-in, for huge arrays or via
# $TINYGRAD_IMG_NUMBA_PARALLEL_MIN (elements).
PARALLEL_MIN_ELEMENTS = int(os.environ.get("TINYGRAD_IMG_NUMBA_PARALLEL_MIN", 1 << 28))


@njit(cache=True)
def _valid(o, s, offset, size):
    """Range [lo, hi) of output positions q with 0 <= q*s - offset < size, within [0, o]
    (lo is clamped to o, so a tap with no valid position writes nothing past its own row)."""
    lo = min(o, max(0, (offset + s - 1) // s))
    hi = min(o, (size - 1 + offset) // s + 1)
    return lo, max(lo, hi)


@njit(cache=True)
def _window(o, s, p, k, size):
    """Unsigned [lo, hi) of the in-bounds pixels of window o (start o*s - p, length k)."""
    start = o * s - p
    return uint64(max(start, 0)), uint64(min(start + k, size))


@njit(cache=True)
def _im2col_shifted(planes, col, taps, masks, zero, start, stop):
    """im2col units [start, stop) when every tap reads a flat shift of a source plane whose rows
    are OW wide: stride 1 with OW == W (the planes of x), or stride 2 with W == 2*OW and H == 2*OH
    (the phase planes x[..., py::2, px::2] of _phase_split). ``planes`` is (phases, N, C, HS, OW);
    taps[i*kw + j] = (phase, dy, dx): output (oy, ox) of the tap reads plane row oy + dy, column
    ox + dx. So one flat copy moves all of a tap's valid rows (per-row copies were loop
    overhead, 1.6x slower); the output columns the shift wrapped into a neighbouring row are
    zeroed inside that copy by the tap's mask (masks[t, oy*OW + ox] = 1 where column ox + dx
    exists), which costs less than clearing them afterwards (0.23 -> 0.16 ms on a
    (4, 64, 28, 28) 3x3 chunk). The unit index is decoded once and then counted."""
    n, hs = planes.shape[1], planes.shape[3]
    c, kh, kw, oh, ow = col.shape[0], col.shape[1], col.shape[2], col.shape[4], col.shape[5]
    xf, cf, mf = planes.ravel(), col.ravel(), masks.ravel()
    b, t = start % n, start // n
    j, t = t % kw, t // kw
    i, ch = t % kh, t // kh
    for r in range(start, stop):
        tap = i * kw + j
        phase, dy, dx = taps[tap, 0], taps[tap, 1], taps[tap, 2]
        ylo = min(oh, max(0, -dy))
        yhi = max(ylo, min(oh, hs - dy))
        base = r * oh * ow
        cf[base:base + ylo * ow] = zero
        cf[base + yhi * ow:base + oh * ow] = zero
        # the valid rows' block, clamped to the source (what the clamp drops is masked columns)
        src = ((phase * n + b) * c + ch) * hs * ow + (ylo + dy) * ow + dx
        d, m = base + ylo * ow, (yhi - ylo) * ow
        lo = min(m, max(0, -src))
        hi = max(lo, min(m, xf.size - src))
        cf[d:d + lo] = zero
        cf[d + hi:d + m] = zero
        d0, s0, count = uint64(d + lo), uint64(src + lo), uint64(hi - lo)
        if dx == 0:
            for k in range(count):
                cf[d0 + k] = xf[s0 + k]
        else:
            m0 = uint64((tap * oh + ylo) * ow + lo)
            for k in range(count):
                cf[d0 + k] = xf[s0 + k] if mf[m0 + k] else zero
        b += 1
        if b == n:
            b, j = 0, j + 1
            if j == kw:
                j, i = 0, i + 1
                if i == kh:
                    i, ch = 0, ch + 1


@njit(cache=True)
def _phase_split(x, rows, out):
    """out[py, px, b, ch] = x[b, ch, py::2, px::2] for an even-sized x, in two passes that each
    vectorise: the even and odd rows apart (row copies), then every row's even and odd columns
    apart in one flat loop (a whole interleaved group, which LLVM deinterleaves with shuffles).
    0.16 ms on (4, 64, 56, 56); the strided stride-2 im2col it replaces takes 0.6 ms."""
    n, c, h, w = x.shape
    xf, rf, of = x.ravel(), rows.ravel(), out.ravel()
    half = rf.size // 2
    for p in range(n * c):
        for a in range(h // 2):
            for py in range(2):
                s, d = uint64((p * h + 2 * a + py) * w), uint64(py * half + (p * h // 2 + a) * w)
                for k in range(uint64(w)):
                    rf[d + k] = xf[s + k]
    quarter = half // 2
    for py in range(2):
        src = rf[py * half:(py + 1) * half]
        even, odd = of[2 * py * quarter:(2 * py + 1) * quarter], of[(2 * py + 1) * quarter:(2 * py + 2) * quarter]
        for k in range(quarter):
            even[k] = src[2 * k]
            odd[k] = src[2 * k + 1]


@njit(cache=True)
def _tap_table(oh, ow, h, w, kh, kw, sh, sw, ph, pw, dh, dw):
    """Per tap t = i*kw + j: the valid output rows [ylo, yhi) and columns [xlo, xhi) (those whose
    pixel lies inside the image) and the offset in its plane of the pixel at (ylo, xlo)."""
    table = np.empty((kh * kw, 5), np.int64)
    for t in range(kh * kw):
        i, j = t // kw, t % kw
        xoff = pw - j * dw
        xlo, xhi = _valid(ow, sw, xoff, w)
        ylo, yhi = _valid(oh, sh, ph - i * dh, h)
        table[t, 0], table[t, 1], table[t, 2], table[t, 3] = ylo, yhi, xlo, xhi
        table[t, 4] = (ylo * sh - ph + i * dh) * w + xlo * sw - xoff
    return table


@njit(cache=True)
def _im2col(x, col, kh, kw, sh, sw, ph, pw, dh, dw, start, stop):
    """im2col of the image planes [start, stop) (plane p = ch*N + b), any geometry. Each plane
    serves all its taps in turn, so it is read from memory once and then from L1; every tap's
    valid ranges and source offset are computed once per call, not per plane and tap (integer
    divisions). Per valid output row: zero the columns that fall in the padding, copy the others;
    offsets advance by a row per step. Rows with no padded column (stride 1) copy a multiple of
    16 elements (no scalar remainder loop) where the excess lands in the tap's later valid rows,
    which are written next (and the source stays inside x); the others copy exactly. Against one
    unit per column row with per-row index math: valid 3x3 on (64, 32, 13, 13) 0.95 -> 0.54 ms,
    on (64, 3, 32, 32) 0.27 -> 0.17 ms."""
    n, c, h, w = x.shape
    oh, ow = col.shape[4], col.shape[5]
    xf, cf = x.ravel(), col.ravel()
    taps = kh * kw
    table = _tap_table(oh, ow, h, w, kh, kw, sh, sw, ph, pw, dh, dw)
    uow, usw, step = uint64(ow), uint64(sw), uint64(sh * w)
    wide, end = uint64((ow + 15) // 16 * 16), uint64(xf.size)
    for p in range(start, stop):
        ch, b = p // n, p % n
        plane = (b * c + ch) * h * w
        for t in range(taps):
            ylo, yhi, xlo, xhi = table[t, 0], table[t, 1], table[t, 2], table[t, 3]
            base = ((ch * taps + t) * n + b) * oh * ow
            for k in range(uint64(base), uint64(base + ylo * ow)):
                cf[k] = 0
            for k in range(uint64(base + yhi * ow), uint64(base + oh * ow)):
                cf[k] = 0
            if yhi == ylo:
                continue
            # unsigned offsets: no negative-index wraparound test, so the copies vectorise
            d, s = uint64(base + ylo * ow), uint64(plane + table[t, 4])
            if sw == 1 and xlo == 0 and xhi == ow:
                last = uint64(base + (yhi - 1) * ow)  # the excess must stay within the later rows
                for _ in range(yhi - ylo - 1):
                    if s + wide <= end and d + wide <= last + uow:
                        for k in range(wide):
                            cf[d + k] = xf[s + k]
                    else:
                        for k in range(uow):
                            cf[d + k] = xf[s + k]
                    d += uow
                    s += step
                for k in range(uow):
                    cf[d + k] = xf[s + k]
                continue
            lo, hi = uint64(xlo), uint64(xhi)
            for _ in range(yhi - ylo):
                for k in range(lo):
                    cf[d + k] = 0
                for k in range(hi, uow):
                    cf[d + k] = 0
                if sw == 1:
                    for k in range(hi - lo):
                        cf[d + lo + k] = xf[s + k]
                else:
                    for k in range(hi - lo):
                        cf[d + lo + k] = xf[s + k * usw]
                d += uow
                s += step


@njit(cache=True, inline="always")
def _add_row(out, d, src, s, count, stride):
    """out[d + k*stride] += src[s + k] for k < count (unsigned offsets; stride 1 gets its own
    contiguous loop, the only one LLVM vectorises)."""
    if stride == 1:
        for k in range(uint64(count)):
            out[d + k] += src[s + k]
    else:
        for k in range(uint64(count)):
            out[d + k * uint64(stride)] += src[s + k]


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
                    _add_row(gf, dst, cf, src, xhi - xlo, sw)


# Parallel drivers: each prange iteration runs the serial kernel on one unit
# (a column row or an image plane), so iterations never write the same memory.
@njit(cache=True, parallel=True)
def _im2col_par(x, col, kh, kw, sh, sw, ph, pw, dh, dw):
    for p in prange(x.shape[0] * x.shape[1]):
        _im2col(x, col, kh, kw, sh, sw, ph, pw, dh, dw, p, p + 1)


@njit(cache=True, parallel=True)
def _im2col_shifted_par(planes, col, taps, masks, zero):
    for r in prange(col.shape[0] * col.shape[1] * col.shape[2] * planes.shape[1]):
        _im2col_shifted(planes, col, taps, masks, zero, r, r + 1)


@njit(cache=True, parallel=True)
def _col2im_par(col, gx, kh, kw, sh, sw, ph, pw, dh, dw):
    for r in prange(gx.shape[0] * gx.shape[1]):
        _col2im(col, gx, kh, kw, sh, sw, ph, pw, dh, dw, r, r + 1)


def _run(serial, parallel, parallel_ok, units, *args):
    """Small jobs run serially: waking the worker threads would cost more than it saves."""
    if parallel_ok:
        parallel(*args)
    else:
        serial(*args, 0, units)


@functools.lru_cache(maxsize=64)
def _shift_taps(kh, kw, s, ph, pw, dh, dw):
    """(phase, dy, dx) of every tap on the stride-s phase planes (s = 1: x itself): input row
    s*oy - ph + i*dh = s*(oy + dy) + py, and likewise for columns."""
    taps = []
    for i in range(kh):
        py, dy = (i * dh - ph) % s, (i * dh - ph) // s
        for j in range(kw):
            px, dx = (j * dw - pw) % s, (j * dw - pw) // s
            taps.append((py * s + px, dy, dx))
    return tuple(taps)


@functools.lru_cache(maxsize=64)
def _shift_tables(taps, oh, ow):
    """The taps as an array and their column masks: masks[t, oy*ow + ox] = 1 where 0 <= ox + dx < ow."""
    table = np.array(taps, dtype=np.int64)
    cols = np.arange(ow)[None, :] + table[:, 2:3]
    masks = np.tile((cols >= 0) & (cols < ow), (1, oh)).astype(np.uint8)
    table.flags.writeable = masks.flags.writeable = False
    return table, masks


@register("im2col", "numba")
def im2col(x, kh, kw, sh, sw, ph, pw, dh, dw):
    n, c, h, w = x.shape
    oh, ow = out_size(h, kh, sh, ph, dh), out_size(w, kw, sw, pw, dw)
    col = np.empty((c, kh, kw, n, oh, ow), dtype=x.dtype)
    x, parallel = np.ascontiguousarray(x), col.size >= PARALLEL_MIN_ELEMENTS
    taps = _shift_taps(kh, kw, sh, ph, pw, dh, dw)
    if sh == sw == 1 and ow == w:
        planes = x.reshape(1, n, c, h, w)
    elif sh == sw == 2 and h == 2 * oh and w == 2 * ow and len({t[0] for t in taps}) == 4:
        # (the split reads all of x: for kernels that use fewer phase planes, e.g. 1x1 / stride 2,
        # the strided kernel below is faster, 0.09 ms against 0.18 ms on (4, 64, 56, 56))
        planes = np.empty((4, n, c, oh, ow), dtype=x.dtype)
        _phase_split(x, np.empty((2, n, c, oh, w), dtype=x.dtype), planes)
    else:
        _run(_im2col, _im2col_par, parallel, c * n, x, col, kh, kw, sh, sw, ph, pw, dh, dw)
        return col
    table, masks = _shift_tables(taps, oh, ow)
    _run(_im2col_shifted, _im2col_shifted_par, parallel, c * kh * kw * n,
         planes, col, table, masks, x.dtype.type(0))
    return col


@register("col2im", "numba")
def col2im(col, x_shape, kh, kw, sh, sw, ph, pw, dh, dw):
    gx = np.empty(x_shape, dtype=col.dtype)
    _run(_col2im, _col2im_par, col.size >= PARALLEL_MIN_ELEMENTS, x_shape[0] * x_shape[1],
         np.ascontiguousarray(col), gx, kh, kw, sh, sw, ph, pw, dh, dw)
    return gx


from . import cpu_numba_avgpool, cpu_numba_depthwise, cpu_numba_maxpool  # noqa: E402,F401  (register their kernels)
