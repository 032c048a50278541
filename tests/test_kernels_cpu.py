"""Kernel parity: the Numba CPU kernels equal the NumPy reference (exactly for copies and
gathers in the same order; within 1e-6 where the summation order differs)."""
import contextlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinygrad_img as tg
import tinygrad_img.functional as F
from tinygrad_img.kernels import cpu_numba, cpu_numba_depthwise_3x3, cpu_numba_maxpool, get, lookup, registry
from tinygrad_img.kernels.geometry import out_size
from tinygrad_img.ops import depthwise
from tinygrad_img.ops.conv import Geometry


@st.composite
def conv_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw, dh, dw = (draw(st.integers(1, 3)) for _ in range(4))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    min_h, min_w = max(1, dh * (kh - 1) + 1 - 2 * ph), max(1, dw * (kw - 1) + 1 - 2 * pw)
    h, w = draw(st.integers(min_h, min_h + 6)), draw(st.integers(min_w, min_w + 6))
    return (draw(st.integers(1, 3)), draw(st.integers(1, 3)), h, w), (kh, kw, sh, sw, ph, pw, dh, dw)


@st.composite
def pool_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    h, w = draw(st.integers(max(1, kh - 2 * ph), 9)), draw(st.integers(max(1, kw - 2 * pw), 9))
    return (draw(st.integers(1, 3)), draw(st.integers(1, 3)), h, w), (kh, kw, sh, sw, ph, pw)


@contextlib.contextmanager
def _always_parallel():
    """Send even tiny arrays through the prange drivers."""
    saved = cpu_numba.PARALLEL_MIN_ELEMENTS
    cpu_numba.PARALLEL_MIN_ELEMENTS = 0
    try:
        yield
    finally:
        cpu_numba.PARALLEL_MIN_ELEMENTS = saved


def _both(name):
    return get(name, "reference"), get(name, "numba")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=25, deadline=None)
@given(case=conv_cases(), seed=st.integers(0, 2 ** 16))
def test_im2col_col2im_parity(dtype, case, seed):
    shape, geo = case
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    (ref_im2col, fast_im2col), (ref_col2im, fast_col2im) = _both("im2col"), _both("col2im")
    col = ref_im2col(x, *geo)
    got = fast_im2col(x, *geo)
    assert got.dtype == dtype and np.array_equal(got, col)
    np.testing.assert_array_equal(fast_col2im(col, shape, *geo), ref_col2im(col, shape, *geo))


# stride 1 with OW == W, and stride 2 with W == 2*OW and H == 2*OH (on the phase planes
# x[..., py::2, px::2]): the Numba im2col copies each tap's rows as one shifted block
# (cpu_numba._im2col_shifted, edge columns masked); these geometries take that path, including
# taps whose block would start before the first plane or end past the last one, except the 1x1 and
# the dilation-2 stride-2 ones, whose taps read fewer than four phase planes: they check the
# strided kernel that then runs instead of the split.
SAME_WIDTH = [((1, 1, 1, 1), (3, 3, 1, 1, 1, 1, 1, 1)), ((2, 3, 5, 7), (3, 3, 1, 1, 1, 1, 1, 1)),
              ((3, 2, 6, 4), (5, 5, 1, 1, 2, 2, 1, 1)), ((2, 2, 7, 5), (3, 3, 1, 1, 2, 2, 2, 2)),
              ((2, 3, 4, 6), (2, 3, 1, 1, 0, 1, 1, 1)), ((1, 2, 2, 3), (4, 5, 1, 1, 1, 2, 1, 1)),
              ((2, 1, 3, 3), (1, 1, 1, 1, 1, 0, 1, 1))]
PHASE_PLANES = [((2, 3, 8, 6), (3, 3, 2, 2, 1, 1, 1, 1)), ((1, 2, 2, 2), (3, 3, 2, 2, 1, 1, 1, 1)),
                ((2, 2, 4, 8), (1, 1, 2, 2, 0, 0, 1, 1)), ((1, 2, 8, 8), (7, 7, 2, 2, 3, 3, 1, 1)),
                ((2, 2, 6, 10), (3, 5, 2, 2, 2, 4, 2, 2)), ((1, 3, 4, 4), (2, 2, 2, 2, 0, 0, 1, 1)),
                ((2, 1, 6, 6), (4, 2, 2, 2, 1, 0, 1, 1))]


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,geo", SAME_WIDTH + PHASE_PLANES)
def test_im2col_shifted_fast_path(shape, geo, dtype, parallel):
    x = np.random.default_rng(7).standard_normal(shape).astype(dtype)
    x[0, 0, 0, 0], x[-1, -1, -1, -1] = np.nan, np.inf  # never where a zero belongs
    kh, kw, s, _, ph, pw, dh, dw = geo
    oh, ow = out_size(shape[2], kh, s, ph, dh), out_size(shape[3], kw, s, pw, dw)
    assert (s == 1 and ow == shape[3]) or (s == 2 and (2 * oh, 2 * ow) == shape[2:])
    with _always_parallel() if parallel else contextlib.nullcontext():
        got = get("im2col", "numba")(x, *geo)
    np.testing.assert_array_equal(got, get("im2col", "reference")(x, *geo))


def test_phase_split():
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 8)).astype(np.float32)
    out = np.empty((4, 2, 3, 3, 4), dtype=np.float32)
    cpu_numba._phase_split(x, np.empty((2, 2, 3, 3, 8), dtype=np.float32), out)
    for py in range(2):
        for px in range(2):
            np.testing.assert_array_equal(out[2 * py + px], x[:, :, py::2, px::2])


# The Numba avg-pool kernels are separable: the forward sums each input row's windows first, and
# when W == stride * OW all rows of all planes go through one flat loop whose edge windows spill
# into neighbouring rows and are recomputed; the backward does the same in reverse for
# (stride, kernel, padding) along a row in SEPARABLE_BWD. Flat-path geometries (kh, kw, sh, sw,
# ph, pw) first (rows 2 and 1 pixels wide among them), then ones that take the per-row forward /
# tap-by-tap backward (W != s * OW, other row geometries, no window inside a row), then 1x1, then
# global windows (one window covering each plane: plane sums and fills), then a one-window pool
# with padding, which is not global, then 2x2 / stride 2 / unpadded (one-pass forward) on planes
# with an odd height and width, whose last row and column no window covers.
AVG_PATHS = [((4, 8, 28, 28), (3, 3, 2, 2, 1, 1)), ((2, 3, 8, 8), (2, 2, 2, 2, 0, 0)),
                 ((2, 3, 6, 9), (3, 3, 1, 1, 1, 1)), ((1, 2, 1, 2), (3, 3, 2, 2, 1, 1)),
                 ((1, 1, 1, 2), (2, 2, 2, 2, 0, 0)), ((2, 2, 3, 1), (3, 3, 1, 1, 1, 1)),
                 ((3, 2, 5, 6), (3, 3, 2, 2, 1, 1)), ((2, 1, 4, 6), (5, 3, 1, 1, 2, 1)),
                 ((1, 2, 10, 10), (5, 5, 2, 2, 2, 2)), ((2, 2, 10, 10), (4, 4, 2, 2, 1, 1)),
                 ((2, 2, 9, 12), (4, 3, 2, 3, 2, 1)), ((2, 3, 7, 7), (3, 3, 2, 2, 1, 1)),
                 ((1, 2, 9, 9), (3, 3, 3, 3, 1, 1)), ((3, 1, 1, 2), (3, 3, 1, 1, 1, 1)),
                 ((2, 2, 5, 5), (1, 1, 2, 2, 0, 0)), ((3, 4, 7, 7), (7, 7, 7, 7, 0, 0)),
                 ((2, 3, 5, 6), (5, 6, 1, 1, 0, 0)), ((2, 2, 1, 1), (1, 1, 1, 1, 0, 0)),
                 ((2, 2, 6, 6), (6, 6, 6, 6, 1, 1)), ((2, 3, 7, 9), (2, 2, 2, 2, 0, 0)),
                 ((1, 2, 5, 4), (2, 2, 2, 2, 0, 0)), ((2, 1, 4, 35), (2, 2, 2, 2, 0, 0))]


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-6), (np.float64, 1e-13)])
@pytest.mark.parametrize("shape,geo", AVG_PATHS)
def test_avgpool_fast_paths(shape, geo, dtype, tol, parallel):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape).astype(dtype)
    x[..., 0] += 100.0  # a first column that leaked into the previous row's last window shows
    for include in (True, False):
        with _always_parallel() if parallel else contextlib.nullcontext():
            got = get("avgpool2d_forward", "numba")(x, *geo, include)
        want = get("avgpool2d_forward", "reference")(x, *geo, include)
        assert got.dtype == dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
        gy = rng.standard_normal(want.shape).astype(dtype)
        gy[..., -1] += 100.0  # likewise a last window sum that leaked into the next row's first pixel
        with _always_parallel() if parallel else contextlib.nullcontext():
            got = get("avgpool2d_backward", "numba")(gy, shape, *geo, include)
        want = get("avgpool2d_backward", "reference")(gy, shape, *geo, include)
        assert got.dtype == dtype and got.shape == shape
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


# Max-pool geometries (kh, kw, sh, sw, ph, pw) whose output rows are at least
# cpu_numba_maxpool.ROW_KERNEL_MIN_WIDTH wide, so the row kernel runs: strides 1, 2, 3 (the
# stride-phase split), padding, kernel != stride, rectangular windows, and 2x2 / stride 2 on rows
# of 16 or more outputs (narrower ones take the unrolled 2x2 kernel).
MAXPOOL_ROWS = [((2, 3, 5, 40), (3, 3, 2, 2, 1, 1)), ((2, 2, 6, 34), (3, 3, 1, 1, 1, 1)),
                ((1, 2, 7, 50), (2, 3, 3, 3, 1, 1)), ((2, 2, 4, 33), (3, 2, 1, 2, 1, 1)),
                ((1, 2, 9, 20), (5, 5, 1, 1, 2, 2)), ((1, 1, 3, 64), (1, 4, 1, 4, 0, 0)),
                ((2, 2, 21, 21), (3, 3, 2, 2, 0, 0)), ((2, 2, 5, 37), (2, 2, 2, 2, 0, 0))]


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,geo", MAXPOOL_ROWS)
def test_maxpool_row_kernel(shape, geo, dtype, parallel):
    kh, kw, sh, sw, ph, pw = geo
    assert out_size(shape[3], kw, sw, pw) >= cpu_numba_maxpool.ROW_KERNEL_MIN_WIDTH
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape).astype(dtype)
    x[rng.random(shape) < 0.3] = 0.5  # ties: the first maximum in row-major order wins
    x[rng.random(shape) < 0.05] = np.nan  # NaN wins, the last one of a window
    x[rng.random(shape) < 0.05] = -np.inf
    with _always_parallel() if parallel else contextlib.nullcontext():
        y, arg = get("maxpool2d_forward", "numba")(x, *geo)
    want_y, want_arg = get("maxpool2d_forward", "reference")(x, *geo)
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(arg, want_arg)


@settings(max_examples=10, deadline=None)
@given(case=conv_cases(), seed=st.integers(0, 2 ** 16))
def test_im2col_col2im_parallel_parity(case, seed):
    shape, geo = case
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    col = get("im2col", "reference")(x, *geo)
    with _always_parallel():
        got, back = get("im2col", "numba")(x, *geo), get("col2im", "numba")(col, shape, *geo)
    assert np.array_equal(got, col)
    np.testing.assert_array_equal(back, get("col2im", "reference")(col, shape, *geo))


def _pool_parity(shape, geo, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    x[rng.random(shape) < 0.2] = 0.5  # ties: the first maximum must win in both
    (ref_f, fast_f), (ref_b, fast_b) = _both("maxpool2d_forward"), _both("maxpool2d_backward")
    y, arg = ref_f(x, *geo)
    y2, arg2 = fast_f(x, *geo)
    assert np.array_equal(y, y2) and np.array_equal(arg, arg2) and arg2.dtype == np.int64
    gy = rng.standard_normal(y.shape).astype(dtype)
    np.testing.assert_allclose(fast_b(gy, arg, shape, *geo), ref_b(gy, arg, shape, *geo), rtol=1e-6, atol=1e-6)
    for include in (True, False):
        (ref_f, fast_f), (ref_b, fast_b) = _both("avgpool2d_forward"), _both("avgpool2d_backward")
        np.testing.assert_allclose(fast_f(x, *geo, include), ref_f(x, *geo, include), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(fast_b(gy, shape, *geo, include), ref_b(gy, shape, *geo, include),
                                   rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=25, deadline=None)
@given(case=pool_cases(), seed=st.integers(0, 2 ** 16))
def test_pool_parity(dtype, case, seed):
    _pool_parity(*case, dtype, seed)


@settings(max_examples=10, deadline=None)
@given(case=pool_cases(), seed=st.integers(0, 2 ** 16))
def test_pool_parallel_parity(case, seed):
    with _always_parallel():
        _pool_parity(*case, np.float32, seed)


def test_registry_prefers_numba_and_use_forces_reference():
    assert lookup("im2col", "cpu") is get("im2col", "numba")
    with registry.use("reference"):
        assert lookup("im2col", "cpu") is get("im2col", "reference")
    with pytest.raises(ValueError, match="use: unknown CPU backend"):
        with registry.use("fortran"):
            pass


def test_ops_agree_across_backends():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((3, 4, 9, 8), dtype=np.float32), rng.standard_normal((6, 2, 3, 3), dtype=np.float32)

    def run():
        xs, ws = tg.Tensor(x, requires_grad=True), tg.Tensor(w, requires_grad=True)
        y = F.max_pool2d(F.conv2d(xs, ws, None, 1, 1, 1, 2), 3, 2, 1) + F.avg_pool2d(xs, 2).sum()
        y.backward(tg.ones(*y.shape))
        return y.numpy(), xs.grad.numpy(), ws.grad.numpy()
    fast = run()
    with registry.use("reference"):
        slow = run()
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("parallel", [False, True])
@settings(max_examples=15, deadline=None)
@given(case=conv_cases(), multiplier=st.integers(1, 2), seed=st.integers(0, 2 ** 16))
def test_depthwise_kernels_match_shift_and_add(parallel, case, multiplier, seed):
    shape, geo = case
    g = Geometry(*geo, shape[1])
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((shape[1] * multiplier, 1) + geo[:2]).astype(np.float32)
    gy = rng.standard_normal((shape[0], w.shape[0]) + g.out_hw(*shape[2:])).astype(np.float32)
    _check_depthwise_kernels(x, w, gy, geo, parallel, tol=1e-5)


def _check_depthwise_kernels(x, w, gy, geo, parallel, tol):
    """The three Numba depthwise kernels against the xp shift-and-add path in float64."""
    g = Geometry(*geo, x.shape[1])
    x64, w64, gy64 = x.astype(np.float64), w.astype(np.float64), gy.astype(np.float64)
    with registry.use("reference"):  # no depthwise kernels there: the xp path
        expected = (depthwise.forward(x64, w64, g), depthwise.backward_data(gy64, w64, x.shape, g),
                    depthwise.backward_weight(gy64, x64, w.shape, g))
    with _always_parallel() if parallel else contextlib.nullcontext():
        got = (get("depthwise_conv2d_forward", "numba")(x, w, *geo),
               get("depthwise_conv2d_backward_data", "numba")(gy, w, x.shape, *geo),
               get("depthwise_conv2d_backward_weight", "numba")(gy, x, w.shape, *geo))
    for a, b in zip(got, expected):
        assert a.dtype == x.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


# 3x3 / stride 1 / dilation 1 depthwise convolutions take the padded-plane kernels of
# cpu_numba_depthwise_3x3 (every padding 0-2 per side, filter multipliers 1-3, planes down to 1x1).
DEPTHWISE_3X3 = [((2, 3, 5, 7), (1, 1), 1), ((2, 3, 5, 7), (1, 1), 2), ((2, 2, 1, 1), (1, 1), 1),
                 ((1, 2, 2, 5), (0, 2), 1), ((2, 2, 6, 6), (2, 0), 3), ((1, 1, 3, 3), (0, 0), 1),
                 ((3, 2, 4, 9), (2, 2), 2), ((1, 2, 3, 1), (1, 2), 1)]


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("shape,padding,multiplier", DEPTHWISE_3X3)
def test_depthwise_3x3_kernels_match_shift_and_add(shape, padding, multiplier, dtype, tol, parallel):
    geo = (3, 3, 1, 1, *padding, 1, 1)
    assert cpu_numba_depthwise_3x3.applies(*geo)
    g = Geometry(*geo, shape[1])
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((shape[1] * multiplier, 1, 3, 3)).astype(dtype)
    gy = rng.standard_normal((shape[0], w.shape[0]) + g.out_hw(*shape[2:])).astype(dtype)
    _check_depthwise_kernels(x, w, gy, geo, parallel, tol)


def test_fast_paths_zero_with_a_real_zero():
    # The same-width im2col writes zeros into a fresh np.empty buffer, and the 3x3 depthwise
    # weight gradient restarts its running sums for every image: a "zero" made by multiplying
    # whatever the buffer or the sums held by 0 is NaN when that was NaN or inf.
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    geo = (3, 3, 1, 1, 1, 1, 1, 1)
    col = np.full((3, 3, 3, 2, 4, 5), np.nan, dtype=np.float32)
    table, masks = cpu_numba._shift_tables(cpu_numba._shift_taps(3, 3, 1, 1, 1, 1, 1), 4, 5)
    cpu_numba._im2col_shifted(x.reshape(1, 2, 3, 4, 5), col, table, masks, np.float32(0), 0, col.shape[0] * 9 * 2)
    want = get("im2col", "reference")(x, *geo)
    assert np.array_equal(col, want) and not np.signbit(col[want == 0]).any()
    big = np.full((2, 1, 4, 4), 1e30, dtype=np.float32)  # the first image's products overflow to inf
    gw = get("depthwise_conv2d_backward_weight", "numba")(big, big, (1, 1, 3, 3), *geo)
    assert np.isposinf(gw).all()


def test_depthwise_3x3_path_covers_only_its_geometries():
    applies = cpu_numba_depthwise_3x3.applies
    assert applies(3, 3, 1, 1, 1, 1, 1, 1) and applies(3, 3, 1, 1, 0, 2, 1, 1)
    for geo in [(3, 3, 2, 2, 1, 1, 1, 1), (3, 3, 1, 1, 1, 1, 2, 2), (5, 5, 1, 1, 2, 2, 1, 1),
                (3, 3, 1, 1, 3, 1, 1, 1), (3, 2, 1, 1, 1, 1, 1, 1), (3, 3, 1, 2, 1, 1, 1, 1)]:
        assert not applies(*geo), geo


def test_numba_im2col_units_write_only_their_own_rows():
    # A dilated 'same' 3x3 conv on height-1 maps: most taps have no valid output row; rows with no
    # padded column (stride 1) are copied 16 elements at a time, spilling into the tap's next rows.
    # Each unit (one (n, c) plane) of the (parallel) driver must write its own kh*kw column rows
    # and leave every other plane's rows untouched.
    # The last geometry's taps 0 and 2 have a zero row below / above their valid rows, which the
    # excess of a row copy must not overwrite.
    for shape, geo in [((2, 2, 1, 3), (3, 3, 1, 1, 2, 2, 2, 2)), ((2, 2, 3, 3), (2, 2, 1, 1, 0, 0, 1, 1)),
                       ((2, 2, 8, 5), (3, 1, 1, 1, 1, 0, 1, 1))]:  # geo: kh kw sh sw ph pw dh dw
        xs = np.arange(1, np.prod(shape) + 1, dtype=np.float32).reshape(shape)
        n, c, h, w = shape
        oh, ow = out_size(h, geo[0], 1, geo[4], geo[6]), out_size(w, geo[1], 1, geo[5], geo[7])
        taps = geo[0] * geo[1]
        expected = get("im2col", "reference")(xs, *geo).reshape(c * taps * n, -1)
        for p in range(n * c):
            col = np.full((c, geo[0], geo[1], n, oh, ow), np.nan, np.float32)
            cpu_numba._im2col(xs, col, *geo, p, p + 1)
            rows = col.reshape(c * taps * n, -1)
            own = [(p // n * taps + t) * n + p % n for t in range(taps)]
            np.testing.assert_array_equal(rows[own], expected[own])
            assert np.isnan(np.delete(rows, own, axis=0)).all(), f"plane {p} wrote outside its rows"