"""CPU tests of the CUDA path: launch geometry, argument checks, NVRTC options, the autotune
cache, registration, and the kernels themselves run through the C++ emulator
(tests/cuda_emulator.py) against kernels/reference.py."""
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import cuda_emulator as emu
from conv_oracle import conv_reference
from tinygrad_img import kernels
from tinygrad_img.kernels import cuda, cuda_conv, cuda_launch as cl, reference, registry

CONTRACT = ("im2col", "col2im", "maxpool2d_forward", "maxpool2d_backward", "avgpool2d_forward",
            "avgpool2d_backward", "conv2d_forward", "conv2d_backward_data", "conv2d_backward_weight")


# ------------------------------------------------------------------ pure Python helpers
def test_conv_geometry_fields_and_errors():
    g = cl.conv_geometry("conv2d", (2, 6, 9, 8), (4, 3, 3, 2), (2, 1), 1, (1, 2), 2)
    assert g == cl.ConvGeometry(2, 6, 9, 8, 4, 3, 2, 2, 1, 1, 1, 1, 2, 5, 8, 2)
    with pytest.raises(ValueError, match=r"input has 3 channels but weight expects 1 \(weight shape \(32, 1, 3, 3\)"):
        cl.conv_geometry("conv2d", (1, 3, 8, 8), (32, 1, 3, 3), 1, 0, 1, 1)
    with pytest.raises(ValueError, match="groups=4 must divide"):
        cl.conv_geometry("conv2d", (1, 6, 8, 8), (6, 1, 3, 3), 1, 0, 1, 4)
    with pytest.raises(ValueError, match="does not fit input 2x2"):
        cl.conv_geometry("conv2d", (1, 1, 2, 2), (1, 1, 3, 3), 1, 0, 1, 1)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        cl.conv_geometry("conv2d", (1, 1, 8, 8), (1, 1, 3, 3), 0, 0, 1, 1)
    with pytest.raises(ValueError, match="padding must be an int or a pair"):
        cl.conv_geometry("conv2d", (1, 1, 8, 8), (1, 1, 3, 3), 1, (1, 2, 3), 1, 1)
    with pytest.raises(ValueError, match="4-D input"):
        cl.conv_geometry("conv2d", (1, 8, 8), (1, 1, 3, 3), 1, 0, 1, 1)


def test_pool_geometry_and_errors():
    assert cl.pool_geometry("max_pool2d", (64, 32, 26, 26), 2, 2, 2, 2, 0, 0)[4:6] == (13, 13)
    with pytest.raises(ValueError, match="at most half the kernel size"):
        cl.pool_geometry("max_pool2d", (1, 1, 8, 8), 2, 2, 2, 2, 2, 0)
    with pytest.raises(ValueError, match="does not fit input 1x8"):
        cl.pool_geometry("avg_pool2d", (1, 1, 1, 8), 2, 2, 2, 2, 0, 0)


def test_check_array_names_the_fault():
    x = np.zeros((2, 3, 4, 5), np.float32)
    cl.check_array("conv2d", "input", x, (np.float32,), ndim=4, shape=(2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"conv2d: input must be float32, got float16 \(shape \(2, 3, 4, 5\)\)"):
        cl.check_array("conv2d", "input", x.astype(np.float16), (np.float32,))
    with pytest.raises(ValueError, match="must have 4 dims"):
        cl.check_array("conv2d", "input", x[0], (np.float32,), ndim=4)
    with pytest.raises(ValueError, match=r"has shape \(2, 3, 4, 5\), expected \(2, 3, 5, 4\)"):
        cl.check_array("conv2d", "input", x, (np.float32,), shape=(2, 3, 5, 4))
    with pytest.raises(ValueError, match="must be C-contiguous"):
        cl.check_array("conv2d", "input", x.transpose(0, 1, 3, 2), (np.float32,))
    with pytest.raises(ValueError, match="must be an array, got list"):
        cl.check_array("conv2d", "input", [1.0], (np.float32,))
    with pytest.raises(ValueError, match="32-bit"):
        cl.check_int32("conv2d", input=2 ** 31)


def test_elementwise_and_gemm_grids():
    assert cl.elementwise_grid(1) == ((1, 1, 1), (256, 1, 1))
    assert cl.elementwise_grid(257) == ((2, 1, 1), (256, 1, 1))
    assert cl.elementwise_grid(10 ** 12)[0][0] == cl.MAX_BLOCKS
    assert cl.gemm_grid(32, 64 * 676, 1) == ((676, 1, 1), (256, 1, 1))
    assert cl.gemm_grid(65, 65, 3) == ((2, 2, 3), (256, 1, 1))
    assert cl.gemm_grid(130, 64 * 676, 2, tile=128) == ((338, 2, 2), (256, 1, 1))
    with pytest.raises(ValueError, match="grid limit"):
        cl.gemm_grid(1, 1, 70000)
    with pytest.raises(ValueError, match="no kernel with tile 32"):
        cl.gemm_grid(1, 1, 1, tile=32)
    assert (cl.default_tile(64), cl.default_tile(128)) == (64, 128)


def test_gemm_grid_rejects_empty_and_too_tall_products():
    with pytest.raises(ValueError, match="empty"):
        cl.gemm_grid(0, 64, 1)
    with pytest.raises(ValueError, match="more than the CUDA grid limit 65535 in y"):
        cl.gemm_grid(64 * 65536, 64, 1)


@pytest.mark.parametrize("algo", ["auto", "implicit", "im2col"])
def test_empty_convolutions_launch_nothing_and_return_zeros(gpu, algo):
    """A zero-sized grid is an invalid CUDA launch: empty batches and channel-less weights return
    zeros (the bias, ReLU'd, for the forward) without reaching a kernel."""
    rng = np.random.default_rng(0)
    w, b = _rand(rng, (3, 2, 3, 3)), _rand(rng, (3,))
    prev = gpu.set_conv_algorithm(algo)
    try:
        y = cuda_conv.conv2d_forward(np.zeros((0, 2, 5, 5), np.float32), w, b, 1, 0, 1, 1, relu=True)
        y_noch = cuda_conv.conv2d_forward(np.zeros((2, 0, 5, 5), np.float32), np.zeros((3, 0, 3, 3), np.float32),
                                          b, 1, 0, 1, 1, relu=True)
        gx = cuda_conv.conv2d_backward_data(np.zeros((0, 3, 3, 3), np.float32), w, (0, 2, 5, 5), 1, 0, 1, 1)
        gw = cuda_conv.conv2d_backward_weight(np.zeros((0, 3, 3, 3), np.float32), np.zeros((0, 2, 5, 5), np.float32),
                                              w.shape, 1, 0, 1, 1)
    finally:
        gpu.set_conv_algorithm(prev)
    assert y.shape == (0, 3, 3, 3) and gx.shape == (0, 2, 5, 5)
    np.testing.assert_array_equal(y_noch, np.broadcast_to(np.maximum(b, 0).reshape(1, 3, 1, 1), (2, 3, 3, 3)))
    assert gw.shape == w.shape and not gw.any()


@settings(max_examples=60, deadline=None)
@given(k=st.integers(1, 10 ** 6), tiles=st.integers(1, 500), sms=st.integers(1, 200))
def test_split_k_covers_the_reduction_exactly(k, tiles, sms):
    splits, chunk = cl.split_k(k, tiles, sms)
    assert splits >= 1 and chunk % cl.TILE_K == 0
    assert (splits - 1) * chunk < k <= splits * chunk  # every chunk non-empty, all of k covered
    assert splits == 1 or chunk >= 4 * cl.TILE_K


def test_split_k_fills_the_device_for_few_tiles():
    splits, _ = cl.split_k(32 * 56 * 56, tiles=9, sm_count=132)
    assert splits * 9 >= 2 * 132


def test_nvrtc_options_follow_compute_capability():
    assert cl.nvrtc_options((9, 0)) == ("--std=c++17", "-arch=sm_90")
    assert cl.nvrtc_options("86", (75, 80, 86, 90)) == ("--std=c++17", "-arch=sm_86")
    assert cl.nvrtc_options("120", (80, 90)) == ("--std=c++17", "-arch=compute_90")
    with pytest.raises(ValueError, match="none usable"):
        cl.nvrtc_options("70", (80, 90))


def test_autotune_times_once_and_keeps_the_fastest():
    cache, calls = cl.AutotuneCache(), []

    def timer(fn):
        calls.append(fn())
        return {"a": 2.0, "b": 1.0}[calls[-1]]

    cands = {"a": lambda: "a", "b": lambda: "b"}
    assert cache.choose("k1", cands, timer) == "b"
    assert cache.choose("k1", cands, timer) == "b"
    assert sorted(calls) == ["a", "b"]
    assert cache.timings["k1"] == {"a": 2.0, "b": 1.0}
    assert cache.choose("k1", cands, timer, forced="a") == "a"
    with pytest.raises(ValueError, match="unknown algorithm 'c'"):
        cache.choose("k1", cands, timer, forced="c")
    cache.clear()
    assert cache.choose("k1", cands, lambda fn: {"a": 0.5, "b": 1.0}[fn()]) == "a"


def test_conv_algorithm_setting(monkeypatch):
    monkeypatch.setenv("TINYGRAD_IMG_CONV_ALGO", "im2col")
    assert cl.conv_algorithm_setting() == "im2col"
    monkeypatch.setenv("TINYGRAD_IMG_CONV_ALGO", "fastest")
    with pytest.raises(ValueError, match="TINYGRAD_IMG_CONV_ALGO"):
        cl.conv_algorithm_setting()
    with pytest.raises(ValueError, match="set_conv_algorithm"):
        cuda.set_conv_algorithm("winograd")


def test_set_conv_algorithm_restores_the_environment_choice(monkeypatch):
    monkeypatch.setenv("TINYGRAD_IMG_CONV_ALGO", "im2col")
    prev = cuda.set_conv_algorithm("implicit_64")
    assert prev is None and cuda._forced_algorithm == "implicit_64"
    assert cuda.set_conv_algorithm(prev) == "implicit_64"
    assert cuda._forced_algorithm is None  # the env variable decides again, not a forced "auto"


def test_every_contract_kernel_is_registered_for_cuda_without_cupy():
    had_cupy = "cupy" in sys.modules
    for name in CONTRACT:
        assert registry.get(name, "cuda") is getattr(cuda if hasattr(cuda, name) else cuda_conv, name)
        assert kernels.lookup(name, "cuda") is registry.get(name, "cuda")
    assert had_cupy or "cupy" not in sys.modules


# ------------------------------------------------------------------ kernels through the emulator
@pytest.fixture(scope="module")
def gpu(tmp_path_factory):
    """kernels.cuda with CuPy replaced by the NumPy-backed emulator."""
    if emu.compiler() is None:
        pytest.skip("g++ is not installed: cannot emulate the CUDA kernels on the CPU")
    mp = pytest.MonkeyPatch()
    workdir = str(tmp_path_factory.mktemp("emu"))
    mp.setattr(cuda, "_cp", lambda: emu.fake_cupy(workdir))
    mp.setattr(cl, "cuda_include_dir", lambda candidates=None, version=None: emu.include_dir(workdir))  # the mma.h mock
    for f in (cuda._module, cuda._function, cuda._sm_count, cuda_conv._tf32_device_problem):
        f.cache_clear()
    yield cuda
    mp.undo()
    cuda.autotune.clear()
    cuda._forced_algorithm = None
    cuda_conv._forced_tf32 = None
    for f in (cuda._module, cuda._function, cuda._sm_count, cuda_conv._tf32_device_problem):
        f.cache_clear()


def _rand(rng, shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


IM2COL_CASES = [  # N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw
    (1, 1, 5, 5, 3, 3, 1, 1, 0, 0, 1, 1), (2, 3, 7, 6, 3, 2, 2, 1, 1, 0, 1, 1),
    (3, 2, 9, 11, 2, 3, 1, 2, 1, 2, 2, 1), (1, 70, 4, 3, 1, 1, 1, 1, 0, 0, 1, 1),
]


@pytest.mark.parametrize("case", IM2COL_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_im2col_col2im_match_reference(gpu, case, dtype):
    rng = np.random.default_rng(1)
    n, c, h, w, *opts = case
    x = _rand(rng, (n, c, h, w), dtype)
    col = gpu.im2col(x, *opts)
    np.testing.assert_array_equal(col, reference.im2col(x, *opts))
    gcol = _rand(rng, col.shape, dtype)
    np.testing.assert_allclose(gpu.col2im(gcol, x.shape, *opts), reference.col2im(gcol, x.shape, *opts),
                               rtol=1e-5, atol=1e-5)


POOL_CASES = [(2, 3, 7, 6, 2, 2, 2, 2, 0, 0), (1, 2, 9, 8, 3, 3, 2, 2, 1, 1), (1, 1, 5, 7, 3, 2, 1, 2, 1, 1)]


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pools_match_reference(gpu, case, dtype):
    rng = np.random.default_rng(2)
    n, c, h, w, *opts = case
    x = _rand(rng, (n, c, h, w), dtype)
    x[0, 0, 0, :2] = x[0, 0, 0, 2]  # ties: the first maximum wins
    y, arg = gpu.maxpool2d_forward(x, *opts)
    y_ref, arg_ref = reference.maxpool2d_forward(x, *opts)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(arg, arg_ref)
    gy = _rand(rng, y.shape, dtype)
    np.testing.assert_allclose(gpu.maxpool2d_backward(gy, arg, x.shape, *opts),
                               reference.maxpool2d_backward(gy, arg_ref, x.shape, *opts), rtol=1e-6, atol=1e-6)
    for cip in (True, False):
        np.testing.assert_allclose(gpu.avgpool2d_forward(x, *opts, cip),
                                   reference.avgpool2d_forward(x, *opts, cip), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(gpu.avgpool2d_backward(gy, x.shape, *opts, cip),
                                   reference.avgpool2d_backward(gy, x.shape, *opts, cip), rtol=1e-5, atol=1e-6)


def test_modules_compile_once_per_device_with_its_options(gpu):
    f = gpu._function("pool.cu", "avgpool_fwd_f32", 0)
    assert gpu._function("pool.cu", "avgpool_fwd_f32", 0) is f
    before = gpu._module.cache_info()
    module = gpu._module("pool.cu", 0, ("--std=c++17", "-arch=sm_90"))  # the emulated device: cc 9.0
    after = gpu._module.cache_info()
    assert (after.hits, after.misses) == (before.hits + 1, before.misses)  # compiled earlier with these options
    assert module.options == ("--std=c++17", "-arch=sm_90")


def test_maxpool_propagates_nan_like_reference(gpu):
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    x[0, 0, 1, 0] = np.nan
    y, arg = gpu.maxpool2d_forward(x, 2, 2, 2, 2, 0, 0)
    y_ref, arg_ref = reference.maxpool2d_forward(x, 2, 2, 2, 2, 0, 0)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(arg, arg_ref)


CONV_CASES = [  # N, C, H, W, O, kh, kw, stride, padding, dilation, groups
    (2, 3, 7, 6, 5, 3, 3, 1, 0, 1, 1), (3, 4, 9, 8, 70, 3, 3, 2, 1, 1, 2),
    (1, 6, 11, 10, 6, 2, 3, (1, 2), (1, 0), (2, 1), 3), (2, 1, 28, 28, 32, 3, 3, 1, 0, 1, 1),
]


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("algo", ["implicit_64", "implicit_128", "im2col"])
def test_conv_passes_match_oracle(gpu, case, algo):
    rng = np.random.default_rng(3)
    n, c, h, w_, o, kh, kw, s, p, d, groups = case
    x, w = _rand(rng, (n, c, h, w_)), _rand(rng, (o, c // groups, kh, kw))
    b = _rand(rng, (o,))
    y_ref, _, _ = conv_reference(x, w, None, s, p, d, groups)
    gy = _rand(rng, y_ref.shape)
    _, gx_ref, gw_ref = conv_reference(x, w, gy, s, p, d, groups)
    prev = gpu.set_conv_algorithm(algo)
    try:
        y = cuda_conv.conv2d_forward(x, w, b, s, p, d, groups, relu=True)
        np.testing.assert_allclose(y, np.maximum(y_ref + b.reshape(1, -1, 1, 1), 0), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(cuda_conv.conv2d_forward(x, w, None, s, p, d, groups), y_ref,
                                   rtol=1e-4, atol=1e-4)
        gx = cuda_conv.conv2d_backward_data(gy, w, x.shape, s, p, d, groups)
        gw = cuda_conv.conv2d_backward_weight(gy, x, w.shape, s, p, d, groups)
    finally:
        gpu.set_conv_algorithm(prev)
    assert gx.dtype == np.float32 and gw.dtype == np.float32
    np.testing.assert_allclose(gx, gx_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gw, gw_ref, rtol=1e-4, atol=2e-4)


def test_conv_float64_takes_the_im2col_path(gpu):
    rng = np.random.default_rng(4)
    x, w = _rand(rng, (2, 2, 6, 5), np.float64), _rand(rng, (3, 2, 3, 3), np.float64)
    prev = gpu.set_conv_algorithm("implicit")
    try:
        y = cuda_conv.conv2d_forward(x, w, None, 1, 1, 1, 1)
        gw = cuda_conv.conv2d_backward_weight(np.ones((2, 3, 6, 5)), x, w.shape, 1, 1, 1, 1)
    finally:
        gpu.set_conv_algorithm(prev)
    assert y.dtype == np.float64 and gw.dtype == np.float64
    np.testing.assert_allclose(y, conv_reference(x, w, None, 1, 1, 1, 1)[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gw, conv_reference(x, w, np.ones((2, 3, 6, 5)), 1, 1, 1, 1)[2], rtol=1e-12)


def test_backward_weight_splits_k_and_sums_deterministically(gpu, monkeypatch):
    rng = np.random.default_rng(5)
    x, gy = _rand(rng, (4, 2, 12, 12)), _rand(rng, (4, 3, 10, 10))
    geom = cl.conv_geometry("t", x.shape, (3, 2, 3, 3), 1, 0, 1, 1)
    fn = gpu._function("conv.cu", "conv2d_bwd_weight_implicit_64", 0)
    fn.launches.clear()
    first = cuda_conv._backward_weight_implicit(gy, x, geom, 64)
    (grid, _), = fn.launches
    assert grid[2] > 1  # split-K was used (4 emulated SMs, one output tile)
    np.testing.assert_array_equal(first, cuda_conv._backward_weight_implicit(gy, x, geom, 64))
    _, _, gw_ref = conv_reference(x, np.zeros((3, 2, 3, 3)), gy, 1, 0, 1, 1)
    np.testing.assert_allclose(first, gw_ref, rtol=1e-4, atol=1e-4)


def test_autotune_runs_the_faster_algorithm(gpu, monkeypatch):
    rng = np.random.default_rng(6)
    x, w = _rand(rng, (1, 2, 6, 6)), _rand(rng, (2, 2, 3, 3))
    gpu.autotune.clear()
    seen = []

    def fake_timer(fn):
        seen.append(fn)
        return {1: 3.0, 2: 1.0, 3: 2.0}[len(seen)]  # the second candidate timed is the fastest
    monkeypatch.setattr(gpu, "time_gpu", fake_timer)
    prev = gpu.set_conv_algorithm("auto")
    try:
        y = cuda_conv.conv2d_forward(x, w, None, 1, 0, 1, 1)
        cuda_conv.conv2d_forward(x, w, None, 1, 0, 1, 1)
    finally:
        gpu.set_conv_algorithm(prev)
    assert len(seen) == 3
    (key, times), = gpu.autotune.timings.items()
    assert sorted(times) == ["im2col", "implicit_128", "implicit_64"]
    assert gpu.autotune.choices[key] == list(times)[1]
    np.testing.assert_allclose(y, conv_reference(x, w, None, 1, 0, 1, 1)[0], rtol=1e-4, atol=1e-5)


def test_wrappers_reject_bad_arguments(gpu):
    x = np.zeros((1, 2, 6, 6), np.float32)
    w = np.zeros((3, 2, 3, 3), np.float32)
    with pytest.raises(ValueError, match="im2col: x must be float32 or float64, got int32"):
        gpu.im2col(x.astype(np.int32), 3, 3, 1, 1, 0, 0, 1, 1)
    with pytest.raises(ValueError, match="conv2d: weight must be float32, got float64"):
        cuda_conv.conv2d_forward(x, w.astype(np.float64), None, 1, 0, 1, 1)
    with pytest.raises(ValueError, match=r"conv2d: bias has shape \(2,\), expected \(3,\)"):
        cuda_conv.conv2d_forward(x, w, np.zeros(2, np.float32), 1, 0, 1, 1)
    with pytest.raises(ValueError, match="input must be C-contiguous|input of shape .* must be C-contiguous"):
        cuda_conv.conv2d_forward(x.transpose(0, 1, 3, 2), w, None, 1, 0, 1, 1)
    with pytest.raises(ValueError, match=r"grad_output has shape \(1, 3, 5, 5\), expected \(1, 3, 4, 4\)"):
        cuda_conv.conv2d_backward_data(np.zeros((1, 3, 5, 5), np.float32), w, x.shape, 1, 0, 1, 1)
    with pytest.raises(ValueError, match="argmax must be int64"):
        gpu.maxpool2d_backward(np.zeros((1, 2, 3, 3), np.float32), np.zeros((1, 2, 3, 3), np.int32),
                               x.shape, 2, 2, 2, 2, 0, 0)
    with pytest.raises(ValueError, match=r"col has shape"):
        gpu.col2im(np.zeros((2, 3, 3, 1, 3, 3), np.float32), x.shape, 3, 3, 1, 1, 0, 0, 1, 1)
