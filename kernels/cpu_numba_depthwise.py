"""Numba CPU kernels for depthwise convolution (groups == C, weight (C*m, 1, kh, kw)).

  y[n, c*m + k] = sum_{i,j} W[c*m + k, 0, i, j] x_pad[n, c, y*sh + i*dh, x*sw + j*dw].
Forward and backward-data own one output plane per unit (gathering every tap
into it); backward-weight owns one filter per unit and sums over the batch in a
fixed order. The ``xp`` shift-and-add path in ``tinygrad_img/ops/depthwise.py``
is their reference. 3x3 / stride 1 / dilation 1 (the common case) goes to the fused
kernels of cpu_numba_depthwise_3x3.py instead.
"""
import numpy as np
from numba import njit, prange, uint64

from . import cpu_numba, cpu_numba_depthwise_3x3 as dw3
from .cpu_numba import _run, _valid
from .geometry import out_size
from .registry import register


@njit(cache=True)
def _forward(x, w, y, kh, kw, sh, sw, ph, pw, dh, dw, start, stop):
    n, c, h, wd = x.shape
    o, oh, ow = y.shape[1], y.shape[2], y.shape[3]
    m = o // c
    xf, yf = x.ravel(), y.ravel()
    for r in range(start, stop):
        b, oc = r // o, r % o
        ch = oc // m
        for k in range(uint64(r * oh * ow), uint64((r + 1) * oh * ow)):
            yf[k] = 0
        for i in range(kh):
            ylo, yhi = _valid(oh, sh, ph - i * dh, h)
            for j in range(kw):
                wv = w[oc, 0, i, j]
                xoff = pw - j * dw
                xlo, xhi = _valid(ow, sw, xoff, wd)
                for oy in range(ylo, yhi):
                    dst = uint64((r * oh + oy) * ow + xlo)
                    src = uint64(((b * c + ch) * h + oy * sh - ph + i * dh) * wd + xlo * sw - xoff)
                    if sw == 1:  # a separate contiguous loop: LLVM vectorises only this one
                        for k in range(uint64(xhi - xlo)):
                            yf[dst + k] += wv * xf[src + k]
                    else:
                        for k in range(uint64(xhi - xlo)):
                            yf[dst + k] += wv * xf[src + k * uint64(sw)]


@njit(cache=True)
def _backward_data(gy, w, gx, kh, kw, sh, sw, ph, pw, dh, dw, start, stop):
    n, c, h, wd = gx.shape
    o, oh, ow = gy.shape[1], gy.shape[2], gy.shape[3]
    m = o // c
    gf, xf = gy.ravel(), gx.ravel()
    for r in range(start, stop):
        b, ch = r // c, r % c
        for k in range(uint64(r * h * wd), uint64((r + 1) * h * wd)):
            xf[k] = 0
        for q in range(m):
            oc = ch * m + q
            for i in range(kh):
                ylo, yhi = _valid(oh, sh, ph - i * dh, h)
                for j in range(kw):
                    wv = w[oc, 0, i, j]
                    xoff = pw - j * dw
                    xlo, xhi = _valid(ow, sw, xoff, wd)
                    for oy in range(ylo, yhi):
                        src = uint64(((b * o + oc) * oh + oy) * ow + xlo)
                        dst = uint64((r * h + oy * sh - ph + i * dh) * wd + xlo * sw - xoff)
                        if sw == 1:
                            for k in range(uint64(xhi - xlo)):
                                xf[dst + k] += wv * gf[src + k]
                        else:
                            for k in range(uint64(xhi - xlo)):
                                xf[dst + k * uint64(sw)] += wv * gf[src + k]


@njit(cache=True)
def _backward_weight(gy, x, gw, kh, kw, sh, sw, ph, pw, dh, dw, start, stop):
    n, c, h, wd = x.shape
    o, oh, ow = gy.shape[1], gy.shape[2], gy.shape[3]
    m = o // c
    gf, xf = gy.ravel(), x.ravel()
    # one partial sum per (tap, output column): independent lanes, so the multiply-adds
    # vectorise instead of waiting on a single running sum. The batch loop is outside the tap
    # loops, so each (gy, x) plane pair is read from memory once and from cache for every
    # tap; each tap still sums its terms in (b, oy) order.
    part = np.zeros((kh * kw, ow), dtype=gw.dtype)
    for oc in range(start, stop):
        ch = oc // m
        part[:] = 0
        for b in range(n):
            for i in range(kh):
                ylo, yhi = _valid(oh, sh, ph - i * dh, h)
                for j in range(kw):
                    xoff = pw - j * dw
                    xlo, xhi = _valid(ow, sw, xoff, wd)
                    lane = part[i * kw + j]
                    for oy in range(ylo, yhi):
                        src = uint64(((b * o + oc) * oh + oy) * ow + xlo)
                        xs = uint64(((b * c + ch) * h + oy * sh - ph + i * dh) * wd + xlo * sw - xoff)
                        if sw == 1:
                            for k in range(uint64(xhi - xlo)):
                                lane[k] += gf[src + k] * xf[xs + k]
                        else:
                            for k in range(uint64(xhi - xlo)):
                                lane[k] += gf[src + k] * xf[xs + k * uint64(sw)]
        for i in range(kh):
            for j in range(kw):
                xlo, xhi = _valid(ow, sw, pw - j * dw, wd)
                gw[oc, 0, i, j] = part[i * kw + j, :xhi - xlo].sum()


@njit(cache=True, parallel=True)
def _forward_par(x, w, y, kh, kw, sh, sw, ph, pw, dh, dw):
    for r in prange(y.shape[0] * y.shape[1]):
        _forward(x, w, y, kh, kw, sh, sw, ph, pw, dh, dw, r, r + 1)


@njit(cache=True, parallel=True)
def _backward_data_par(gy, w, gx, kh, kw, sh, sw, ph, pw, dh, dw):
    for r in prange(gx.shape[0] * gx.shape[1]):
        _backward_data(gy, w, gx, kh, kw, sh, sw, ph, pw, dh, dw, r, r + 1)


@njit(cache=True, parallel=True)
def _backward_weight_par(gy, x, gw, kh, kw, sh, sw, ph, pw, dh, dw):
    for r in prange(gw.shape[0]):
        _backward_weight(gy, x, gw, kh, kw, sh, sw, ph, pw, dh, dw, r, r + 1)


def _big(a):
    return a.size >= cpu_numba.PARALLEL_MIN_ELEMENTS


@register("depthwise_conv2d_forward", "numba")
def depthwise_conv2d_forward(x, w, kh, kw, sh, sw, ph, pw, dh, dw):
    n, c, h, wd = x.shape
    y = np.empty((n, w.shape[0], out_size(h, kh, sh, ph, dh), out_size(wd, kw, sw, pw, dw)), dtype=x.dtype)
    x, w = np.ascontiguousarray(x), np.ascontiguousarray(w)
    if dw3.applies(kh, kw, sh, sw, ph, pw, dh, dw):
        _run(dw3._forward, dw3._forward_par, _big(y), n * w.shape[0], x, w, y, ph, pw)
    else:
        _run(_forward, _forward_par, _big(y), n * w.shape[0], x, w, y, kh, kw, sh, sw, ph, pw, dh, dw)
    return y


@register("depthwise_conv2d_backward_data", "numba")
def depthwise_conv2d_backward_data(gy, w, x_shape, kh, kw, sh, sw, ph, pw, dh, dw):
    gx = np.empty(x_shape, dtype=gy.dtype)
    gy, w = np.ascontiguousarray(gy), np.ascontiguousarray(w)
    if dw3.applies(kh, kw, sh, sw, ph, pw, dh, dw):
        _run(dw3._backward_data, dw3._backward_data_par, _big(gy), x_shape[0] * x_shape[1], gy, w, gx, ph, pw)
    else:
        _run(_backward_data, _backward_data_par, _big(gy), x_shape[0] * x_shape[1], gy, w, gx,
             kh, kw, sh, sw, ph, pw, dh, dw)
    return gx


@register("depthwise_conv2d_backward_weight", "numba")
def depthwise_conv2d_backward_weight(gy, x, w_shape, kh, kw, sh, sw, ph, pw, dh, dw):
    gw = np.zeros(w_shape, dtype=gy.dtype)
    gy, x = np.ascontiguousarray(gy), np.ascontiguousarray(x)
    if dw3.applies(kh, kw, sh, sw, ph, pw, dh, dw):
        _run(dw3._backward_weight, dw3._backward_weight_par, _big(gy), w_shape[0], gy, x, gw, ph, pw,
             gy.dtype.type(0))
    else:
        _run(_backward_weight, _backward_weight_par, _big(gy), w_shape[0], gy, x, gw,
             kh, kw, sh, sw, ph, pw, dh, dw)
    return gw
