"""CPU tests of the opt-in TF32 tensor-core conv2d forward (kernels/cuda/conv_tf32.cu): the
flag, the autotune candidates, the emulator's ``__float_to_tf32`` against NumPy references,
its wmma mock against NumPy, and the kernel run through the real wrapper in the C++ emulator
(tests/cuda_emulator.py) against the float64 oracle and a NumPy emulation of TF32."""
import contextlib

import numpy as np
import pytest

import cuda_emulator as emu
from conv_oracle import conv_reference
import test_cuda_launch
from tinygrad_img.kernels import cuda, cuda_conv, cuda_launch as cl

gpu = test_cuda_launch.gpu  # the emulator fixture: kernels.cuda with CuPy replaced by the C++ emulator


def tf32_round(a):
    """NumPy bit-manipulation reference of cvt.rna.tf32.f32: add half of the 13 dropped mantissa
    bits to the magnitude (ties away from zero) and clear them; NaN and inf unchanged."""
    u = np.ascontiguousarray(a, np.float32).view(np.uint32).copy()
    finite = (u & 0x7F800000) != 0x7F800000
    u[finite] = (u[finite] + np.uint32(0x1000)) & np.uint32(0xFFFFE000)
    return u.view(np.float32)


def check_tf32_conv(y, x, w, b, stride, padding, dilation, groups, relu, acc_ulps=1.0):
    """Assert that ``y`` is the TF32 conv2d: within (2^-10 + FP32 accumulation) sum|w||x| of the
    float64 result, and within ``acc_ulps`` times the FP32 accumulation error bound of the float64
    conv of the TF32-rounded operands (so the only difference is the order of FP32 additions)."""
    def conv(xx, ww, bb):
        out = conv_reference(xx, ww, None, stride, padding, dilation, groups)[0]
        out = out + (0.0 if bb is None else np.asarray(bb, np.float64).reshape(1, -1, 1, 1))
        return np.maximum(out, 0.0) if relu else out

    k = w[0].size
    bias_abs = 0.0 if b is None else np.abs(np.asarray(b, np.float64)).reshape(1, -1, 1, 1)
    abs_sum = conv_reference(np.abs(x), np.abs(w), None, stride, padding, dilation, groups)[0] + bias_abs
    err64 = np.abs(y - conv(x, w, b))
    bound = (2.0 ** -10 + acc_ulps * (k + 3) * 2.0 ** -24) * abs_sum + 1e-30
    assert np.all(err64 <= bound), float((err64 / (abs_sum + 1e-30)).max())
    xt, wt = tf32_round(x), tf32_round(w)
    abs_sum_t = conv_reference(np.abs(xt), np.abs(wt), None, stride, padding, dilation, groups)[0] + bias_abs
    tight = acc_ulps * (k + 2) * 2.0 ** -24 * abs_sum_t + 1e-30
    assert np.all(np.abs(y - conv(xt, wt, b)) <= tight)
    assert np.any(err64 > tight)  # the operands really were rounded to TF32


# ------------------------------------------------------------------ __float_to_tf32 and the wmma mock
@pytest.fixture(scope="module")
def mock_lib(tmp_path_factory):
    if emu.compiler() is None:
        pytest.skip("g++ is not installed: cannot emulate the CUDA kernels on the CPU")
    workdir = str(tmp_path_factory.mktemp("tf32"))
    code = r"""
#include <mma.h>
namespace wmma = nvcuda::wmma;
extern "C" __global__ void round_tf32(const float* x, float* y, int n) {
    for (int i = threadIdx.x; i < n; i += blockDim.x) y[i] = wmma::__float_to_tf32(x[i]);
}
// d (16 x 16, col-major, ld 20) = c + a b with a (16 x 8) row-major and b (8 x 16) col-major.
extern "C" __global__ void mma_tile(const float* a, const float* b, const float* c, float* d) {
    wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::col_major> fb;
    wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc;
    wmma::load_matrix_sync(fa, a, 8);
    wmma::load_matrix_sync(fb, b, 8);
    wmma::load_matrix_sync(acc, c, 16, wmma::mem_row_major);
    for (int i = 0; i < fa.num_elements; ++i) fa.x[i] = wmma::__float_to_tf32(fa.x[i]);
    for (int i = 0; i < fb.num_elements; ++i) fb.x[i] = wmma::__float_to_tf32(fb.x[i]);
    wmma::mma_sync(acc, fa, fb, acc);
    wmma::store_matrix_sync(d, acc, 20, wmma::mem_col_major);
}
"""
    return emu.build(code, workdir, ("-I" + emu.include_dir(workdir),))


def _special_floats():
    bits = [0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00001, 0x00000001, 0x80001000,
            0x00001000, 0x00001FFF, 0x007FFFFF, 0x3F800FFF, 0x3F801000, 0xBF801000, 0x3F803000,
            0x3F802FFF, 0x7F7FFFFF, 0x7F7FEFFF, 0xFF7FF000]
    return np.array(bits, np.uint32).view(np.float32)


def test_float_to_tf32_rounds_like_cvt_rna(mock_lib):
    rng = np.random.default_rng(0)
    x = np.concatenate([_special_floats(), rng.integers(0, 2 ** 32, 4000, dtype=np.uint64).astype(np.uint32)
                        .view(np.float32), rng.standard_normal(1000).astype(np.float32)])
    y = np.empty_like(x)
    emu.EmuFunction(mock_lib, "round_tf32")((1,), (4,), (x, y, np.int32(x.size)))
    ref = tf32_round(x)
    nan = np.isnan(x)
    assert np.array_equal(np.isnan(y), nan)
    np.testing.assert_array_equal(y[~nan].view(np.uint32), ref[~nan].view(np.uint32))
    # an independent float64 reference: the nearest multiple of 2^(exponent - 10), ties away from 0
    finite = np.isfinite(x)
    a = np.abs(x[finite].astype(np.float64))
    ulp = np.exp2(np.maximum(np.frexp(a)[1] - 1, -126) - 10.0)
    with np.errstate(over="ignore"):
        arith = (np.sign(x[finite]) * np.floor(a / ulp + 0.5) * ulp).astype(np.float32)
    np.testing.assert_array_equal(y[finite], arith)
    assert (y[:4].view(np.uint32) == [0, 0x80000000, 0x7F800000, 0xFF800000]).all()
    assert y[7] == np.float32(2.0 ** -136) and y[8] == y[7] and y[11] == np.float32(1 + 2.0 ** -10)
    assert y[12] == -y[11] and y[13] == np.float32(1 + 2.0 ** -9) and y[15] == np.inf and y[17] == -np.inf


def test_wmma_mock_matches_numpy(mock_lib):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((16, 8)).astype(np.float32)
    b_cm = rng.standard_normal((16, 8)).astype(np.float32)  # b (8 x 16) stored column-major
    c = rng.standard_normal((16, 16)).astype(np.float32)
    d = np.zeros((16, 20), np.float32)
    emu.EmuFunction(mock_lib, "mma_tile")((1,), (32,), (a, b_cm, c, d))
    want = c.astype(np.float64) + tf32_round(a).astype(np.float64) @ tf32_round(b_cm).T.astype(np.float64)
    np.testing.assert_allclose(d[:, :16].T, want, rtol=0, atol=1e-5)


# ------------------------------------------------------------------ the flag
def test_flag_is_off_by_default_and_env_parsing(monkeypatch):
    monkeypatch.delenv("TINYGRAD_IMG_CONV_TF32", raising=False)
    monkeypatch.setattr(cuda_conv, "_forced_tf32", None)
    assert not cl.conv_tf32_setting() and not cuda.conv_tf32_enabled()
    for value, on in (("1", True), (" TRUE ", True), ("on", True), ("yes", True), ("0", False), ("off", False),
                      ("", False), ("no", False)):
        monkeypatch.setenv("TINYGRAD_IMG_CONV_TF32", value)
        assert cl.conv_tf32_setting() is on and cuda.conv_tf32_enabled() is on
    monkeypatch.setenv("TINYGRAD_IMG_CONV_TF32", "maybe")
    with pytest.raises(ValueError, match="TINYGRAD_IMG_CONV_TF32 must be one of .* got 'maybe'"):
        cuda.conv_tf32_enabled()
    monkeypatch.setenv("TINYGRAD_IMG_CONV_TF32", "1")
    assert cuda.set_conv_tf32(False) is None and not cuda.conv_tf32_enabled()  # the override wins
    assert cuda.set_conv_tf32(None) is False and cuda.conv_tf32_enabled()
    with pytest.raises(TypeError, match="set_conv_tf32: enabled must be True, False or None, got 'on'"):
        cuda.set_conv_tf32("on")
    assert "implicit_tf32" in cl.CONV_ALGORITHMS and cuda.set_conv_tf32 is cuda_conv.set_conv_tf32


def test_cuda_include_dir_finds_mma_h(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "mma.h").write_text("")
    assert cl.cuda_include_dir([str(tmp_path / "a"), str(tmp_path / "b")]) == str(tmp_path / "b")
    assert cl.cuda_include_dir([str(tmp_path / "a")]) is None


def test_cuda_include_dir_prefers_headers_of_nvrtcs_version(tmp_path):
    dirs = {}
    for name, version in (("cuda13", 13000), ("plain", None), ("cuda12_2", 12020), ("cuda12_4", 12040)):
        d = tmp_path / name
        d.mkdir()
        (d / "mma.h").write_text("")
        if version is not None:
            (d / "cuda.h").write_text(f"/* header */\n#define CUDA_VERSION {version}\n")
        dirs[name] = str(d)
    order = [dirs[k] for k in ("cuda13", "plain", "cuda12_2", "cuda12_4")]
    assert cl.header_cuda_version(dirs["cuda12_4"]) == (12, 4) and cl.header_cuda_version(dirs["plain"]) is None
    assert cl.cuda_include_dir(order, version=(12, 4)) == dirs["cuda12_4"]   # exact version first
    assert cl.cuda_include_dir(order, version=(12, 8)) == dirs["cuda12_2"]   # then the same major version
    assert cl.cuda_include_dir(order, version=(11, 8)) == dirs["cuda13"]     # else the first found
    assert cl.cuda_include_dir(order) == dirs["cuda13"]


@contextlib.contextmanager
def _conv_settings(gpu, algorithm, tf32):
    """Force the conv algorithm and the TF32 flag inside the block, then restore both."""
    prev, prev_tf32 = gpu.set_conv_algorithm(algorithm), gpu.set_conv_tf32(tf32)
    try:
        yield
    finally:
        gpu.set_conv_algorithm(prev)
        gpu.set_conv_tf32(prev_tf32)


def _timed_candidates(gpu, monkeypatch, x, w, flag):
    """The algorithms the forward's autotuner times (a fake timer), and its cache key."""
    gpu.autotune.clear()
    monkeypatch.setattr(gpu, "time_gpu", lambda fn: 1.0)
    with _conv_settings(gpu, "auto", flag):
        cuda_conv.conv2d_forward(x, w, None, 1, 0, 1, 1)
    (key, times), = gpu.autotune.timings.items()
    return sorted(times), key


def test_tf32_is_a_candidate_only_when_on(gpu, monkeypatch):
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((1, 2, 6, 6)).astype(np.float32), rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    off, key_off = _timed_candidates(gpu, monkeypatch, x, w, False)
    on, key_on = _timed_candidates(gpu, monkeypatch, x, w, True)
    assert off == ["im2col", "implicit_128", "implicit_64"]
    assert on == ["im2col", "implicit_128", "implicit_64", "implicit_tf32"]
    assert key_off != key_on  # the flag is part of the autotune key
    class Turing(emu._Device):
        def __init__(self, device_id=0):
            super().__init__(device_id)
            self.compute_capability = "75"
    monkeypatch.setattr(emu, "_Device", Turing)
    cuda_conv._tf32_device_problem.cache_clear()  # the device check is cached per device
    try:
        pre_ampere, _ = _timed_candidates(gpu, monkeypatch, x, w, True)
    finally:
        cuda_conv._tf32_device_problem.cache_clear()
    assert pre_ampere == off


def test_tf32_device_check_runs_once_per_device(gpu, monkeypatch):
    calls = []
    monkeypatch.setattr(cl, "cuda_include_dir", lambda candidates=None, version=None: calls.append(1) or "/mock")
    cuda_conv._tf32_device_problem.cache_clear()
    prev = gpu.set_conv_tf32(True)
    try:
        assert [cuda_conv.tf32_unavailable() for _ in range(3)] == [None] * 3
    finally:
        gpu.set_conv_tf32(prev)
        cuda_conv._tf32_device_problem.cache_clear()
    assert calls == [1]


def test_tf32_without_mma_h_is_skipped_not_fatal(gpu, monkeypatch):
    """With the flag on but no CUDA headers for NVRTC, "auto" runs the FP32 kernels; forcing TF32 says why."""
    monkeypatch.setattr(cl, "cuda_include_dir", lambda candidates=None, version=None: None)
    cuda_conv._tf32_device_problem.cache_clear()
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((1, 2, 6, 6)).astype(np.float32), rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    assert _timed_candidates(gpu, monkeypatch, x, w, True)[0] == ["im2col", "implicit_128", "implicit_64"]
    try:
        with _conv_settings(gpu, "implicit_tf32", True), \
                pytest.raises(ValueError, match="'implicit_tf32' is forced but no CUDA include directory holds mma.h"):
            cuda_conv.conv2d_forward(x, w, None, 1, 0, 1, 1)
    finally:
        cuda_conv._tf32_device_problem.cache_clear()  # forget the patched answer


def test_forcing_tf32_needs_the_flag(gpu):
    x, w = np.ones((1, 2, 5, 5), np.float32), np.ones((3, 2, 3, 3), np.float32)
    with _conv_settings(gpu, "implicit_tf32", False):
        with pytest.raises(ValueError, match="conv2d: algorithm 'implicit_tf32' is forced but TF32 is off"):
            cuda_conv.conv2d_forward(x, w, None, 1, 0, 1, 1)
        gpu.set_conv_tf32(True)
        y64 = cuda_conv.conv2d_forward(x.astype(np.float64), w.astype(np.float64), None, 1, 0, 1, 1)
        gx = cuda_conv.conv2d_backward_data(np.ones((1, 3, 3, 3), np.float32), w, x.shape, 1, 0, 1, 1)
    assert y64.dtype == np.float64 and np.all(y64 == 18.0)  # float64 stays exact (im2col)
    assert gx.dtype == np.float32 and gx[0, 0, 2, 2] == 27.0  # backward: the FP32 "implicit" kernel


# ------------------------------------------------------------------ the kernel in the emulator
TF32_CASES = [  # N, C, H, W, O, kh, kw, stride, padding, dilation, groups, bias, relu
    (2, 3, 7, 6, 5, 3, 3, 1, 0, 1, 1, False, False),      # odd sizes
    (2, 2, 7, 7, 66, 3, 3, 1, 1, 1, 1, True, True),       # 2 x 2 blocks of 64 x 64
    (1, 4, 9, 8, 6, 3, 3, 2, 1, 1, 2, True, False),       # batch 1, stride 2, padding, groups 2
    (1, 6, 11, 10, 6, 2, 3, (1, 2), (1, 0), (2, 1), 3, True, True),  # dilation, groups 3
    (1, 8, 6, 5, 4, 3, 3, 1, 1, 1, 1, False, True),       # K = 72: five K steps, the last partial
]


@pytest.mark.parametrize("case", TF32_CASES)
def test_tf32_kernel_matches_oracle_and_tf32_emulation(gpu, case):
    rng = np.random.default_rng(3)
    n, c, h, w_, o, kh, kw, s, p, d, groups, has_bias, relu = case
    x = rng.standard_normal((n, c, h, w_)).astype(np.float32)
    w = rng.standard_normal((o, c // groups, kh, kw)).astype(np.float32)
    b = rng.standard_normal(o).astype(np.float32) if has_bias else None
    with _conv_settings(gpu, "implicit_tf32", True):
        y = cuda_conv.conv2d_forward(x, w, b, s, p, d, groups, relu=relu)
    assert y.dtype == np.float32 and y.shape == conv_reference(x, w, None, s, p, d, groups)[0].shape
    check_tf32_conv(y, x, w, b, s, p, d, groups, relu)


def test_tf32_launch_geometry(gpu):
    x, w = np.zeros((3, 2, 9, 9), np.float32), np.zeros((140, 1, 3, 3), np.float32)
    fn = gpu._function("conv_tf32.cu", "conv2d_fwd_tf32", 0)
    fn.launches.clear()
    with _conv_settings(gpu, "implicit_tf32", True):
        cuda_conv.conv2d_forward(x, w, None, 1, 0, 1, 2)
    assert fn.launches == [((3, 2, 2), (256,))]  # 3*7*7 = 147 columns, 70 rows per group, 2 groups


def test_tf32_wrapper_rejects_bad_arguments(gpu):
    x, w = np.zeros((1, 2, 6, 6), np.float32), np.zeros((4, 1, 3, 3), np.float32)
    with _conv_settings(gpu, "implicit_tf32", True):
        with pytest.raises(ValueError, match=r"conv2d: bias has shape \(3,\), expected \(4,\)"):
            cuda_conv.conv2d_forward(x, w, np.zeros(3, np.float32), 1, 0, 1, 2)
        with pytest.raises(ValueError, match="conv2d: weight must be float32, got float64"):
            cuda_conv.conv2d_forward(x, w.astype(np.float64), None, 1, 0, 1, 2)
        with pytest.raises(ValueError, match="input of shape .* must be C-contiguous"):
            cuda_conv.conv2d_forward(x.transpose(0, 1, 3, 2), w, None, 1, 0, 1, 2)
        with pytest.raises(ValueError, match="groups=3 must divide input channels 2"):
            cuda_conv.conv2d_forward(x, w, None, 1, 0, 1, 3)
