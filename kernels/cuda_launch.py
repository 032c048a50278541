"""Launch geometry, argument checks and the autotune cache of the CUDA kernels.

Pure Python (no CuPy), so it is importable and tested on any machine;
``kernels/cuda.py`` builds on it. The kernel sources are ``kernels/cuda/*.cu``.
"""
import math
import os
from collections import namedtuple

import numpy as np

from .geometry import out_size, pair

THREADS = 256            # threads per block of every kernel
MAX_BLOCKS = 65535 * 8   # grid-stride kernels never need more blocks than this
CONV_TILES = (64, 128)   # square output tiles of the implicit-GEMM conv kernels (kernels/cuda/conv.cu)
TILE_K = 16              # split-K chunks are multiples of this (and of every kernel's K step)
INT32_MAX = 2 ** 31 - 1
CONV_ALGORITHMS = ("auto", "implicit", "implicit_64", "implicit_128", "implicit_tf32", "im2col")
TF32_MIN_CC = 80         # TF32 tensor cores (kernels/cuda/conv_tf32.cu): Ampere (sm_80) and newer
TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")

ConvGeometry = namedtuple("ConvGeometry", "N C H W O KH KW SH SW PH PW DH DW OH OW G")
PoolGeometry = namedtuple("PoolGeometry", "N C H W OH OW KH KW SH SW PH PW")


def check_array(op, name, arr, dtypes, ndim=None, shape=None):
    """Raise ValueError unless ``arr`` (NumPy or CuPy) has one of ``dtypes``, ``ndim`` dims,
    the given ``shape`` and C-contiguous memory: the kernels assume all of these."""
    if not hasattr(arr, "dtype") or not hasattr(arr, "flags"):
        raise ValueError(f"{op}: {name} must be an array, got {type(arr).__name__}")
    if arr.dtype not in [np.dtype(d) for d in dtypes]:
        allowed = " or ".join(np.dtype(d).name for d in dtypes)
        raise ValueError(f"{op}: {name} must be {allowed}, got {arr.dtype} (shape {tuple(arr.shape)})")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{op}: {name} must have {ndim} dims, got shape {tuple(arr.shape)}")
    if shape is not None and tuple(arr.shape) != tuple(shape):
        raise ValueError(f"{op}: {name} has shape {tuple(arr.shape)}, expected {tuple(shape)}")
    if not arr.flags.c_contiguous:
        raise ValueError(f"{op}: {name} of shape {tuple(arr.shape)} must be C-contiguous "
                         "(pass xp.ascontiguousarray(...))")


def check_int32(op, **sizes):
    """The conv kernels index with 32-bit ints: every tensor must hold fewer than 2**31 elements."""
    for name, size in sizes.items():
        if size > INT32_MAX:
            raise ValueError(f"{op}: {name} has {size} elements; the CUDA kernel indexes with 32-bit "
                             f"ints (limit {INT32_MAX}); split the batch")


def conv_geometry(op, x_shape, w_shape, stride, padding, dilation, groups):
    """Validate a convolution and return its :class:`ConvGeometry` (OIHW weight, NCHW input)."""
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W) and a 4-D weight (O, C/groups, kH, kW), "
                         f"got shapes {tuple(x_shape)} and {tuple(w_shape)}")
    sh, sw = pair(stride, "stride", op, 1)
    ph, pw = pair(padding, "padding", op, 0)
    dh, dw = pair(dilation, "dilation", op, 1)
    N, C, H, W = (int(v) for v in x_shape)
    O, Cg, KH, KW = (int(v) for v in w_shape)
    G = int(groups)
    if G < 1 or C % G or O % G:
        raise ValueError(f"{op}: groups={groups} must divide input channels {C} and output channels {O}")
    if Cg * G != C:
        raise ValueError(f"{op}: input has {C} channels but weight expects {Cg * G} "
                         f"(weight shape {tuple(w_shape)}, groups={G})")
    if min(KH, KW) < 1 or min(N, C, O) < 0:
        raise ValueError(f"{op}: kernel {KH}x{KW}, batch {N} and channels {C}/{O} must be positive (the "
                         f"batch and channels may be 0), got shapes {tuple(x_shape)} and {tuple(w_shape)}")
    OH, OW = out_size(H, KH, sh, ph, dh), out_size(W, KW, sw, pw, dw)
    if OH < 1 or OW < 1:
        raise ValueError(f"{op}: kernel {KH}x{KW} (dilation {dh},{dw}) does not fit input {H}x{W} "
                         f"with padding {ph},{pw}: output would be {OH}x{OW}")
    return ConvGeometry(N, C, H, W, O, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW, G)


def pool_geometry(op, x_shape, kh, kw, sh, sw, ph, pw):
    """Validate a pooling window and return its :class:`PoolGeometry`.

    Padding may be at most half the window (PyTorch's rule), so every window
    holds at least one real pixel.
    """
    if len(x_shape) != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got shape {tuple(x_shape)}")
    kh, kw = pair((kh, kw), "kernel_size", op, 1)
    sh, sw = pair((sh, sw), "stride", op, 1)
    ph, pw = pair((ph, pw), "padding", op, 0)
    if 2 * ph > kh or 2 * pw > kw:
        raise ValueError(f"{op}: padding ({ph}, {pw}) must be at most half the kernel size ({kh}, {kw})")
    N, C, H, W = (int(v) for v in x_shape)
    OH, OW = out_size(H, kh, sh, ph), out_size(W, kw, sw, pw)
    if OH < 1 or OW < 1:
        raise ValueError(f"{op}: window {kh}x{kw} does not fit input {H}x{W} with padding {ph},{pw}")
    return PoolGeometry(N, C, H, W, OH, OW, kh, kw, sh, sw, ph, pw)


def elementwise_grid(total, threads=THREADS, max_blocks=MAX_BLOCKS):
    """(grid, block) of a grid-stride kernel with one logical thread per element."""
    blocks = max(1, min(max_blocks, math.ceil(total / threads)))
    return (blocks, 1, 1), (threads, 1, 1)


def gemm_grid(m, n, depth=1, tile=64):
    """(grid, block) of an implicit-GEMM kernel: one block per ``tile`` x ``tile`` tile of the
    (m, n) product, ``depth`` along z (groups, times split-K chunks for backward-weight)."""
    if tile not in CONV_TILES:
        raise ValueError(f"conv2d: no kernel with tile {tile}; tiles are {CONV_TILES}")
    if depth > 65535:
        raise ValueError(f"conv2d: {depth} groups x split-K chunks exceed the CUDA grid limit 65535")
    if math.ceil(m / tile) > 65535:
        raise ValueError(f"conv2d: {m} rows per group need {math.ceil(m / tile)} tiles of {tile}, more than "
                         f"the CUDA grid limit 65535 in y")
    if m <= 0 or n <= 0:
        raise ValueError(f"conv2d: an empty ({m} x {n}) product has nothing to launch")
    return (math.ceil(n / tile), math.ceil(m / tile), depth), (THREADS, 1, 1)


def default_tile(m):
    """The tile "implicit" uses without autotuning: 128 when the product has >= 96 rows."""
    return 128 if m >= 96 else 64


def split_k(k, tiles, sm_count, waves=2, min_tiles_per_chunk=4):
    """(splits, k_chunk) for a product with ``tiles`` output tiles and a long reduction of
    length ``k``: enough chunks to give ``sm_count`` multiprocessors ``waves`` blocks each,
    every chunk a multiple of TILE_K and at least ``min_tiles_per_chunk`` K-steps long."""
    k_steps = max(1, math.ceil(k / TILE_K))
    wanted = max(1, math.ceil(waves * sm_count / max(1, tiles)))
    splits = max(1, min(wanted, k_steps // min_tiles_per_chunk))
    chunk = math.ceil(k_steps / splits) * TILE_K
    return math.ceil(k / chunk), chunk


def nvrtc_options(compute_capability, supported_archs=None):
    """NVRTC options for a device of ``compute_capability`` ("90" or (9, 0)).

    Compiles real SASS for the device (``-arch=sm_XY``); when this NVRTC is older than
    the device, targets its newest virtual architecture instead (PTX the driver JITs).
    """
    cc = cc_int(compute_capability)
    arch = f"-arch=sm_{cc}"
    if supported_archs:
        usable = [a for a in supported_archs if a <= cc]
        if not usable:
            raise ValueError(f"NVRTC supports architectures {sorted(supported_archs)}, none usable "
                             f"for a device of compute capability {cc}")
        if max(usable) != cc:
            arch = f"-arch=compute_{max(usable)}"
    return ("--std=c++17", arch)


def conv_algorithm_setting():
    """The forced conv algorithm: env TINYGRAD_IMG_CONV_ALGO, one of CONV_ALGORITHMS ("auto" by default)."""
    mode = os.environ.get("TINYGRAD_IMG_CONV_ALGO", "auto").strip().lower() or "auto"
    if mode not in CONV_ALGORITHMS:
        raise ValueError(f"TINYGRAD_IMG_CONV_ALGO must be one of {CONV_ALGORITHMS}, got {mode!r}")
    return mode


def conv_tf32_setting():
    """Whether env TINYGRAD_IMG_CONV_TF32 turns the TF32 tensor-core conv forward on ("1", "true",
    "yes", "on"; off when unset, "", "0", "false", "no" or "off")."""
    value = os.environ.get("TINYGRAD_IMG_CONV_TF32", "").strip().lower()
    if value not in TRUE_WORDS + FALSE_WORDS:
        raise ValueError(f"TINYGRAD_IMG_CONV_TF32 must be one of {TRUE_WORDS + FALSE_WORDS[1:]}, got {value!r}")
    return value in TRUE_WORDS


def cc_int(cc):
    """A compute capability ("90", 90 or (9, 0)) as an int, e.g. 90."""
    if isinstance(cc, (tuple, list)):
        return int(cc[0]) * 10 + int(cc[1])
    return int(cc)


def header_cuda_version(include):
    """(major, minor) from ``#define CUDA_VERSION 12040`` in ``include``/cuda.h, or None."""
    try:
        with open(os.path.join(include, "cuda.h"), encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[:2] == ["#define", "CUDA_VERSION"] and parts[2].isdigit():
                    v = int(parts[2])
                    return v // 1000, v % 1000 // 10
    except OSError:
        pass
    return None


def cuda_include_dir(candidates=None, version=None):
    """A directory holding the CUDA ``mma.h`` (NVRTC needs it on its include path for the wmma
    kernels) among ``candidates``, by default $CUDA_PATH, $CUDA_HOME, /usr/local/cuda and the
    nvidia-cuda-runtime wheel's ``include``; None when there is none. With ``version`` (NVRTC's
    (major, minor)) headers of that version are preferred, then of the same major version (the
    headers must suit the compiler that reads them), else the first one found."""
    if candidates is None:
        roots = [os.environ.get("CUDA_PATH"), os.environ.get("CUDA_HOME"), "/usr/local/cuda"]
        candidates = [os.path.join(r, "include") for r in roots if r]
        try:
            import nvidia.cuda_runtime as rt
            candidates += [os.path.join(p, "include") for p in rt.__path__]
        except ImportError:
            pass
    found = [d for d in candidates if os.path.isfile(os.path.join(d, "mma.h"))]
    if version is not None:
        versions = {d: header_cuda_version(d) for d in found}
        for same in (lambda v: v == tuple(version), lambda v: v is not None and v[0] == version[0]):
            match = [d for d in found if same(versions[d])]
            if match:
                return match[0]
    return found[0] if found else None


class AutotuneCache:
    """Remembers, per problem key, which of several equivalent implementations is fastest.

    ``choose(key, candidates, timer)`` times every candidate (a dict name -> zero-argument
    callable) with ``timer(fn) -> seconds`` the first time a key is seen, and returns the
    name of the fastest; later calls return the remembered name without timing.
    ``forced`` (a candidate name) short-cuts the choice, e.g. to benchmark one algorithm.
    """
    def __init__(self):
        self.choices = {}
        self.timings = {}

    def choose(self, key, candidates, timer, forced=None):
        if forced is not None and forced != "auto":
            if forced not in candidates:
                raise ValueError(f"autotune: unknown algorithm {forced!r}; expected one of {sorted(candidates)}")
            return forced
        name = self.choices.get(key)
        if name is None or name not in candidates:
            times = {n: float(timer(fn)) for n, fn in candidates.items()}
            name = min(times, key=times.get)
            self.timings[key] = times
            self.choices[key] = name
        return name

    def clear(self):
        self.choices.clear()
        self.timings.clear()
