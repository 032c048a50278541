"""Raw CUDA kernels (``kernels/cuda/*.cu``) loaded with ``cupy.RawModule`` and registered
as the "cuda" backend of the kernel registry (see ``registry.py`` for the contract).

Each source is compiled once per (device, NVRTC options) and memoised; the options
target the device's compute capability. Every wrapper checks dtype, contiguity and
sizes before launching (``cuda_launch.py``), so the kernels assume nothing unchecked.
Convolutions choose per problem between the direct implicit-GEMM kernels and
im2col + ``cupy.matmul`` (cuBLAS) with a small autotune cache; float64 always takes
the im2col path. An opt-in TF32 tensor-core forward (``set_conv_tf32``) joins the
candidates on sm_80+ devices. CuPy is imported lazily, so this module imports without it.
"""
import functools
import os

import numpy as np

from . import cuda_launch as cl
from .registry import register

FLOATS = (np.float32, np.float64)
SOURCE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cuda")
WMMA_SOURCES = ("conv_tf32.cu",)  # tensor-core kernels, compiled only for sm_80+ devices
autotune = cl.AutotuneCache()
_forced_algorithm = None


def _cp():
    import cupy
    return cupy


def _suffix(dtype):
    return "f32" if dtype == np.float32 else "f64"


@functools.lru_cache(maxsize=None)
def _module(source, device_id, options):
    cp = _cp()
    with open(os.path.join(SOURCE_DIR, source), encoding="utf-8") as f:
        code = f.read()
    with cp.cuda.Device(device_id):
        return cp.RawModule(code=code, options=options)


def _supported_archs():
    try:
        return tuple(int(a) for a in _cp().cuda.nvrtc.getSupportedArchs())
    except Exception:  # older CuPy/NVRTC without the query: trust -arch=sm_XY
        return None


def _nvrtc_version():
    """(major, minor) of the NVRTC CuPy compiles with, or None when it cannot say."""
    try:
        return tuple(int(v) for v in _cp().cuda.nvrtc.getVersion())[:2]
    except Exception:  # an older CuPy, or a stand-in without the query
        return None


def _source_options(source):
    """Extra NVRTC options of a source: the wmma kernels include <mma.h> from the CUDA headers."""
    if source not in WMMA_SOURCES:
        return ()
    include = cl.cuda_include_dir(version=_nvrtc_version())
    if include is None:
        raise RuntimeError(f"{source} includes <mma.h>, but no CUDA include directory holds it: set CUDA_PATH "
                           "or pip install nvidia-cuda-runtime-cu12")
    return ("-I" + include,)


@functools.lru_cache(maxsize=None)
def _function(source, name, device_id):
    # CuPy appends its own -arch for the current device after these options; NVRTC takes the last.
    cp = _cp()
    options = cl.nvrtc_options(cp.cuda.Device(device_id).compute_capability, _supported_archs())
    return _module(source, device_id, options + _source_options(source)).get_function(name)


@functools.lru_cache(maxsize=None)
def _sm_count(device_id):
    return int(_cp().cuda.Device(device_id).attributes["MultiProcessorCount"])


def _launch(source, name, grid, block, args):
    device_id = _cp().cuda.Device().id
    _function(source, name, device_id)(grid, block, args)


def _ints(*values):
    return tuple(np.int32(v) for v in values)


def set_conv_algorithm(mode):
    """Force one conv algorithm ("implicit", "implicit_64", "implicit_128", "implicit_tf32" or
    "im2col") or "auto" (autotune); None clears the override, so env TINYGRAD_IMG_CONV_ALGO (default
    "auto") decides. "implicit_tf32" (the forward's TF32 tensor-core kernel) needs the TF32 flag
    (``set_conv_tf32``); the backward passes then take "implicit". Returns the previous override
    (None when there was none), ready to be passed back."""
    global _forced_algorithm
    if mode is not None and mode not in cl.CONV_ALGORITHMS:
        raise ValueError(f"set_conv_algorithm: mode must be one of {cl.CONV_ALGORITHMS} or None, got {mode!r}")
    prev, _forced_algorithm = _forced_algorithm, mode
    return prev


def event_seconds(fn):
    """Seconds of one ``fn()`` on the current stream, timed with CUDA events."""
    cp = _cp()
    start, stop = cp.cuda.Event(), cp.cuda.Event()
    start.record()
    fn()
    stop.record()
    stop.synchronize()
    return cp.cuda.get_elapsed_time(start, stop) / 1e3


def time_gpu(fn, repeat=3):
    """Median seconds of ``fn()`` on the current stream, timed with CUDA events after a warm-up."""
    fn()
    return float(np.median([event_seconds(fn) for _ in range(repeat)]))


# ------------------------------------------------------------------ im2col / col2im
def _geom_ints(g):
    return _ints(g.N, g.C, g.H, g.W, g.KH, g.KW, g.SH, g.SW, g.PH, g.PW, g.DH, g.DW, g.OH, g.OW)


@register("im2col", "cuda")
def im2col(x, kh, kw, sh, sw, ph, pw, dh, dw):
    """col[c, i, j, n, y, x] = x_padded[n, c, y*sh + i*dh, x*sw + j*dw]; col is (C, kh, kw, N, OH, OW)."""
    cl.check_array("im2col", "x", x, FLOATS, ndim=4)
    g = cl.conv_geometry("im2col", x.shape, (1, x.shape[1], kh, kw), (sh, sw), (ph, pw), (dh, dw), 1)
    col = _cp().empty((g.C, g.KH, g.KW, g.N, g.OH, g.OW), dtype=x.dtype)
    grid, block = cl.elementwise_grid(col.size)
    _launch("im2col.cu", f"im2col_{_suffix(x.dtype)}", grid, block, (x, col) + _geom_ints(g))
    return col


@register("col2im", "cuda")
def col2im(col, x_shape, kh, kw, sh, sw, ph, pw, dh, dw):
    """The adjoint of im2col as a gather: gx[n, c, h, w] sums every col entry that read that pixel."""
    g = cl.conv_geometry("col2im", x_shape, (1, x_shape[1], kh, kw), (sh, sw), (ph, pw), (dh, dw), 1)
    cl.check_array("col2im", "col", col, FLOATS, shape=(g.C, g.KH, g.KW, g.N, g.OH, g.OW))
    gx = _cp().empty(tuple(int(v) for v in x_shape), dtype=col.dtype)
    grid, block = cl.elementwise_grid(gx.size)
    _launch("im2col.cu", f"col2im_{_suffix(col.dtype)}", grid, block, (col, gx) + _geom_ints(g))
    return gx


# ------------------------------------------------------------------ pooling
def _pool_ints(g):
    return _ints(g.N * g.C, g.H, g.W, g.OH, g.OW, g.KH, g.KW, g.SH, g.SW, g.PH, g.PW)


@register("maxpool2d_forward", "cuda")
def maxpool2d_forward(x, kh, kw, sh, sw, ph, pw):
    """y = max over each window (padding -inf); argmax (int64) = the winner's h*W + w."""
    cl.check_array("max_pool2d", "x", x, FLOATS, ndim=4)
    g = cl.pool_geometry("max_pool2d", x.shape, kh, kw, sh, sw, ph, pw)
    cp = _cp()
    y = cp.empty((g.N, g.C, g.OH, g.OW), dtype=x.dtype)
    argmax = cp.empty(y.shape, dtype=np.int64)
    grid, block = cl.elementwise_grid(y.size)
    _launch("pool.cu", f"maxpool_fwd_{_suffix(x.dtype)}", grid, block, (x, y, argmax) + _pool_ints(g))
    return y, argmax


@register("maxpool2d_backward", "cuda")
def maxpool2d_backward(gy, argmax, x_shape, kh, kw, sh, sw, ph, pw):
    """gx[p] = sum of gy over the windows whose argmax is p (a gather per input pixel)."""
    g = cl.pool_geometry("max_pool2d_backward", x_shape, kh, kw, sh, sw, ph, pw)
    out_shape = (g.N, g.C, g.OH, g.OW)
    cl.check_array("max_pool2d_backward", "grad_output", gy, FLOATS, shape=out_shape)
    cl.check_array("max_pool2d_backward", "argmax", argmax, (np.int64,), shape=out_shape)
    gx = _cp().empty((g.N, g.C, g.H, g.W), dtype=gy.dtype)
    grid, block = cl.elementwise_grid(gx.size)
    _launch("pool.cu", f"maxpool_bwd_{_suffix(gy.dtype)}", grid, block, (gy, argmax, gx) + _pool_ints(g))
    return gx


@register("avgpool2d_forward", "cuda")
def avgpool2d_forward(x, kh, kw, sh, sw, ph, pw, count_include_pad=True):
    """y = window sum / (kh*kw, or the in-image tap count when not count_include_pad)."""
    cl.check_array("avg_pool2d", "x", x, FLOATS, ndim=4)
    g = cl.pool_geometry("avg_pool2d", x.shape, kh, kw, sh, sw, ph, pw)
    y = _cp().empty((g.N, g.C, g.OH, g.OW), dtype=x.dtype)
    grid, block = cl.elementwise_grid(y.size)
    args = (x, y) + _pool_ints(g) + _ints(bool(count_include_pad))
    _launch("pool.cu", f"avgpool_fwd_{_suffix(x.dtype)}", grid, block, args)
    return y


@register("avgpool2d_backward", "cuda")
def avgpool2d_backward(gy, x_shape, kh, kw, sh, sw, ph, pw, count_include_pad=True):
    """gx[p] = sum over the windows covering p of gy / divisor (a gather per input pixel)."""
    g = cl.pool_geometry("avg_pool2d_backward", x_shape, kh, kw, sh, sw, ph, pw)
    cl.check_array("avg_pool2d_backward", "grad_output", gy, FLOATS, shape=(g.N, g.C, g.OH, g.OW))
    gx = _cp().empty((g.N, g.C, g.H, g.W), dtype=gy.dtype)
    grid, block = cl.elementwise_grid(gx.size)
    args = (gy, gx) + _pool_ints(g) + _ints(bool(count_include_pad))
    _launch("pool.cu", f"avgpool_bwd_{_suffix(gy.dtype)}", grid, block, args)
    return gx


from . import cuda_conv  # noqa: E402,F401  (registers the conv2d kernels)
from .cuda_conv import conv_tf32_enabled, set_conv_tf32  # noqa: E402,F401  (re-exported next to set_conv_algorithm)
