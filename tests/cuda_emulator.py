"""Run the raw CUDA kernels on the CPU, for tests on machines without a GPU.

``kernels/cuda/*.cu`` is compiled as C++ with a small prelude that maps the CUDA
built-ins to host code: ``__shared__`` becomes ``static`` (blocks run one after
another), ``threadIdx``/``blockIdx`` are thread-locals and ``__syncthreads()`` is a
``std::barrier`` across one OS thread per CUDA thread of the block. A stand-in for
the few CuPy calls ``kernels/cuda.py`` makes (``empty``, ``matmul``, ``RawModule``,
``cuda.Device``...) backed by NumPy then runs the real wrappers end to end, so
launch geometry, argument order, split-K and the kernels' index math are checked
here; only GPU-specific behaviour (memory model, speed) is not.

The tensor-core kernels include ``<mma.h>``; ``WMMA_MOCK`` (written as ``mma.h`` into
:func:`include_dir`) stands in for ``nvcuda::wmma``: every thread holds a whole fragment
and computes a whole ``mma_sync`` redundantly (so a warp's 32 threads agree and
``store_matrix_sync`` writes the same values from each), and ``__float_to_tf32``
rounds like ``cvt.rna.tf32.f32`` (nearest, ties away from zero, 10 mantissa bits kept).
The hardware's fragment layout across lanes is not modelled.
"""
import ctypes
import hashlib
import os
import shutil
import subprocess
import threading
import types

import numpy as np

PRELUDE = r"""
#include <algorithm>
#include <barrier>
#include <cmath>
#include <memory>
struct EmuDim { unsigned x, y, z; };
inline thread_local EmuDim threadIdx, blockIdx, blockDim, gridDim;
inline std::unique_ptr<std::barrier<>> emu_barrier;
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
using std::max;
using std::min;
inline void __syncthreads() { emu_barrier->arrive_and_wait(); }
extern "C" void emu_setup(int nthreads) { emu_barrier = std::make_unique<std::barrier<>>(nthreads); }
extern "C" void emu_sync() { emu_barrier->arrive_and_wait(); }
extern "C" void emu_set(unsigned tx, unsigned nt, unsigned bx, unsigned by, unsigned bz,
                        unsigned gx, unsigned gy, unsigned gz) {
    threadIdx = {tx, 0, 0}; blockDim = {nt, 1, 1};
    blockIdx = {bx, by, bz}; gridDim = {gx, gy, gz};
}
"""

WMMA_MOCK = r"""
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
namespace nvcuda { namespace wmma {
struct matrix_a {}; struct matrix_b {}; struct accumulator {};
struct row_major {}; struct col_major {};
namespace precision { struct tf32 {}; }
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K> struct dims;
template <int M, int N, int K> struct dims<matrix_a, M, N, K> { static constexpr int rows = M, cols = K; };
template <int M, int N, int K> struct dims<matrix_b, M, N, K> { static constexpr int rows = K, cols = N; };
template <int M, int N, int K> struct dims<accumulator, M, N, K> { static constexpr int rows = M, cols = N; };

template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment {  // the whole rows x cols tile, row-major, in every thread
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, precision::tf32>, "mock: float/tf32 only");
    static constexpr int rows = dims<Use, M, N, K>::rows, cols = dims<Use, M, N, K>::cols;
    static constexpr int num_elements = rows * cols;
    float x[num_elements];
};

inline float __float_to_tf32(float f) {  // cvt.rna.tf32.f32; NaN and inf pass through
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u;
    std::memcpy(&f, &u, 4);
    return f;
}

template <class Use, int M, int N, int K, class T, class L>
void fill_fragment(fragment<Use, M, N, K, T, L>& f, float v) {
    for (int i = 0; i < f.num_elements; ++i) f.x[i] = v;
}

template <class F>
void load_tile(F& f, const float* p, unsigned ldm, bool row) {
    for (int r = 0; r < F::rows; ++r)
        for (int c = 0; c < F::cols; ++c) f.x[r * F::cols + c] = row ? p[r * ldm + c] : p[c * ldm + r];
}

template <class Use, int M, int N, int K, class T, class L>
void load_matrix_sync(fragment<Use, M, N, K, T, L>& f, const float* p, unsigned ldm) {
    static_assert(std::is_same_v<L, row_major> || std::is_same_v<L, col_major>, "mock: a/b need a layout");
    load_tile(f, p, ldm, std::is_same_v<L, row_major>);
}

template <int M, int N, int K>
void load_matrix_sync(fragment<accumulator, M, N, K, float>& f, const float* p, unsigned ldm, layout_t l) {
    load_tile(f, p, ldm, l == mem_row_major);
}

template <int M, int N, int K>
void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f, unsigned ldm, layout_t l) {
    for (int r = 0; r < M; ++r)
        for (int c = 0; c < N; ++c) (l == mem_row_major ? p[r * ldm + c] : p[c * ldm + r]) = f.x[r * N + c];
}

template <int M, int N, int K, class T, class LA, class LB>
void mma_sync(fragment<accumulator, M, N, K, float>& d, const fragment<matrix_a, M, N, K, T, LA>& a,
              const fragment<matrix_b, M, N, K, T, LB>& b, const fragment<accumulator, M, N, K, float>& c) {
    float out[M * N];
    for (int i = 0; i < M; ++i)
        for (int j = 0; j < N; ++j) {
            float acc = c.x[i * N + j];
            for (int k = 0; k < K; ++k) acc = std::fma(a.x[i * K + k], b.x[k * N + j], acc);
            out[i * N + j] = acc;
        }
    std::memcpy(d.x, out, sizeof(out));
}
} }  // namespace nvcuda::wmma
"""


def include_dir(workdir):
    """A directory holding the ``mma.h`` mock (created on first use): the emulator's CUDA include path."""
    path = os.path.join(workdir, "emu_include")
    os.makedirs(path, exist_ok=True)
    header = os.path.join(path, "mma.h")
    if not os.path.exists(header):
        with open(header, "w", encoding="utf-8") as f:
            f.write(WMMA_MOCK)
    return path


def compiler():
    """The C++ compiler used for emulation, or None."""
    return shutil.which("g++")


def build(code, workdir, options=()):
    """Compile CUDA source ``code`` for the host with the ``-I`` of the NVRTC ``options`` (other
    options are for the device and ignored); returns the loaded library (cached by hash)."""
    includes = [o for o in options if o.startswith("-I")]
    digest = hashlib.sha1("\n".join([PRELUDE, WMMA_MOCK, code] + includes).encode()).hexdigest()[:16]
    lib_path = os.path.join(workdir, f"emu_{digest}.so")
    if not os.path.exists(lib_path):
        src = os.path.join(workdir, f"emu_{digest}.cpp")
        with open(src, "w", encoding="utf-8") as f:
            f.write(PRELUDE + "\n" + code)
        subprocess.run([compiler(), "-std=c++20", "-O1", "-shared", "-fPIC", "-Wno-unknown-pragmas", *includes,
                        src, "-o", lib_path, "-lpthread"], check=True, capture_output=True, text=True)
    return ctypes.CDLL(lib_path)


def _c_arg(a):
    if isinstance(a, np.ndarray):
        return ctypes.c_void_p(a.ctypes.data)
    if isinstance(a, np.int32):
        return ctypes.c_int(int(a))
    if isinstance(a, np.int64):
        return ctypes.c_longlong(int(a))
    if isinstance(a, np.float32):
        return ctypes.c_float(float(a))
    raise TypeError(f"emulator: unsupported kernel argument {type(a).__name__}")


class EmuFunction:
    """A kernel of an emulated module, called like ``cupy.RawKernel``: ``f(grid, block, args)``."""
    def __init__(self, lib, name):
        self.lib, self.name = lib, name
        self.fn = getattr(lib, name)
        self.fn.restype = None
        self.launches = []

    def __call__(self, grid, block, args):
        grid = tuple(grid) + (1,) * (3 - len(grid))
        nt = int(block[0])
        assert tuple(block[1:]) in ((), (1,), (1, 1)), "emulator supports 1-D blocks only"
        self.launches.append((grid, (nt,)))
        cargs = [_c_arg(a) for a in args]
        self.lib.emu_setup(nt)
        errors = []

        def worker(tid):
            try:
                for bz in range(grid[2]):
                    for by in range(grid[1]):
                        for bx in range(grid[0]):
                            self.lib.emu_set(tid, nt, bx, by, bz, *grid)
                            self.fn(*cargs)
                            self.lib.emu_sync()
            except Exception as e:  # surfaced below; a dead thread would hang the barrier
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(nt)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]


class _Module:
    def __init__(self, code, options, workdir):
        self.options = options
        self.lib = build(code, workdir, options)

    def get_function(self, name):
        return EmuFunction(self.lib, name)


class _Device:
    def __init__(self, device_id=0):
        self.id = device_id
        self.compute_capability = "90"
        self.attributes = {"MultiProcessorCount": 4}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def fake_cupy(workdir):
    """A NumPy-backed stand-in for the parts of CuPy that ``kernels/cuda.py`` uses."""
    cuda = types.SimpleNamespace(Device=_Device, nvrtc=types.SimpleNamespace(getSupportedArchs=lambda: (80, 90)))
    return types.SimpleNamespace(
        empty=np.empty, zeros=np.zeros, matmul=np.matmul, maximum=np.maximum, ascontiguousarray=np.ascontiguousarray,
        cuda=cuda, RawModule=lambda code, options: _Module(code, options, workdir))
