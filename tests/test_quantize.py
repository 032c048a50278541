"""tg.compress quantisation: the NumPy formula, bit-for-bit PyTorch parity (observer parameters
and integer values), quantised layers, float64 layers and errors."""
import re

import numpy as np
import pytest

import tinygrad_img as tg
import tinygrad_img.functional as F
from tinygrad_img import compress as C
from tinygrad_img import nn
from torch_parity import requires_torch, torch


def _net():
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))


def _np_quant(x, scale, zp, qmin=-128, qmax=127):
    """The documented order, in float32: round(x * (1 / scale) + zero_point), the zero point
    added BEFORE rounding (as PyTorch)."""
    inv = np.float32(1) / np.asarray(scale, np.float32)
    return np.clip(np.round(x * inv + np.asarray(zp, np.float32)), qmin, qmax)


def test_reference_adds_the_zero_point_before_rounding():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5], np.float32)
    q = C.quantize_per_tensor(x, scale=1.0, zero_point=1)
    np.testing.assert_array_equal(q.int_repr, [2, 2, 4, 0, 0])
    np.testing.assert_array_equal(_np_quant(x, 1.0, 1), q.int_repr)


@pytest.mark.parametrize("symmetric", [False, True])
def test_quantize_per_tensor_matches_formula_and_error_bound(symmetric):
    x = (np.random.randn(500) * 3 + 1).astype(np.float32)
    q = C.quantize_per_tensor(x, symmetric=symmetric)
    scale, zp = float(q.scale), int(q.zero_point)
    lo, hi = min(x.min(), 0), max(x.max(), 0)
    if symmetric:
        assert zp == 0 and scale == pytest.approx(max(-lo, hi) / 127.5, rel=1e-6)
    else:
        assert scale == pytest.approx((hi - lo) / 255, rel=1e-6) and zp == -128 - round(lo / scale)
    assert q.int_repr.dtype == np.int8 and q.shape == x.shape
    np.testing.assert_array_equal(q.int_repr, _np_quant(x, scale, zp))
    err = np.abs(q.dequantize().numpy() - x)
    assert err.max() <= scale / 2 * (1 + 1e-4)


def test_quantize_rounds_half_to_even_and_saturates():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 200.0, -200.0], np.float32)
    q = C.quantize_per_tensor(x, scale=1.0, zero_point=0)
    np.testing.assert_array_equal(q.int_repr, [0, 2, 2, 0, -2, 127, -128])
    u = C.quantize_per_tensor(x, scale=0.5, zero_point=10, dtype="uint8")
    np.testing.assert_array_equal(u.int_repr, [11, 13, 15, 9, 7, 255, 0])
    assert u.int_repr.dtype == np.uint8


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_quantize_per_channel_matches_formula(axis):
    x = (np.random.randn(4, 5, 3) * np.arange(1, 6)[None, :, None]).astype(np.float32)
    q = C.quantize_per_channel(x, axis=axis)
    ax = axis % 3
    shape = [1, 1, 1]
    shape[ax] = -1
    scale, zp = q.scale.reshape(shape), q.zero_point.reshape(shape)
    assert q.scale.shape == (x.shape[ax],) and q.axis == ax
    np.testing.assert_array_equal(q.int_repr, _np_quant(x, scale, zp))
    assert (np.abs(q.dequantize().numpy() - x) <= scale / 2 * (1 + 1e-4)).all()


def _parity_tensors(seed):
    """Seeded float32 tensors of shape (4, 37): plain random ranges (some all >= 0, some all <= 0,
    one all zero), ranges whose min / scale is an exact .5 tie (power-of-two scales), and values
    right at or next to quantisation ties for the scale the observer will derive."""
    rng = np.random.default_rng(seed)
    kind = seed % 4
    if kind == 0:
        x = rng.normal(rng.uniform(-2, 2), rng.uniform(0.01, 5), (4, 37))
        return (np.abs(x) * np.sign(seed % 3 - 1) if seed % 3 != 1 else x).astype(np.float32)
    s = 2.0 ** -int(rng.integers(2, 8))
    if kind == 1:   # affine: lo = -(k + 0.5) s, hi = lo + 255 s, so lo / scale = -(k + 0.5) exactly
        k = int(rng.integers(0, 254))
        x = rng.uniform(-(k + 0.5) * s, (254.5 - k) * s, (4, 37))
        x[:, 0], x[:, 1] = -(k + 0.5) * s, (254.5 - k) * s
        return x.astype(np.float32)
    if kind == 2:   # exact ties x = (j + 0.5) s for a power-of-two scale (symmetric max 127.5 s)
        x = (rng.integers(-128, 127, (4, 37)) + 0.5) * s
        x[:, 0], x[:, 1] = -127.5 * s, 127.5 * s
        return x.astype(np.float32)
    x = rng.uniform(-3, 1, (4, 37)).astype(np.float32)   # near ties: a few float32 ulps from them
    x[:, 0], x[:, 1] = -3.0, 1.0
    step = 4.0 / 255
    ties = (np.floor(x[:, 2:] / step) + 0.5) * step
    x[:, 2:] = np.clip(ties * (1 + rng.integers(-3, 4, ties.shape) * 2.0 ** -24), -3.0, 1.0)
    return x.astype(np.float32)


@requires_torch
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("dtype", ["int8", "uint8"])
@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_quantize_matches_torch_bit_for_bit(dtype, symmetric, axis):
    tdtype = {"int8": torch.qint8, "uint8": torch.quint8}[dtype]
    obs_cls = torch.ao.quantization
    tensors = [_parity_tensors(seed) for seed in range(24)]
    tensors += [np.zeros((4, 37), np.float32), np.array([[-8.52222, 1, 3]] * 4, np.float32)]
    for x in tensors:
        xt = torch.tensor(x)
        if axis is None:
            scheme = torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine
            obs = obs_cls.MinMaxObserver(dtype=tdtype, qscheme=scheme)
            q = C.quantize_per_tensor(x, dtype=dtype, symmetric=symmetric)
        else:
            scheme = torch.per_channel_symmetric if symmetric else torch.per_channel_affine
            obs = obs_cls.PerChannelMinMaxObserver(ch_axis=axis, dtype=tdtype, qscheme=scheme)
            q = C.quantize_per_channel(x, axis=axis, dtype=dtype, symmetric=symmetric)
        obs(xt)
        t_scale, t_zp = obs.calculate_qparams()
        np.testing.assert_array_equal(q.scale, t_scale.numpy().astype(np.float32))     # bitwise
        assert q.scale.dtype == np.float32
        np.testing.assert_array_equal(q.zero_point, t_zp.numpy())
        if axis is None:
            ref = torch.quantize_per_tensor(xt, float(t_scale), int(t_zp), tdtype)
        else:
            ref = torch.quantize_per_channel(xt, t_scale.double(), t_zp.long(), axis, tdtype)
        np.testing.assert_array_equal(q.int_repr, ref.int_repr().numpy())
        assert q.int_repr.dtype == ref.int_repr().numpy().dtype
        np.testing.assert_allclose(q.dequantize().numpy(), ref.dequantize().numpy(), rtol=1e-6, atol=1e-7)


def test_zero_point_is_added_before_the_single_rounding():
    q = C.quantize_per_tensor(np.array([-8.52222, 1, 3], np.float32), dtype="uint8", symmetric=True)
    np.testing.assert_array_equal(q.int_repr, [1, 143, 173])   # PyTorch's values
    x = np.array([0.5, 1.5, -0.5, 2.5], np.float32)            # x / scale + zp = 3.5, 4.5, 2.5, 5.5
    for quant in (lambda v: C.quantize_per_tensor(v, scale=1.0, zero_point=3, dtype="uint8"),
                  lambda v: C.quantize_per_channel(v[None], 0, scales=[1.0], zero_points=[3], dtype="uint8")):
        np.testing.assert_array_equal(quant(x).int_repr.ravel(), [4, 4, 2, 6])


def test_quantize_errors():
    x = np.ones(3, np.float32)
    with pytest.raises(ValueError, match="quantize_per_tensor: dtype must be 'int8' or 'uint8', got 'int4'"):
        C.quantize_per_tensor(x, dtype="int4")
    with pytest.raises(ValueError, match="give both scale and zero_point"):
        C.quantize_per_tensor(x, scale=0.1)
    with pytest.raises(ValueError, match="quantize_per_tensor: scale must be positive"):
        C.quantize_per_tensor(x, scale=-1.0, zero_point=0)
    with pytest.raises(ValueError, match=r"zero_point 300 is outside \[-128, 127\]"):
        C.quantize_per_tensor(x, scale=1.0, zero_point=300)
    with pytest.raises(ValueError, match=r"quantize_per_channel: axis=2 must be an int in \[-2, 2\) for a tensor "
                                         r"of shape \(2, 3\)"):
        C.quantize_per_channel(np.ones((2, 3)), axis=2)
    with pytest.raises(ValueError, match=r"must have shape \(2,\)"):
        C.quantize_per_channel(np.ones((2, 3)), scales=[1.0], zero_points=[0])
    with pytest.raises(ValueError, match="quantize_dynamic: types must be among"):
        C.quantize_dynamic(_net(), types=(nn.ReLU,))


@pytest.mark.parametrize("axis", [None, 0.5, "0", True])
def test_quantize_per_channel_refuses_a_non_int_axis(axis):
    with pytest.raises(ValueError, match=rf"^quantize_per_channel: axis={re.escape(repr(axis))} must be an int"):
        C.quantize_per_channel(np.ones((2, 3), np.float32), axis=axis)


@pytest.mark.parametrize("dtype", [["int8"], None, {"int8"}])
def test_quantize_refuses_a_dtype_that_is_not_a_name(dtype):
    for quantize in (C.quantize_per_tensor, C.quantize_per_channel):
        with pytest.raises(ValueError, match=rf"^{quantize.__name__}: dtype must be 'int8' or 'uint8', "
                                             rf"got {re.escape(repr(dtype))}$"):
            quantize(np.ones((2, 3), np.float32), dtype=dtype)


@pytest.mark.filterwarnings("error")
def test_non_finite_input_is_refused_before_any_arithmetic():
    x = np.array([[0.5, np.nan, 1.0], [np.inf, 2.0, -1.0]], np.float32)
    with pytest.raises(ValueError, match=r"^quantize_per_tensor: x has 2 non-finite value\(s\), the first "
                                         r"x.ravel\(\)\[1\] = nan \(shape \(2, 3\)\); the scale and zero point"):
        C.quantize_per_tensor(x)
    with pytest.raises(ValueError, match=r"^quantize_per_channel: x has 2 non-finite value\(s\)"):
        C.quantize_per_channel(x, axis=0)
    with pytest.raises(ValueError, match=r"^quantize_per_tensor: x has 1 non-finite .* NaN has no integer value"):
        C.quantize_per_tensor(x, scale=0.1, zero_point=0)
    with pytest.raises(ValueError, match=r"^quantize_per_tensor: scale must be positive and finite, got nan"):
        C.quantize_per_tensor(x[:, 2], scale=float("nan"), zero_point=0)
    q = C.quantize_per_tensor(np.array([np.inf, -np.inf, 1.0], np.float32), scale=0.5, zero_point=0)
    np.testing.assert_array_equal(q.int_repr, [127, -128, 2])   # infinities saturate with a given scale


def test_nbytes_counts_the_integers_scales_and_zero_points():
    x = np.random.default_rng(0).normal(size=(4, 5, 3)).astype(np.float32)
    assert C.quantize_per_tensor(x).nbytes == 60 * 1 + 4 + 8      # int8 values, float32 scale, int64 zero point
    q = C.quantize_per_channel(x, axis=1, dtype="uint8")
    assert q.nbytes == 60 * 1 + 5 * 4 + 5 * 8


def _digits_flat():
    (x, y), (xt, yt) = tg.data.datasets.load_digits()
    return x.reshape(len(x), -1), y, xt.reshape(len(xt), -1), yt


def _accuracy(model, x, y):
    with tg.no_grad():
        return float((model(tg.Tensor(x)).numpy().argmax(1) == y).mean())


def test_quantized_mlp_keeps_digits_accuracy():
    x, y, xt, yt = _digits_flat()
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = tg.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(8):
        for xb, yb in tg.data.DataLoader((x, y), batch_size=64, shuffle=True):
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
    acc = _accuracy(model, xt, yt)
    before = model[0].weight.numpy().copy()
    qmodel = C.quantize_dynamic(model)
    assert isinstance(qmodel[0], C.QuantizedLinear) and isinstance(model[0], nn.Linear)
    np.testing.assert_array_equal(model[0].weight.numpy(), before)            # a copy by default
    qacc = _accuracy(qmodel, xt, yt)
    assert acc > 0.9 and abs(acc - qacc) <= 0.02, (acc, qacc)
    assert qmodel[0].weight_int.dtype == np.int8
    assert C.model_size_bytes(qmodel) < 0.35 * C.model_size_bytes(model)
    np.testing.assert_allclose(qmodel[0].weight.numpy(), before,
                               atol=float(qmodel[0].weight_scale.numpy().max()) / 2 * 1.001)
    again = C.quantize_dynamic(nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)))
    again.load_state_dict(qmodel.state_dict())
    np.testing.assert_array_equal(again(tg.Tensor(xt[:5])).numpy(), qmodel(tg.Tensor(xt[:5])).numpy())


def test_quantized_conv2d_equals_conv_with_dequantised_weight():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, stride=2), nn.ReLU())
    q = C.quantize_dynamic(net, types=(nn.Conv2d,), inplace=True)
    assert q is net and isinstance(net[0], C.QuantizedConv2d)
    assert isinstance(net[0].weight_quantized, C.QuantizedTensor) and net[0].weight_quantized.axis == 0
    x = tg.randn(2, 3, 7, 7)
    ref = F.conv2d(x, net[0].weight, net[0].bias, stride=2, padding=1).relu()
    np.testing.assert_array_equal(net(x).numpy(), ref.numpy())
    bare = C.quantize_dynamic(nn.Linear(3, 2))
    assert isinstance(bare, C.QuantizedLinear) and bare(tg.ones(1, 3)).shape == (1, 2)


@pytest.mark.parametrize("layer", [lambda: nn.Linear(5, 3), lambda: nn.Conv2d(2, 3, 3)])
def test_quantised_layer_follows_double(layer):
    q = C.quantize_dynamic(layer(), types=(nn.Linear, nn.Conv2d)).double()
    assert q.weight_int.dtype == np.int8 and q.weight_scale.dtype == np.float64
    assert q.weight.dtype == np.float64 and q.weight_quantized.dequantize().dtype == np.float64
    x = tg.ones(1, 5, dtype=np.float64) if isinstance(q, C.QuantizedLinear) else tg.ones(1, 2, 4, 4, dtype=np.float64)
    out = q(x)
    assert out.dtype == np.float64 and np.isfinite(out.numpy()).all()
    single = q.float()
    assert single.weight.dtype == np.float32 and single(x.float()).dtype == np.float32
    before = C.quantize_dynamic(layer().double(), types=(nn.Linear, nn.Conv2d))   # quantised after .double()
    assert before.weight.dtype == np.float64 and before(x).dtype == np.float64


def test_scale_zero_point_pairing_errors_show_what_was_given():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"quantize_per_channel: give both scales and zero_points, or neither "
                                         r"\(got scales: shape \(2,\), zero_points: None\)"):
        C.quantize_per_channel(x, 0, scales=[0.1, 0.2])
    with pytest.raises(ValueError, match=r"got scales: None, zero_points: shape \(3,\)"):
        C.quantize_per_channel(x, 1, zero_points=[0, 0, 0])
    with pytest.raises(ValueError, match=r"got scale=0.1, zero_point=None"):
        C.quantize_per_tensor(x, scale=0.1)
    with pytest.raises(ValueError, match=r"quantize_per_channel: zero_point 999 is outside \[-128, 127\]"):
        C.quantize_per_channel(x, 0, scales=[0.1, 0.2], zero_points=[0, 999])


@pytest.mark.gpu
def test_quantisation_on_cuda_matches_cpu():
    net = _net()
    gpu = _net().to("cuda")
    gpu.load_state_dict(net.state_dict())
    x = np.random.randn(4, 6).astype(np.float32)
    q_cpu, q_gpu = C.quantize_per_channel(net[2].weight, 0), C.quantize_per_channel(gpu[2].weight, 0)
    np.testing.assert_array_equal(q_gpu.int_repr.get(), q_cpu.int_repr)
    np.testing.assert_array_equal(q_gpu.scale.get(), q_cpu.scale)
    t_cpu = C.quantize_per_tensor(net[0].weight, dtype="uint8")
    t_gpu = C.quantize_per_tensor(gpu[0].weight, dtype="uint8")
    np.testing.assert_array_equal(t_gpu.int_repr.get(), t_cpu.int_repr)
    assert C.quantize_dynamic(gpu)(tg.Tensor(x, device="cuda")).device == "cuda"
