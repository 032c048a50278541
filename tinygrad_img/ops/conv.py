"""2-D convolution by im2col + one GEMM per group, and its adjoint (transposed convolution).

With the column matrix col (C*kh*kw, N*OH*OW) of x (kernels' ``im2col``):
  y = W col,   dW = gy col^T,   dcol = W^T gy,   dx = col2im(dcol).
The batch is processed in chunks, one GEMM per group and chunk, so the column
buffer stays bounded (:func:`set_im2col_limit`); chunking changes only the
summation order of dW. Short reductions (C*kh*kw < 48, groups 1) run one GEMM
per sample instead (:func:`_per_sample`). A device that registers direct
``conv2d_forward`` / ``conv2d_backward_data`` / ``conv2d_backward_weight``
kernels (CUDA) gets them instead; depthwise convolution (groups == C) has
its own shift-and-add path because its per-group GEMMs are too thin to pay.
"""
import os
from collections import namedtuple

from ..autograd import Function
from ..backend import device_of, get_array_module
from ..kernels import registry
from ..kernels.geometry import out_size, pair
from . import depthwise

_limit = int(os.environ.get("TINYGRAD_IMG_IM2COL_BYTES", 256 << 20))
# On the CPU, chunks of at most this size stay in the cache between im2col
# writing them and the GEMM reading them: on a 2-core Zen 4 VM (1 MiB L2 per
# core, 32 MiB shared L3) 8 MiB ran the 3x3 64-channel convolutions 1.6-1.9x
# faster than whole-batch chunks, and 4 MiB the stride-2 one another 10% faster
# (forward 27.6 -> 24.7 ms, forward+backward 85.7 -> 80.1 ms on
# (32, 64, 56, 56) -> 128 channels; no other benchmarked shape got slower).
# A chunk holds at least one sample, so larger samples go one at a time.
_CPU_CHUNK_BYTES = 4 << 20


def set_im2col_limit(nbytes):
    """Bound the im2col column buffer to ``nbytes`` (default 256 MiB, or $TINYGRAD_IMG_IM2COL_BYTES)."""
    global _limit
    if int(nbytes) <= 0:
        raise ValueError(f"set_im2col_limit: the limit must be a positive number of bytes, got {nbytes}")
    _limit = int(nbytes)


def get_im2col_limit():
    """The current bound on the im2col column buffer, in bytes."""
    return _limit


class Geometry(namedtuple("Geometry", "kh kw sh sw ph pw dh dw groups")):
    """Kernel size, stride, padding, dilation and groups of one convolution."""

    @classmethod
    def make(cls, op, kernel, stride, padding, dilation, groups):
        (kh, kw), (sh, sw) = kernel, pair(stride, "stride", op)
        (ph, pw), (dh, dw) = pair(padding, "padding", op), pair(dilation, "dilation", op)
        if min(kh, kw) <= 0:
            raise ValueError(f"{op}: kernel size must be positive, got {(kh, kw)}")
        if min(sh, sw) <= 0:
            raise ValueError(f"{op}: stride must be positive, got {(sh, sw)}")
        if min(dh, dw) <= 0:
            raise ValueError(f"{op}: dilation must be positive, got {(dh, dw)}")
        if min(ph, pw) < 0:
            raise ValueError(f"{op}: padding must be non-negative, got {(ph, pw)}")
        if int(groups) <= 0:
            raise ValueError(f"{op}: groups must be positive, got {groups}")
        return cls(kh, kw, sh, sw, ph, pw, dh, dw, int(groups))

    @property
    def args(self):
        return self[:8]

    def out_hw(self, h, w):
        return out_size(h, self.kh, self.sh, self.ph, self.dh), out_size(w, self.kw, self.sw, self.pw, self.dw)

    def pairs(self):
        return (self.sh, self.sw), (self.ph, self.pw), (self.dh, self.dw)

    @property
    def pointwise(self):
        """1x1 kernel, stride 1, no padding: x itself is the column matrix."""
        return self.kh == self.kw == self.sh == self.sw == 1 and self.ph == self.pw == 0

    def check_input(self, op, x_shape, weight_shape):
        n, c, h, w = x_shape
        eh, ew = self.dh * (self.kh - 1) + 1, self.dw * (self.kw - 1) + 1
        if eh > h + 2 * self.ph or ew > w + 2 * self.pw:
            raise ValueError(f"{op}: kernel {self.kh}x{self.kw} (dilation {(self.dh, self.dw)}) is larger than "
                             f"the padded input {h + 2 * self.ph}x{w + 2 * self.pw} (input shape {tuple(x_shape)}, "
                             f"padding {(self.ph, self.pw)}, weight shape {tuple(weight_shape)})")


def _chunks(xp, n, sample_bytes):
    """Equal slices of the batch whose column buffers fit the limit (at least one sample each)."""
    if n == 0:
        return []
    cap = _limit if xp.__name__ != "numpy" else min(_limit, _CPU_CHUNK_BYTES)
    count = -(-n // max(1, cap // max(sample_bytes, 1)))
    size = -(-n // count)
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def _by_group(a, g):
    """(N, C, H, W) -> (groups, C/groups, N*H*W): the channel-major matrix of a batch chunk."""
    n, c = a.shape[:2]
    return a.reshape(n, g, c // g, -1).transpose(1, 2, 0, 3).reshape(g, c // g, -1)


def _columns(x, geo):
    """The column matrix of a batch chunk, (groups, C/groups*kh*kw, N*OH*OW)."""
    if geo.pointwise:
        return _by_group(x, geo.groups)
    col = registry.lookup("im2col", device_of(x))(x, *geo.args)
    return col.reshape(geo.groups, -1, col.shape[3] * col.shape[4] * col.shape[5])


def _fast(name, x):
    return registry.lookup(name, device_of(x), required=False)


def _sample_bytes(c, geo, out_hw, itemsize):
    return c * geo.kh * geo.kw * out_hw[0] * out_hw[1] * itemsize


def _per_sample(c, geo):
    """Whether to run one small GEMM per sample (on strided views of the column matrix) instead
    of one batch-wide GEMM: for a short reduction (C*kh*kw, e.g. 9 for a 1-channel 3x3 input) the
    batch-wide GEMM spends its time on the long N*OH*OW axis, and the per-sample ones also write
    the output in (N, O, ...) order directly. On 2 cores this ran the 1- and 3-channel 3x3
    convolutions' forward 1.4x and weight gradient 1.8-3.3x faster; from 72 on the GEMM won."""
    return geo.groups == 1 and not geo.pointwise and c * geo.kh * geo.kw < 48


def _sample_columns(col, nb):
    """(1, C*kh*kw, nb*OH*OW) columns as per-sample views (nb, C*kh*kw, OH*OW)."""
    return col[0].reshape(col.shape[1], nb, -1).swapaxes(0, 1)


# A 1x1 convolution's columns are the samples themselves: from this many output pixels
# per sample, one GEMM per sample straight into y beats transposing x to (C, N*H*W), one
# batch-wide GEMM and transposing the product back (2 cores, ResNet's 1x1 shapes at batch 32:
# 0.74-0.79x the time at 14x14 and 28x28; 1.04x at 7x7). For 3x3 kernels the batch-wide
# route stays: writing y inside the threaded GEMM (y's first touch) ran 0.85-1.13x its time.
_DIRECT_PIXELS = 128


def _direct_pointwise(geo, out_hw):
    """Whether a 1x1 convolution runs one GEMM per sample on x, gy, y, dx themselves (groups 1)."""
    return geo.groups == 1 and geo.pointwise and out_hw[0] * out_hw[1] >= _DIRECT_PIXELS


def _direct_forward(c, geo, out_hw):
    """Whether the forward runs one GEMM per sample straight into y."""
    return _per_sample(c, geo) or _direct_pointwise(geo, out_hw)


def conv2d_forward(x, w, geo, b=None):
    """y[n, o] = b[o] + sum_{c,i,j} W[o, c, i, j] x_pad[n, c, y*sh + i*dh, x*sw + j*dw] (per group)."""
    fast = _fast("conv2d_forward", x)
    if fast is not None:
        return _add_bias(fast(x, w, None, *geo.pairs(), geo.groups), b)
    if depthwise.applies(x.shape, w.shape, geo.groups):
        return _add_bias(depthwise.forward(x, w, geo), b)
    xp = get_array_module(x)
    n, c, h, wd = x.shape
    o, g = w.shape[0], geo.groups
    oh, ow = geo.out_hw(h, wd)
    y = xp.empty((n, o, oh, ow), dtype=x.dtype)
    wg = w.reshape(g, o // g, -1)
    direct = _direct_forward(c, geo, (oh, ow))
    for s in _chunks(xp, n, _sample_bytes(c, geo, (oh, ow), x.itemsize)):
        nb = s.stop - s.start
        if direct:
            cols = x[s].reshape(nb, c, -1) if geo.pointwise else _sample_columns(_columns(x[s], geo), nb)
            xp.matmul(wg[0], cols, out=y[s].reshape(nb, o, -1))
            continue
        prod = xp.matmul(wg, _columns(x[s], geo)).reshape(o, nb, oh, ow).transpose(1, 0, 2, 3)
        if b is None:
            y[s] = prod
        else:  # the bias rides along with the (O, N) -> (N, O) copy
            xp.add(prod, b.reshape(1, -1, 1, 1), out=y[s])
    return _add_bias(y, b) if direct else y


def _add_bias(y, b):
    """y + b over the channel axis, in place (y is a fresh output)."""
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def conv2d_backward_weight(gy, x, w_shape, geo):
    """dW = sum over chunks of gy col^T."""
    fast = _fast("conv2d_backward_weight", x)
    if fast is not None:
        return fast(gy, x, tuple(w_shape), *geo.pairs(), geo.groups)
    if depthwise.applies(x.shape, w_shape, geo.groups):
        return depthwise.backward_weight(gy, x, w_shape, geo)
    xp = get_array_module(x)
    n, c = x.shape[:2]
    g = geo.groups
    per_sample = _per_sample(c, geo)
    if _direct_pointwise(geo, gy.shape[2:]):  # dW = sum_n gy_n x_n^T, no transposed copies
        gw = xp.zeros((w_shape[0], c), dtype=x.dtype)
        for i in range(n):
            gw += xp.matmul(gy[i].reshape(w_shape[0], -1), x[i].reshape(c, -1).T)
        return gw.reshape(w_shape)
    gw_t = xp.zeros((g, c // g * geo.kh * geo.kw, w_shape[0] // g), dtype=x.dtype)
    for s in _chunks(xp, n, _sample_bytes(c, geo, gy.shape[2:], x.itemsize)):
        col = _columns(x[s], geo)
        if per_sample:  # dW = sum_n gy_n col_n^T, with no transposed copy of gy
            nb = s.stop - s.start
            gy_n = gy[s].reshape(nb, w_shape[0], -1)
            gw_t[0] += xp.matmul(gy_n, _sample_columns(col, nb).swapaxes(1, 2)).sum(0).T
            continue
        # dW^T = col gy^T: with the long N*OH*OW axis inner to both operands, OpenBLAS
        # runs this orientation up to 10x faster than gy col^T on few threads.
        gw_t += xp.matmul(col, _by_group(gy[s], g).swapaxes(-1, -2))
    return xp.ascontiguousarray(gw_t.swapaxes(-1, -2)).reshape(w_shape)


def conv2d_backward_data(gy, w, x_shape, geo):
    """dx = col2im(W^T gy), chunk by chunk."""
    fast = _fast("conv2d_backward_data", gy)
    if fast is not None:
        return fast(gy, w, tuple(x_shape), *geo.pairs(), geo.groups)
    if depthwise.applies(x_shape, w.shape, geo.groups):
        return depthwise.backward_data(gy, w, x_shape, geo)
    xp = get_array_module(gy)
    n, c, h, wd = x_shape
    o, g = w.shape[0], geo.groups
    gx = xp.empty(x_shape, dtype=gy.dtype)
    wt = w.reshape(g, o // g, -1).swapaxes(-1, -2)
    col2im = registry.lookup("col2im", device_of(gy))
    direct = _direct_pointwise(geo, gy.shape[2:])
    for s in _chunks(xp, n, _sample_bytes(c, geo, gy.shape[2:], gy.itemsize)):
        nb = s.stop - s.start
        if direct:  # dx_n = W^T gy_n, straight into gx
            xp.matmul(wt[0], gy[s].reshape(nb, o, -1), out=gx[s].reshape(nb, c, -1))
            continue
        gcol = xp.matmul(wt, _by_group(gy[s], g))
        if geo.pointwise:
            gx[s] = gcol.reshape(c, nb, h, wd).transpose(1, 0, 2, 3)
        else:
            gx[s] = col2im(gcol.reshape(c, geo.kh, geo.kw, nb, *gy.shape[2:]), (nb, c, h, wd), *geo.args)
    return gx


def _check_ndim(op, x, w):
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got shape {x.shape}")
    if w.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D weight, got shape {w.shape}")
    if x.dtype != w.dtype:
        raise ValueError(f"{op}: input dtype {x.dtype} and weight dtype {w.dtype} differ")


def _check_conv(op, x, w, b, geo, in_channels):
    g = geo.groups
    if x.shape[1] != in_channels:
        raise ValueError(f"{op}: input has {x.shape[1]} channels but weight expects {in_channels} "
                         f"(weight shape {w.shape}, groups {g})")
    if x.shape[1] % g or w.shape[0] % g:
        raise ValueError(f"{op}: groups {g} must divide the input channels ({x.shape[1]}) and the weight's "
                         f"first dim (weight shape {w.shape})")
    if b is not None and b.shape != (w.shape[0] if op == "conv2d" else w.shape[1] * g,):
        raise ValueError(f"{op}: bias of shape {b.shape} does not match weight of shape {w.shape}")


def _bias_grad(gy):
    """db = the sum of gy over batch and pixels; summing the batch first (whole rows) ran 2x
    faster than NumPy's reduction over axes (0, 2, 3) at once."""
    return gy.sum(axis=0).reshape(gy.shape[1], -1).sum(axis=1)


class Conv2d(Function):
    """y = conv(x, W) + b with x (N, C, H, W), W (O, C/groups, kh, kw), b (O,)."""

    def __init__(self, stride=1, padding=0, dilation=1, groups=1):
        self.options = (stride, padding, dilation, groups)

    def forward(self, x, w, b=None):
        _check_ndim("conv2d", x, w)
        self.geo = Geometry.make("conv2d", w.shape[2:], *self.options)
        _check_conv("conv2d", x, w, b, self.geo, w.shape[1] * self.geo.groups)
        self.geo.check_input("conv2d", x.shape, w.shape)
        xp = get_array_module(x)
        self.x, self.w = xp.ascontiguousarray(x), xp.ascontiguousarray(w)
        return conv2d_forward(self.x, self.w, self.geo, b)

    def backward(self, gy):
        gy = get_array_module(gy).ascontiguousarray(gy)
        gx = conv2d_backward_data(gy, self.w, self.x.shape, self.geo) if self.needs_grad[0] else None
        gw = conv2d_backward_weight(gy, self.x, self.w.shape, self.geo) if self.needs_grad[1] else None
        if len(self.needs_grad) == 3:
            return gx, gw, _bias_grad(gy) if self.needs_grad[2] else None
        return gx, gw


class ConvTranspose2d(Function):
    """The adjoint of conv2d: y = conv2d_backward_data(x, W) + b, W (C_in, C_out/groups, kh, kw).

    Output size (H - 1) * stride - 2 * padding + dilation * (kh - 1) + output_padding + 1.
    """

    def __init__(self, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
        self.options = (stride, padding, dilation, groups)
        self.output_padding = pair(output_padding, "output_padding", "conv_transpose2d")

    def forward(self, x, w, b=None):
        op = "conv_transpose2d"
        _check_ndim(op, x, w)
        self.geo = geo = Geometry.make(op, w.shape[2:], *self.options)
        _check_conv(op, x, w, b, geo, w.shape[0])
        oph, opw = self.output_padding
        if not (0 <= oph < max(geo.sh, geo.dh) and 0 <= opw < max(geo.sw, geo.dw)):
            raise ValueError(f"{op}: output_padding {self.output_padding} must be non-negative and smaller "
                             f"than the stride {(geo.sh, geo.sw)} or the dilation {(geo.dh, geo.dw)}")
        n, _, h, wd = x.shape
        out = (n, w.shape[1] * geo.groups,
               (h - 1) * geo.sh - 2 * geo.ph + geo.dh * (geo.kh - 1) + oph + 1,
               (wd - 1) * geo.sw - 2 * geo.pw + geo.dw * (geo.kw - 1) + opw + 1)
        if min(out[2:]) <= 0:
            raise ValueError(f"{op}: input shape {x.shape} with weight {w.shape}, stride {(geo.sh, geo.sw)} "
                             f"and padding {(geo.ph, geo.pw)} gives an empty output {out}")
        xp = get_array_module(x)
        self.x, self.w = xp.ascontiguousarray(x), xp.ascontiguousarray(w)
        y = conv2d_backward_data(self.x, self.w, out, geo)
        if b is not None:
            y += b.reshape(1, -1, 1, 1)
        return y

    def backward(self, gy):
        xp = get_array_module(gy)
        gy = xp.ascontiguousarray(gy)
        h, wd = self.x.shape[2:]
        # With output_padding >= stride (allowed up to the dilation) a conv over gy has extra
        # positions past x's last row/column; x is zero there, so they add nothing to dW.
        oh, ow = self.geo.out_hw(*gy.shape[2:])
        x = self.x if (oh, ow) == (h, wd) else xp.pad(self.x, ((0, 0), (0, 0), (0, oh - h), (0, ow - wd)))
        gx = conv2d_forward(gy, self.w, self.geo)[:, :, :h, :wd] if self.needs_grad[0] else None
        gw = conv2d_backward_weight(x, gy, self.w.shape, self.geo) if self.needs_grad[1] else None
        if len(self.needs_grad) == 3:
            return gx, gw, _bias_grad(gy) if self.needs_grad[2] else None
        return gx, gw
