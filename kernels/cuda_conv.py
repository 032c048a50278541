"""The "cuda" conv2d kernels of the registry: forward (with fused bias + ReLU),
backward-data and backward-weight.

Three equivalent algorithms per pass: the direct implicit-GEMM kernels of
``cuda/conv.cu`` with 64 x 64 or 128 x 128 output tiles ("implicit_64",
"implicit_128"; float32; no column buffer in global memory) and im2col +
``cupy.matmul`` (cuBLAS) + col2im ("im2col"). The autotune cache times them the
first time a problem (shapes, options, dtype, device) is seen and keeps the
fastest; ``cuda.set_conv_algorithm`` or env TINYGRAD_IMG_CONV_ALGO force one
("implicit" picks the tile by size). Grouped convolutions are per-group matrix
products: group g owns input channels [g*C/G, (g+1)*C/G) and output channels
[g*O/G, (g+1)*O/G).

TF32 (opt-in, off by default): ``set_conv_tf32(True)`` or env TINYGRAD_IMG_CONV_TF32=1
adds "implicit_tf32" (``cuda/conv_tf32.cu``, wmma tensor cores, sm_80+) to the float32
forward's candidates. TF32 keeps 10 mantissa bits of each input, so a product carries
a relative error up to ~2^-10 (~1e-3; FP32 accumulation): results differ from FP32 by
up to ~1e-3 * sum|w||x|. Off, every float32 pass is plain FP32 (FMA kernels, or cuBLAS
while CuPy's CUPY_TF32 is unset).
"""
import functools
import math

import numpy as np

from . import cuda, cuda_launch as cl
from .registry import register


def _conv_ints(g):
    return cuda._ints(g.N, g.C, g.H, g.W, g.O, g.KH, g.KW, g.SH, g.SW, g.PH, g.PW, g.DH, g.DW,
                      g.OH, g.OW, g.G)


_forced_tf32 = None


def set_conv_tf32(enabled):
    """Allow (True) or forbid (False) the TF32 tensor-core conv2d forward; None clears the override,
    so env TINYGRAD_IMG_CONV_TF32 (off by default) decides. Returns the previous override.

    When allowed on an sm_80+ device, the float32 forward's autotuner also times "implicit_tf32"
    and keeps it when fastest. TF32 rounds both operands to 10 mantissa bits (round to nearest,
    ties away from zero) and accumulates in FP32: |y - y_fp32| <~ 2^-10 * sum|w||x| (~1e-3
    relative). The backward passes and float64 are unaffected."""
    global _forced_tf32
    if enabled is not None and not isinstance(enabled, bool):
        raise TypeError(f"set_conv_tf32: enabled must be True, False or None, got {enabled!r}")
    prev, _forced_tf32 = _forced_tf32, enabled
    return prev


def conv_tf32_enabled():
    """Whether the TF32 forward is allowed: ``set_conv_tf32``'s override, else env TINYGRAD_IMG_CONV_TF32."""
    return cl.conv_tf32_setting() if _forced_tf32 is None else _forced_tf32


def tf32_unavailable():
    """None when the TF32 forward may run (flag on, an sm_80+ device), else why not."""
    if not conv_tf32_enabled():
        return "TF32 is off (set_conv_tf32(True) or TINYGRAD_IMG_CONV_TF32=1)"
    return _tf32_device_problem(cuda._cp().cuda.Device().id)


@functools.lru_cache(maxsize=None)
def _tf32_device_problem(device_id):
    """Why device ``device_id`` cannot run the TF32 kernel, or None; asked once per device
    (it probes the compute capability and the file system, ~30 us, on every forward otherwise)."""
    cc = cl.cc_int(cuda._cp().cuda.Device(device_id).compute_capability)
    if cc < cl.TF32_MIN_CC:
        return f"the device has compute capability {cc}, TF32 tensor cores need {cl.TF32_MIN_CC}+"
    if cl.cuda_include_dir() is None:  # NVRTC needs <mma.h>; without it TF32 is skipped, not an error
        return "no CUDA include directory holds mma.h (set CUDA_PATH or pip install nvidia-cuda-runtime-cu12)"
    return None


def _mode():
    return cuda._forced_algorithm or cl.conv_algorithm_setting()


def _choose(op, g, rows, candidates):
    """Name of the algorithm to run: the forced one when set (float64 always takes im2col;
    a forced "implicit_tf32" means "implicit" for the passes without a TF32 kernel), else the
    autotuned one. ``rows`` is M of the pass's matrix product (picks "implicit"'s tile)."""
    mode = _mode()
    if mode == "implicit_tf32" and mode not in candidates:
        mode = "implicit"
    if mode == "implicit":
        mode = f"implicit_{cl.default_tile(rows)}"
    if len(candidates) == 1 or (mode != "auto" and mode not in candidates):
        return "im2col"
    key = (op, cuda._cp().cuda.Device().id, tuple(g))
    return cuda.autotune.choose(key, candidates, cuda.time_gpu, forced=mode)


def _candidates(dtype, implicit, im2col):
    """{name: zero-argument callable}; ``implicit(tile)`` runs the direct kernel with that tile."""
    out = {"im2col": im2col}
    if dtype == np.float32:
        out.update({f"implicit_{t}": (lambda t=t: implicit(t)) for t in cl.CONV_TILES})
    return out


def _im2col_args(g):
    return g.KH, g.KW, g.SH, g.SW, g.PH, g.PW, g.DH, g.DW


def _gy_by_group(gy, g):
    """gy (N, O, OH, OW) -> (G, O/G, N*OH*OW), the right operand of the per-group products."""
    return gy.transpose(1, 0, 2, 3).reshape(g.G, g.O // g.G, g.N * g.OH * g.OW)


# ------------------------------------------------------------------ forward
def _forward_implicit(x, w, b, g, relu, tile):
    """The direct kernel: ``tile`` 64 or 128 (FP32, conv.cu) or "tf32" (64 x 64, conv_tf32.cu)."""
    cl.check_int32("conv2d", input=x.size, weight=w.size, output=g.N * g.O * g.OH * g.OW)
    y = cuda._cp().empty((g.N, g.O, g.OH, g.OW), dtype=np.float32)
    grid, block = cl.gemm_grid(g.O // g.G, g.N * g.OH * g.OW, g.G, 64 if tile == "tf32" else tile)
    args = (x, w, w if b is None else b, y) + _conv_ints(g) + cuda._ints(b is not None, relu)
    source, name = ("conv_tf32.cu", "conv2d_fwd_tf32") if tile == "tf32" else ("conv.cu", f"conv2d_fwd_implicit_{tile}")
    cuda._launch(source, name, grid, block, args)
    return y


def _forward_im2col(x, w, b, g, relu):
    cp = cuda._cp()
    k = g.C // g.G * g.KH * g.KW
    col = cuda.im2col(x, *_im2col_args(g)).reshape(g.G, k, g.N * g.OH * g.OW)
    y = cp.matmul(w.reshape(g.G, g.O // g.G, k), col).reshape(g.O, g.N, g.OH, g.OW)
    return _bias_relu_(cp.ascontiguousarray(y.transpose(1, 0, 2, 3)), b, relu)


def _bias_relu_(y, b, relu):
    """y + bias, then max(0, .) when ``relu``, in place on a fresh (N, O, OH, OW) array."""
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    if relu:
        cuda._cp().maximum(y, 0, out=y)
    return y


@register("conv2d_forward", "cuda")
def conv2d_forward(x, w, b, stride, padding, dilation, groups, relu=False):
    """y[n, o] = sum_{c in group(o), i, j} w[o, c, i, j] x_pad[n, c, y*s + i*d, x*s + j*d] + b[o],
    then max(0, y) when ``relu``. With TF32 allowed (``set_conv_tf32``) w and x may be rounded
    to TF32 (see the module docstring)."""
    op = "conv2d"
    cl.check_array(op, "input", x, cuda.FLOATS, ndim=4)
    cl.check_array(op, "weight", w, (x.dtype,), ndim=4)
    g = cl.conv_geometry(op, x.shape, w.shape, stride, padding, dilation, groups)
    if b is not None:
        cl.check_array(op, "bias", b, (x.dtype,), shape=(g.O,))
    if x.size == 0 or w.size == 0:  # nothing to launch (a zero grid dimension is an invalid launch)
        y = cuda._cp().zeros((g.N, g.O, g.OH, g.OW), dtype=x.dtype)
        return _bias_relu_(y, b, relu)
    candidates = _candidates(x.dtype, lambda tile: _forward_implicit(x, w, b, g, relu, tile),
                             lambda: _forward_im2col(x, w, b, g, relu))
    tf32_missing = tf32_unavailable() if x.dtype == np.float32 else "float64"
    if tf32_missing is None:
        candidates["implicit_tf32"] = lambda: _forward_implicit(x, w, b, g, relu, "tf32")
    elif x.dtype == np.float32 and _mode() == "implicit_tf32":
        raise ValueError(f"conv2d: algorithm 'implicit_tf32' is forced but {tf32_missing}")
    key = ("conv2d_forward", x.dtype.name, b is not None, bool(relu), tf32_missing is None)
    name = _choose(key, g, g.O // g.G, candidates)
    return candidates[name]()


# ------------------------------------------------------------------ backward data
def _backward_data_implicit(gy, w, g, tile):
    cl.check_int32("conv2d_backward_data", grad_output=gy.size, weight=w.size, grad_input=g.N * g.C * g.H * g.W)
    gx = cuda._cp().empty((g.N, g.C, g.H, g.W), dtype=np.float32)
    grid, block = cl.gemm_grid(g.C // g.G, g.N * g.H * g.W, g.G, tile)
    cuda._launch("conv.cu", f"conv2d_bwd_data_implicit_{tile}", grid, block, (gy, w, gx) + _conv_ints(g))
    return gx


def _backward_data_im2col(gy, w, g):
    cp = cuda._cp()
    k = g.C // g.G * g.KH * g.KW
    wt = w.reshape(g.G, g.O // g.G, k).transpose(0, 2, 1)
    gcol = cp.matmul(wt, _gy_by_group(gy, g)).reshape(g.C, g.KH, g.KW, g.N, g.OH, g.OW)
    return cuda.col2im(gcol, (g.N, g.C, g.H, g.W), *_im2col_args(g))


@register("conv2d_backward_data", "cuda")
def conv2d_backward_data(gy, w, x_shape, stride, padding, dilation, groups):
    """gx = the adjoint of conv2d in x: gx[n, c, h, w] = sum over (o, i, j) and the outputs
    (oy, ox) with oy*s - p + i*d = h (same along w) of w[o, c, i, j] gy[n, o, oy, ox]."""
    op = "conv2d_backward_data"
    cl.check_array(op, "weight", w, cuda.FLOATS, ndim=4)
    g = cl.conv_geometry(op, x_shape, w.shape, stride, padding, dilation, groups)
    cl.check_array(op, "grad_output", gy, (w.dtype,), shape=(g.N, g.O, g.OH, g.OW))
    if gy.size == 0 or w.size == 0 or g.N * g.C * g.H * g.W == 0:
        return cuda._cp().zeros((g.N, g.C, g.H, g.W), dtype=w.dtype)
    candidates = _candidates(w.dtype, lambda tile: _backward_data_implicit(gy, w, g, tile),
                             lambda: _backward_data_im2col(gy, w, g))
    return candidates[_choose((op, w.dtype.name), g, g.C // g.G, candidates)]()


# ------------------------------------------------------------------ backward weight
def _backward_weight_implicit(gy, x, g, tile):
    cl.check_int32("conv2d_backward_weight", grad_output=gy.size, input=x.size)
    cp = cuda._cp()
    m, p, k = g.O // g.G, g.C // g.G * g.KH * g.KW, g.N * g.OH * g.OW
    tiles = -(-m // tile) * -(-p // tile) * g.G
    splits, chunk = cl.split_k(k, tiles, cuda._sm_count(cp.cuda.Device().id))
    cl.check_int32("conv2d_backward_weight", partial_sums=splits * g.O * p)
    out = cp.empty((splits, g.O, p), dtype=np.float32)
    grid, block = cl.gemm_grid(m, p, g.G * splits, tile)
    args = (gy, x, out) + _conv_ints(g) + cuda._ints(splits, chunk)
    cuda._launch("conv.cu", f"conv2d_bwd_weight_implicit_{tile}", grid, block, args)
    gw = out[0] if splits == 1 else out.sum(axis=0)
    return gw.reshape(g.O, g.C // g.G, g.KH, g.KW)


def _backward_weight_im2col(gy, x, g):
    cp = cuda._cp()
    k = g.C // g.G * g.KH * g.KW
    col = cuda.im2col(x, *_im2col_args(g)).reshape(g.G, k, g.N * g.OH * g.OW)
    gw = cp.matmul(_gy_by_group(gy, g), col.transpose(0, 2, 1))
    return gw.reshape(g.O, g.C // g.G, g.KH, g.KW)


@register("conv2d_backward_weight", "cuda")
def conv2d_backward_weight(gy, x, w_shape, stride, padding, dilation, groups):
    """gw[o, c, i, j] = sum_{n, oy, ox} gy[n, o, oy, ox] x_pad[n, c, oy*s + i*d, ox*s + j*d]
    (c within o's group)."""
    op = "conv2d_backward_weight"
    cl.check_array(op, "input", x, cuda.FLOATS, ndim=4)
    g = cl.conv_geometry(op, x.shape, w_shape, stride, padding, dilation, groups)
    cl.check_array(op, "grad_output", gy, (x.dtype,), shape=(g.N, g.O, g.OH, g.OW))
    if gy.size == 0 or x.size == 0 or math.prod(w_shape) == 0:  # an empty batch adds nothing
        return cuda._cp().zeros(tuple(w_shape), dtype=x.dtype)
    candidates = _candidates(x.dtype, lambda tile: _backward_weight_implicit(gy, x, g, tile),
                             lambda: _backward_weight_im2col(gy, x, g))
    return candidates[_choose((op, x.dtype.name), g, g.O // g.G, candidates)]()
