"""conv2d and conv_transpose2d: float64 gradcheck and PyTorch parity over a grid of geometries,
chunked im2col, the direct-kernel hook of the registry, and error messages."""
import numpy as np
import pytest

import tinygrad_img as tg
import tinygrad_img.functional as F
from tinygrad_img.kernels import registry
from tinygrad_img.ops import conv as conv_ops
from conv_oracle import conv_reference
from torch_parity import check_parity, requires_torch, torch

# (N, C, H, W, O, kernel, stride, padding, dilation, groups): kernels 1/2/3/5 and rectangular,
# strides 1/2/3, padding 0/1/2, dilation 1/2, groups 1/2/C (depthwise, with a channel
# multiplier), sizes where the output floor drops pixels, kernel != stride, batch 1 and > 1.
GRID = [
    (2, 3, 5, 5, 4, (1, 1), 1, 0, 1, 1),
    (1, 2, 6, 5, 3, (2, 2), 2, 0, 1, 1),
    (2, 2, 6, 6, 3, (3, 3), 1, 1, 1, 1),
    (2, 4, 7, 6, 4, (3, 3), 2, 1, 1, 2),
    (1, 2, 8, 7, 2, (5, 5), 3, 2, 1, 1),
    (2, 2, 7, 8, 3, (2, 3), (2, 1), (1, 0), 1, 1),
    (1, 3, 9, 9, 3, (3, 3), 1, 2, 2, 3),
    (2, 3, 7, 7, 6, (3, 2), 2, 1, (2, 1), 3),
    (2, 4, 6, 6, 4, (1, 1), 2, 0, 1, 2),
    (1, 2, 8, 8, 2, (3, 3), 3, 0, 1, 2),
]
IDS = [f"k{g[5]}-s{g[6]}-p{g[7]}-d{g[8]}-g{g[9]}-n{g[0]}" for g in GRID]


def _out_pad(s):
    """The largest valid output_padding: stride - 1 per axis."""
    return s - 1 if isinstance(s, int) else tuple(v - 1 for v in s)


def _arrays(case, rng, dtype=np.float64):
    n, c, h, w, o, k, s, p, d, g = case
    return (rng.standard_normal((n, c, h, w)).astype(dtype),
            rng.standard_normal((o, c // g) + k).astype(dtype), rng.standard_normal(o).astype(dtype))


@pytest.mark.parametrize("case", GRID, ids=IDS)
def test_conv2d_gradcheck(case):
    x, w, b = _arrays(case, np.random.default_rng(1))
    s, p, d, g = case[6:]
    ts = [tg.Tensor(a, dtype="float64", requires_grad=True) for a in (x, w, b)]
    assert tg.gradcheck(lambda x, w, b: F.conv2d(x, w, b, s, p, d, g), ts)


@pytest.mark.parametrize("case", GRID, ids=IDS)
def test_conv_transpose2d_gradcheck(case):
    n, c, h, w, o, k, s, p, d, g = case
    rng = np.random.default_rng(2)
    x = tg.Tensor(rng.standard_normal((n, o, 3, 4)), dtype="float64", requires_grad=True)
    wt = tg.Tensor(rng.standard_normal((o, c // g) + k), dtype="float64", requires_grad=True)
    b = tg.Tensor(rng.standard_normal(c), dtype="float64", requires_grad=True)
    assert tg.gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, s, p, _out_pad(s), g, d), [x, wt, b])


def test_conv2d_gradcheck_non_contiguous_input():
    base = np.random.default_rng(3).standard_normal((5, 6, 2, 3))
    x = tg.Tensor(base, dtype="float64", requires_grad=True)
    w = tg.Tensor(np.random.default_rng(4).standard_normal((4, 3, 3, 2)), dtype="float64", requires_grad=True)
    # x.transpose gives an (N, C, H, W) = (2, 3, 6, 5) view with non-unit strides everywhere
    assert tg.gradcheck(lambda x, w: F.conv2d(x.transpose(2, 3, 1, 0), w, None, 1, 1), [x, w])


@requires_torch
@pytest.mark.parametrize("case", GRID, ids=IDS)
def test_conv2d_matches_torch(case):
    x, w, b = _arrays(case, np.random.default_rng(5), np.float32)
    s, p, d, g = case[6:]
    check_parity(lambda x, w, b: F.conv2d(x, w, b, s, p, d, g),
                 lambda x, w, b: torch.nn.functional.conv2d(x, w, b, s, p, d, g), [x, w, b])


@requires_torch
@pytest.mark.parametrize("case", GRID, ids=IDS)
def test_conv_transpose2d_matches_torch(case):
    n, c, h, w, o, k, s, p, d, g = case
    rng = np.random.default_rng(6)
    x = rng.standard_normal((n, o, 4, 5), dtype=np.float32)
    wt = rng.standard_normal((o, c // g) + k, dtype=np.float32)
    b = rng.standard_normal(c, dtype=np.float32)
    op = _out_pad(s)
    check_parity(lambda x, w, b: F.conv_transpose2d(x, w, b, s, p, op, g, d),
                 lambda x, w, b: torch.nn.functional.conv_transpose2d(x, w, b, s, p, op, g, d), [x, wt, b])


@requires_torch
@pytest.mark.parametrize("stride,dilation,output_padding", [(1, 2, 1), ((2, 1), 3, (2, 1)), (2, 2, 1)])
def test_conv_transpose2d_output_padding_up_to_the_dilation_matches_torch(stride, dilation, output_padding):
    # PyTorch allows output_padding < max(stride, dilation)
    rng = np.random.default_rng(10)
    x, wt, b = (rng.standard_normal(s, dtype=np.float32) for s in [(2, 3, 5, 4), (3, 2, 3, 3), (2,)])
    check_parity(lambda x, w, b: F.conv_transpose2d(x, w, b, stride, 1, output_padding, 1, dilation),
                 lambda x, w, b: torch.nn.functional.conv_transpose2d(x, w, b, stride, 1, output_padding, 1,
                                                                       dilation), [x, wt, b])


def test_conv_transpose2d_output_padding_gradcheck():
    rng = np.random.default_rng(12)
    x = tg.Tensor(rng.standard_normal((1, 2, 3, 3)), dtype="float64", requires_grad=True)
    w = tg.Tensor(rng.standard_normal((2, 2, 2, 2)), dtype="float64", requires_grad=True)
    assert tg.gradcheck(lambda x, w: F.conv_transpose2d(x, w, None, 1, 0, 1, 1, 2), [x, w])


@pytest.mark.parametrize("fn", [lambda x, w: F.conv2d(x, w, None, 1, 1),
                                lambda x, w: F.conv2d(x, w[:, :, :1, :1]),
                                lambda x, w: F.conv_transpose2d(x, w.transpose(1, 0, 2, 3), None, 2, 1)],
                         ids=["conv2d", "conv2d_1x1", "conv_transpose2d"])
def test_empty_batch_gives_empty_output_and_gradients(fn):
    x = tg.zeros(0, 3, 5, 4, requires_grad=True)
    w = tg.Tensor(np.random.default_rng(11).standard_normal((6, 3, 3, 3)), requires_grad=True)
    y = fn(x, w)
    assert y.shape[0] == 0
    y.sum().backward()
    assert x.grad.shape == x.shape and w.grad.shape == w.shape and not w.grad.numpy().any()


@requires_torch
def test_conv2d_non_contiguous_matches_torch():
    base = np.random.default_rng(7).standard_normal((9, 8, 4, 3), dtype=np.float32)
    w = np.random.default_rng(8).standard_normal((5, 3, 3, 3), dtype=np.float32)
    check_parity(lambda x, w: F.conv2d(x.transpose(2, 3, 1, 0), w, None, 2, 1),
                 lambda x, w: torch.nn.functional.conv2d(x.permute(2, 3, 1, 0), w, None, 2, 1), [base, w])


@pytest.mark.parametrize("case", [GRID[0], GRID[3], GRID[6], GRID[8], (3, 4, 9, 8, 6, (3, 3), 1, 1, 1, 1)])
def test_chunked_im2col_equals_unchunked(case):
    x, w, b = _arrays(case, np.random.default_rng(9), np.float32)
    s, p, d, g = case[6:]

    def run():
        xs, ws, bs = (tg.Tensor(a, requires_grad=True) for a in (x, w, b))
        y = F.conv2d(xs, ws, bs, s, p, d, g)
        y.backward(tg.Tensor(np.cos(np.arange(y.size, dtype=np.float32)).reshape(y.shape)))
        return [y.numpy(), xs.grad.numpy(), ws.grad.numpy(), bs.grad.numpy()]
    whole = run()
    limit = conv_ops.get_im2col_limit()
    try:
        conv_ops.set_im2col_limit(1)  # one sample per chunk
        chunked = run()
    finally:
        conv_ops.set_im2col_limit(limit)
    for a, b in zip(whole, chunked):  # dW is summed chunk by chunk: rounding may differ
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


# groups-1 geometries for both routes of conv2d (one GEMM per sample on the arrays themselves, or
# one batch-wide GEMM on transposed copies): 1x1 kernels (whose columns are the samples themselves),
# a long reduction, a short one, strides and padding; 24x23 and 23x23 outputs pass _DIRECT_PIXELS.
ROUTE_CASES = [GRID[0], GRID[2], GRID[4], GRID[5], (3, 20, 6, 5, 7, (3, 3), 1, 1, 1, 1),
               (2, 6, 24, 23, 5, (1, 1), 1, 0, 1, 1), (3, 8, 47, 46, 4, (3, 3), 2, 1, 1, 1)]


@pytest.mark.parametrize("direct_pixels", [0, 1 << 30], ids=["per-sample", "batch-wide"])
@pytest.mark.parametrize("case", ROUTE_CASES)
def test_conv2d_routes_match_oracle(case, direct_pixels, monkeypatch):
    """Output and gradients of both routes, with bias, one sample per chunk and a non-contiguous
    input, against the float64 oracle (kernels/reference.py's im2col/col2im and matmuls)."""
    x, w, b = _arrays(case, np.random.default_rng(13))
    s, p, d, g = case[6:]
    monkeypatch.setattr(conv_ops, "_DIRECT_PIXELS", direct_pixels)
    y = conv_reference(x, w, None, s, p, d, g)[0]
    gy = np.cos(np.arange(y.size)).reshape(y.shape)
    _, gx, gw = conv_reference(x, w, gy, s, p, d, g)
    for limit in (conv_ops.get_im2col_limit(), 1):
        monkeypatch.setattr(conv_ops, "_limit", limit)
        xs = tg.Tensor(np.ascontiguousarray(x.transpose(1, 0, 2, 3)), dtype="float64", requires_grad=True)
        ws, bs = (tg.Tensor(a, dtype="float64", requires_grad=True) for a in (w, b))
        out = F.conv2d(xs.transpose(1, 0, 2, 3), ws, bs, s, p, d, g)
        out.backward(tg.Tensor(gy, dtype="float64"))
        for got, want in ((out, y + b[:, None, None]), (xs.grad.transpose(1, 0, 2, 3), gx), (ws.grad, gw),
                          (bs.grad, gy.sum((0, 2, 3)))):
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)


def test_im2col_limit_must_be_positive():
    with pytest.raises(ValueError, match="set_im2col_limit"):
        conv_ops.set_im2col_limit(0)


def test_registered_direct_kernel_is_used(monkeypatch):
    calls = []

    def direct(x, w, b, stride, padding, dilation, groups, relu=False):
        calls.append((stride, padding, dilation, groups))
        return np.zeros((x.shape[0], w.shape[0], 1, 1), dtype=x.dtype)
    monkeypatch.setitem(registry._kernels, ("conv2d_forward", "numba"), direct)
    y = F.conv2d(tg.ones(1, 2, 3, 3), tg.ones(4, 2, 3, 3), None, 1, 0, 1, 1)
    assert calls == [((1, 1), (0, 0), (1, 1), 1)] and y.shape == (1, 4, 1, 1)


@pytest.mark.parametrize("args, message", [
    (((1, 3, 8, 8), (32, 1, 3, 3), {}), "conv2d: input has 3 channels but weight expects 1"),
    (((1, 3, 4, 4), (2, 3, 5, 5), {}), "conv2d: kernel 5x5 .* larger than the padded input 4x4"),
    (((3, 8, 8), (2, 3, 3, 3), {}), r"conv2d: expected a 4-D input .* \(3, 8, 8\)"),
    (((1, 3, 8, 8), (2, 3, 3, 3), {"stride": 0}), r"conv2d: stride must be positive, got \(0, 0\)"),
    (((1, 3, 8, 8), (2, 3, 3, 3), {"stride": (1, -2)}), r"conv2d: stride must be positive, got \(1, -2\)"),
    (((1, 3, 8, 8), (2, 3, 3, 3), {"padding": -1}), "conv2d: padding must be non-negative"),
    (((1, 4, 8, 8), (3, 2, 3, 3), {"groups": 2}), r"conv2d: groups 2 must divide .* \(3, 2, 3, 3\)"),
    (((1, 3, 8, 8), (2, 3, 3, 3), {"bias": (3,)}), r"conv2d: bias of shape \(3,\)"),
])
def test_conv2d_errors(args, message):
    x_shape, w_shape, kw = args
    if "bias" in kw:
        kw = dict(kw, bias=tg.zeros(*kw["bias"]))
    with pytest.raises(ValueError, match=message):
        F.conv2d(tg.zeros(*x_shape), tg.zeros(*w_shape), **kw)


def test_conv_transpose2d_errors():
    with pytest.raises(ValueError, match=r"conv_transpose2d: output_padding \(2, 2\) .* stride \(2, 2\)"):
        F.conv_transpose2d(tg.zeros(1, 2, 4, 4), tg.zeros(2, 3, 3, 3), stride=2, output_padding=2)
    with pytest.raises(ValueError, match="conv_transpose2d: input has 3 channels but weight expects 2"):
        F.conv_transpose2d(tg.zeros(1, 3, 4, 4), tg.zeros(2, 3, 3, 3))
    with pytest.raises(TypeError, match="conv2d: stride must be an int or a pair"):
        F.conv2d(tg.zeros(1, 1, 4, 4), tg.zeros(1, 1, 3, 3), stride="two")


def test_zero_size_kernel_is_a_clear_error():
    with pytest.raises(ValueError, match=r"conv2d: kernel size must be positive, got \(0, 3\)"):
        F.conv2d(tg.zeros(1, 1, 4, 4), tg.zeros(2, 1, 0, 3))
