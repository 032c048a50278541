"""Run the raw CUDA kernels on the CPU, for tests on machines without a GPU.

``kernels/cuda/*.cu`` is compiled as C++ with a small prelude that maps the CUDA
built-ins to host code: ``__shared__`` becomes ``static`` (blocks run one after
another), ``threadIdx``/``blockIdx`` are thread-locals and ``__syncthreads()`` is a
``std::barrier`` across one OS thread per CUDA thread of the block. A stand-in for
the few CuPy calls ``kernels/cuda.py`` makes (``empty``, ``matmul``, ``RawModule``,
``cuda.Device``...) backed by NumPy then runs the real wrappers end to end, so
launch geometry, argument order, split-K and the kernels' index math are checked
here; only GPU-specific behaviour (memory model, speed) is not.
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


def compiler():
    """The C++ compiler used for emulation, or None."""
    return shutil.which("g++")


def build(code, workdir):
    """Compile CUDA source ``code`` for the host; returns the loaded library (cached by hash)."""
    digest = hashlib.sha1((PRELUDE + code).encode()).hexdigest()[:16]
    lib_path = os.path.join(workdir, f"emu_{digest}.so")
    if not os.path.exists(lib_path):
        src = os.path.join(workdir, f"emu_{digest}.cpp")
        with open(src, "w", encoding="utf-8") as f:
            f.write(PRELUDE + "\n" + code)
        subprocess.run([compiler(), "-std=c++20", "-O1", "-shared", "-fPIC", "-Wno-unknown-pragmas",
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
        self.lib = build(code, workdir)

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
        empty=np.empty, matmul=np.matmul, maximum=np.maximum, ascontiguousarray=np.ascontiguousarray,
        cuda=cuda, RawModule=lambda code, options: _Module(code, options, workdir))
