"""Compile every raw CUDA source with nvcc for sm_80 and sm_90, so a kernel that does not
build cannot land even on machines without a GPU (skipped when nvcc is absent)."""
import os
import re
import shutil
import subprocess

import pytest

from tinygrad_img.kernels import cuda_launch

SOURCE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "kernels", "cuda")
SOURCES = sorted(f for f in os.listdir(SOURCE_DIR) if f.endswith(".cu"))
ENTRY_POINTS = {
    "im2col.cu": {"im2col_f32", "im2col_f64", "col2im_f32", "col2im_f64"},
    "pool.cu": {f"{k}pool_{d}_{t}" for k in ("max", "avg") for d in ("fwd", "bwd") for t in ("f32", "f64")},
    "conv.cu": {"conv2d_fwd_implicit", "conv2d_bwd_data_implicit", "conv2d_bwd_weight_implicit"},
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
