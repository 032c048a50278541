"""Compile every raw CUDA source with nvcc and with NVRTC (what CuPy's RawModule uses at run
time, without host headers) for sm_80 and sm_90, so a kernel that does not build cannot land
even on machines without a GPU (each skipped when its compiler is absent; NVRTC comes from the
nvidia-cuda-nvrtc-cu12 wheel or a CUDA toolkit). The TF32 tensor-core kernel (conv_tf32.cu)
includes <mma.h>: NVRTC gets the CUDA include directory, as kernels/cuda.py passes it, and
the kernel must refuse to build for a pre-Ampere architecture."""
import ctypes
import ctypes.util
import glob
import os
import re
import shutil
import subprocess
import sys

import pytest

from tinygrad_img.kernels import cuda, cuda_launch

SOURCE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "kernels", "cuda")
SOURCES = sorted(f for f in os.listdir(SOURCE_DIR) if f.endswith(".cu"))
ENTRY_POINTS = {
    "im2col.cu": {"im2col_f32", "im2col_f64", "col2im_f32", "col2im_f64"},
    "pool.cu": {f"{k}pool_{d}_{t}" for k in ("max", "avg") for d in ("fwd", "bwd") for t in ("f32", "f64")},
    "conv.cu": {f"conv2d_{p}_implicit_{t}" for p in ("fwd", "bwd_data", "bwd_weight") for t in (64, 128)},
    "conv_tf32.cu": {"conv2d_fwd_tf32"},
}
NVCC = shutil.which("nvcc") or ("/usr/local/bin/nvcc" if os.path.exists("/usr/local/bin/nvcc") else None)
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc (CUDA toolkit) is not installed")


def _nvcc(args):
    proc = subprocess.run([NVCC, *args], capture_output=True, text=True)
    assert proc.returncode == 0, f"nvcc {' '.join(args)} failed:\n{proc.stderr}"
    return proc


def test_every_source_is_known():
    assert set(SOURCES) == set(ENTRY_POINTS)


@needs_nvcc
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
@pytest.mark.parametrize("source", SOURCES)
def test_compiles_to_cubin_without_warnings(source, arch, tmp_path):
    # The same options NVRTC gets at run time (cuda_launch.nvrtc_options), plus warnings as errors.
    std, arch_opt = cuda_launch.nvrtc_options(arch[3:])
    assert arch_opt == f"-arch={arch}"
    out = tmp_path / (source + ".cubin")
    _nvcc([arch_opt, std, "-cubin", "-Werror", "all-warnings", "-o", str(out), os.path.join(SOURCE_DIR, source)])
    assert out.stat().st_size > 0


@needs_nvcc
@pytest.mark.parametrize("source", SOURCES)
def test_exports_unmangled_entry_points(source, tmp_path):
    out = tmp_path / (source + ".ptx")
    _nvcc(["-arch=sm_80", "--std=c++17", "-ptx", "-o", str(out), os.path.join(SOURCE_DIR, source)])
    entries = set(re.findall(r"\.entry\s+(\w+)", out.read_text()))
    assert entries == ENTRY_POINTS[source]


@needs_nvcc
def test_tf32_kernel_refuses_pre_ampere(tmp_path):
    src = os.path.join(SOURCE_DIR, "conv_tf32.cu")
    proc = subprocess.run([NVCC, "-arch=sm_75", "--std=c++17", "-cubin", "-o", str(tmp_path / "t.cubin"), src],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "compile for sm_80 or newer" in proc.stderr


def _load_nvrtc():
    candidates = [ctypes.util.find_library("nvrtc")]
    for base in sys.path + ["/usr/local/cuda/lib64"] + glob.glob("/usr/local/cuda-*/lib64"):
        candidates += glob.glob(os.path.join(base, "libnvrtc.so*"))
        candidates += glob.glob(os.path.join(base, "nvidia", "cuda_nvrtc", "lib", "libnvrtc.so*"))
    for path in candidates:
        if path and "builtins" not in path and ".alt." not in path:
            try:
                return ctypes.CDLL(path)
            except OSError:
                continue
    return None


NVRTC = _load_nvrtc()


def _nvrtc_compile(source_text, options):
    """(status, log, cubin size) of compiling ``source_text`` with NVRTC."""
    prog = ctypes.c_void_p()
    assert NVRTC.nvrtcCreateProgram(ctypes.byref(prog), source_text.encode(), b"kernel.cu", 0, None, None) == 0
    try:
        opts = (ctypes.c_char_p * len(options))(*[o.encode() for o in options])
        status = NVRTC.nvrtcCompileProgram(prog, len(options), opts)
        size = ctypes.c_size_t()
        NVRTC.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        NVRTC.nvrtcGetProgramLog(prog, log)
        cubin = ctypes.c_size_t(0)
        if status == 0:
            NVRTC.nvrtcGetCUBINSize(prog, ctypes.byref(cubin))
        return status, log.value.decode(errors="replace"), cubin.value
    finally:
        NVRTC.nvrtcDestroyProgram(ctypes.byref(prog))


@pytest.mark.skipif(NVRTC is None, reason="libnvrtc not found (pip install nvidia-cuda-nvrtc-cu12)")
@pytest.mark.parametrize("cc", ["80", "90"])
@pytest.mark.parametrize("source", SOURCES)
def test_compiles_with_nvrtc_and_the_runtime_options(source, cc):
    with open(os.path.join(SOURCE_DIR, source), encoding="utf-8") as f:
        text = f.read()
    options = list(cuda_launch.nvrtc_options(cc))
    if source in cuda.WMMA_SOURCES:
        if cuda_launch.cuda_include_dir() is None:
            pytest.skip("no CUDA include directory with mma.h (set CUDA_PATH)")
        options += list(cuda._source_options(source))
    status, log, cubin = _nvrtc_compile(text, options)
    assert status == 0, f"NVRTC failed on {source} for sm_{cc}:\n{log}"
    assert "warning" not in log.lower(), log
    assert cubin > 0
