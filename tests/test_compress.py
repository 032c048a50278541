"""tg.compress: pruning masks, int8 quantisation (NumPy formula and PyTorch parity), low-rank SVD."""
import copy

import numpy as np
import pytest

import tinygrad_img as tg
import tinygrad_img.functional as F
from tinygrad_img import compress as C
from tinygrad_img import nn
from torch_parity import requires_torch, torch


def _net():
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))


def _train_steps(model, opt, steps=3):
    x, y = tg.randn(16, 6), tg.Tensor(np.arange(16) % 3)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()


# ----- the forward pre-hook that pruning relies on

def test_forward_pre_hook_replaces_inputs_and_is_removable():
    lin = nn.Linear(2, 2, bias=False)
    lin.weight.data[...] = np.eye(2, dtype=np.float32)
    seen = []
    handle = lin.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape) or (args[0] * 2,))
    np.testing.assert_array_equal(lin(tg.ones(1, 2)).numpy(), [[2.0, 2.0]])
    with lin.register_forward_pre_hook(lambda m, args: args[0] + 1):   # a single value also replaces
        np.testing.assert_array_equal(lin(tg.ones(1, 2)).numpy(), [[3.0, 3.0]])
    handle.remove()
    np.testing.assert_array_equal(lin(tg.ones(1, 2)).numpy(), [[1.0, 1.0]])
    assert seen == [(1, 2), (1, 2)]


# ----- pruning

@pytest.mark.parametrize("amount, k", [(0.3, 24), (7, 7), (0.0, 0), (1.0, 80)])
def test_l1_unstructured_zeroes_exactly_the_smallest(amount, k):
    lin = nn.Linear(10, 8)
    w = lin.weight.numpy().copy()
    C.l1_unstructured(lin, "weight", amount)
    expect = np.ones(w.size, np.float32)
    expect[np.argsort(np.abs(w).ravel(), kind="stable")[:k]] = 0
    np.testing.assert_array_equal(lin.weight_mask.numpy().ravel(), expect)
    np.testing.assert_array_equal(lin.weight.numpy(), w * expect.reshape(w.shape))
    assert int((lin.weight.numpy() == 0).sum()) == k
    assert set(dict(lin.named_parameters())) == {"weight_orig", "bias"} and C.is_pruned(lin)


def test_l1_ties_prune_lower_flat_index_first():
    lin = nn.Linear(4, 2, bias=False)
    lin.weight.data[...] = np.array([[1, -1, 1, 2], [0.5, 0.5, -0.5, 3]], np.float32)
    C.l1_unstructured(lin, amount=4)
    np.testing.assert_array_equal(lin.weight_mask.numpy(), [[0, 1, 1, 1], [0, 0, 0, 1]])


def test_repeated_pruning_counts_only_kept_entries():
    lin = nn.Linear(10, 10)
    C.l1_unstructured(lin, amount=0.5)
    first = lin.weight_mask.numpy().copy()
    C.l1_unstructured(lin, amount=0.5)
    assert lin.weight_mask.numpy().sum() == 25 and (lin.weight_mask.numpy() <= first).all()


@pytest.mark.parametrize("n, dim", [(2, 0), (1, 1), (float("inf"), 0)])
def test_ln_structured_zeroes_whole_slices_by_norm(n, dim):
    conv = nn.Conv2d(4, 6, 3)
    w = conv.weight.numpy().copy()
    C.ln_structured(conv, "weight", amount=2, n=n, dim=dim)
    axes = tuple(a for a in range(4) if a != dim)
    norms = np.abs(w).max(axis=axes) if n == float("inf") else (np.abs(w) ** n).sum(axis=axes) ** (1 / n)
    dropped = np.argsort(norms)[:2]
    eff = np.moveaxis(conv.weight.numpy(), dim, 0)
    for j in range(w.shape[dim]):
        if j in dropped:
            assert (eff[j] == 0).all()
        else:
            np.testing.assert_array_equal(eff[j], np.moveaxis(w, dim, 0)[j])
    assert conv(tg.randn(1, 4, 5, 5)).shape == (1, 6, 3, 3)


def test_ln_structured_fraction_and_repeat_count_alive_channels():
    conv = nn.Conv2d(2, 8, 1)
    C.ln_structured(conv, amount=0.25)
    C.ln_structured(conv, amount=0.5)                  # half of the 6 channels left
    zero_channels = (conv.weight.numpy().reshape(8, -1) == 0).all(axis=1)
    assert zero_channels.sum() == 2 + 3


def test_random_unstructured_is_seeded():
    masks = []
    for seed in (1, 1, 2):
        tg.manual_seed(seed)
        lin = nn.Linear(10, 10)
        C.random_unstructured(lin, amount=0.3)
        masks.append(lin.weight_mask.numpy())
    assert masks[0].sum() == 70
    np.testing.assert_array_equal(masks[0], masks[1])
    assert (masks[0] != masks[2]).any()


def test_pruned_gradients_are_zero_and_kept_ones_match():
    net, twin = _net(), _net()
    twin.load_state_dict(net.state_dict())
    C.l1_unstructured(net[0], amount=0.5)
    mask = net[0].weight_mask.numpy()
    twin[0].weight.data[...] *= mask                  # the same effective weights, unpruned
    x = tg.randn(5, 6)
    (net(x) ** 2).sum().backward()
    (twin(x) ** 2).sum().backward()
    g = net[0].weight_orig.grad.numpy()
    assert (g[mask == 0] == 0).all() and (g[mask == 1] != 0).all()
    np.testing.assert_allclose(g, twin[0].weight.grad.numpy() * mask, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(net[0].bias.grad.numpy(), twin[0].bias.grad.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("make_opt", [lambda p: tg.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01),
                                      lambda p: tg.optim.Adam(p, lr=0.05)])
def test_optimizer_steps_keep_pruned_weights_zero(make_opt):
    net = _net()
    opt = make_opt(net.parameters())                   # built BEFORE pruning: weight_orig is the same object
    C.l1_unstructured(net[0], amount=0.6)
    C.ln_structured(net[2], amount=1, dim=0)
    mask0, before = net[0].weight_mask.numpy().copy(), net[0].weight_orig.numpy().copy()
    _train_steps(net, opt)
    net(tg.randn(1, 6))
    assert (net[0].weight.numpy()[mask0 == 0] == 0).all()
    assert (net[2].weight.numpy()[net[2].weight_mask.numpy() == 0] == 0).all()
    assert (net[0].weight_orig.numpy()[mask0 == 1] != before[mask0 == 1]).all()
    assert C.sparsity(net)["0.weight"] == pytest.approx(0.6, abs=1 / 48)


def test_remove_makes_pruning_permanent():
    lin = nn.Linear(5, 4)
    orig = lin.weight
    C.l1_unstructured(lin, amount=10)
    zeroed = lin.weight.numpy() == 0
    C.remove(lin, "weight")
    assert lin.weight is orig and isinstance(lin.weight, nn.Parameter) and lin.weight.requires_grad
    assert set(lin.state_dict()) == {"weight", "bias"} and not C.is_pruned(lin)
    np.testing.assert_array_equal(lin.weight.numpy() == 0, zeroed)
    assert not lin._forward_pre_hooks
    lin(tg.ones(1, 5)).sum().backward()              # trains freely again
    assert (lin.weight.grad.numpy() != 0).all()


def test_state_dict_round_trip_through_a_file(tmp_path):
    net = _net()
    C.l1_unstructured(net[0], amount=0.5)
    sd = net.state_dict()
    assert {"0.weight_orig", "0.weight_mask", "0.bias"} <= set(sd) and "0.weight" not in sd
    tg.save(sd, tmp_path / "pruned.npz")
    other = _net()
    C.l1_unstructured(other[0], amount=0)               # same structure, all-ones mask
    other.load_state_dict(tg.load(tmp_path / "pruned.npz"))
    x = tg.randn(3, 6)
    np.testing.assert_array_equal(other(x).numpy(), net(x).numpy())
    np.testing.assert_array_equal(other[0].weight_mask.numpy(), net[0].weight_mask.numpy())


def test_global_unstructured_prunes_smallest_across_layers():
    net = _net()
    w0, w2 = net[0].weight.numpy().copy(), net[2].weight.numpy().copy()
    C.global_unstructured([(net[0], "weight"), (net[2], "weight")], amount=0.5)
    allw = np.abs(np.concatenate([w0.ravel(), w2.ravel()]))
    threshold = np.sort(allw)[len(allw) // 2 - 1]
    kept = np.concatenate([net[0].weight.numpy().ravel(), net[2].weight.numpy().ravel()]) != 0
    np.testing.assert_array_equal(kept, allw > threshold)
    report = C.sparsity(net)
    assert set(report) == {"0.weight", "0.bias", "2.weight", "2.bias", "total"}
    n = w0.size + w2.size + 8 + 3
    assert report["total"] == pytest.approx((w0.size + w2.size) / 2 / n)
    assert report["0.weight"] != report["2.weight"]


def test_pruning_errors_name_the_function_and_value():
    lin = nn.Linear(3, 2)
    with pytest.raises(ValueError, match=r"l1_unstructured: amount=1.5"):
        C.l1_unstructured(lin, amount=1.5)
    with pytest.raises(ValueError, match=r"l1_unstructured: amount=-0.1"):
        C.l1_unstructured(lin, amount=-0.1)
    with pytest.raises(ValueError, match=r"l1_unstructured: amount=7 is out of range: only 6 can be pruned"):
        C.l1_unstructured(lin, amount=7)
    with pytest.raises(TypeError, match="random_unstructured: amount"):
        C.random_unstructured(lin, amount=True)
    with pytest.raises(ValueError, match=r"no parameter named 'wieght'"):
        C.l1_unstructured(lin, "wieght", 0.5)
    with pytest.raises(ValueError, match="ln_structured: dim=2"):
        C.ln_structured(lin, amount=1, dim=2)
    with pytest.raises(ValueError, match="ln_structured: amount=3 is out of range: only 2 can be pruned"):
        C.ln_structured(lin, amount=3, dim=0)
    with pytest.raises(ValueError, match="remove: parameter 'weight' of Linear is not pruned"):
        C.remove(lin, "weight")
    with pytest.raises(ValueError, match="global_unstructured: parameters is empty"):
        C.global_unstructured([], 0.5)
    assert not C.is_pruned(lin) and set(lin.state_dict()) == {"weight", "bias"}


# ----- quantisation

def _np_quant(x, scale, zp, qmin=-128, qmax=127):
    return np.clip(np.round(x / scale) + zp, qmin, qmax)


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


@requires_torch
@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning")
@pytest.mark.parametrize("symmetric", [False, True])
def test_quantize_matches_torch(symmetric):
    x = (np.random.randn(6, 40) * np.linspace(0.1, 4, 6)[:, None] + 0.3).astype(np.float32)
    scheme = torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine
    obs = torch.ao.quantization.MinMaxObserver(dtype=torch.qint8, qscheme=scheme)
    obs(torch.tensor(x))
    t_scale, t_zp = obs.calculate_qparams()
    q = C.quantize_per_tensor(x, symmetric=symmetric)
    assert float(q.scale) == pytest.approx(float(t_scale), rel=1e-6) and int(q.zero_point) == int(t_zp)
    ref = torch.quantize_per_tensor(torch.tensor(x), float(q.scale), int(q.zero_point), torch.qint8)
    np.testing.assert_array_equal(q.int_repr, ref.int_repr().numpy())
    np.testing.assert_allclose(q.dequantize().numpy(), ref.dequantize().numpy(), rtol=1e-6, atol=1e-7)
    qc = C.quantize_per_channel(x, axis=0, symmetric=symmetric)
    refc = torch.quantize_per_channel(torch.tensor(x), torch.tensor(qc.scale, dtype=torch.float64),
                                      torch.tensor(qc.zero_point), 0, torch.qint8)
    np.testing.assert_array_equal(qc.int_repr, refc.int_repr().numpy())
    u = C.quantize_per_tensor(x, dtype="uint8")
    refu = torch.quantize_per_tensor(torch.tensor(x), float(u.scale), int(u.zero_point), torch.quint8)
    np.testing.assert_array_equal(u.int_repr, refu.int_repr().numpy())


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
    with pytest.raises(ValueError, match="quantize_per_channel: axis=2 is out of range"):
        C.quantize_per_channel(np.ones((2, 3)), axis=2)
    with pytest.raises(ValueError, match=r"must have shape \(2,\)"):
        C.quantize_per_channel(np.ones((2, 3)), scales=[1.0], zero_points=[0])
    with pytest.raises(ValueError, match="quantize_dynamic: types must be among"):
        C.quantize_dynamic(_net(), types=(nn.ReLU,))


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


# ----- low-rank factorisation

@pytest.mark.parametrize("rank", [1, 5, 12])
def test_low_rank_linear_error_is_discarded_singular_values(rank):
    lin = nn.Linear(20, 12)
    w = lin.weight.numpy().astype(np.float64)
    seq = C.low_rank_linear(lin, rank)
    wr = seq[1].weight.numpy().astype(np.float64) @ seq[0].weight.numpy().astype(np.float64)
    s = np.linalg.svd(w, compute_uv=False)
    np.testing.assert_allclose(C.singular_values(lin.weight), s, rtol=1e-12)
    np.testing.assert_allclose(np.sum((w - wr) ** 2), np.sum(s[rank:] ** 2), rtol=1e-4, atol=1e-9)
    assert np.linalg.matrix_rank(wr, tol=1e-4) == rank
    x = tg.randn(7, 20)
    np.testing.assert_allclose(seq(x).numpy(), x.numpy() @ wr.T + lin.bias.numpy(), rtol=1e-4, atol=1e-5)
    assert C.parameter_count(seq) == rank * (20 + 12) + 12 and seq[1].bias is lin.bias
    assert seq[0].bias is None and seq[0].weight.dtype == np.float32


def test_low_rank_energy_fraction_and_errors():
    lin = nn.Linear(8, 8, bias=False)
    lin.weight.data[...] = np.diag([4.0, 3, 2, 1, 0, 0, 0, 0]).astype(np.float32)
    assert C.low_rank_linear(lin, 25 / 30)[0].out_features == 2          # 16 + 9 of 30
    assert C.low_rank_linear(lin, 0.84)[0].out_features == 3
    assert C.low_rank_linear(lin, 1.0)[0].out_features == 4
    with pytest.raises(ValueError, match=r"low_rank_linear: rank=0 is out of range \[1, 8\]"):
        C.low_rank_linear(lin, 0)
    with pytest.raises(ValueError, match=r"rank=9 is out of range"):
        C.low_rank_linear(lin, 9)
    with pytest.raises(ValueError, match=r"energy fraction rank=1.5"):
        C.low_rank_linear(lin, 1.5)
    with pytest.raises(TypeError, match="low_rank_linear: expected an nn.Linear, got Conv2d"):
        C.low_rank_linear(nn.Conv2d(1, 1, 1), 1)


@pytest.mark.gpu
def test_pruning_and_quantisation_on_cuda_match_cpu():
    net = _net()
    gpu = _net().to("cuda")
    gpu.load_state_dict(net.state_dict())
    for m in (net, gpu):
        C.l1_unstructured(m[0], amount=0.5)
        C.ln_structured(m[2], amount=1)
    np.testing.assert_array_equal(gpu[0].weight_mask.numpy(), net[0].weight_mask.numpy())
    np.testing.assert_array_equal(gpu[2].weight_mask.numpy(), net[2].weight_mask.numpy())
    x = np.random.randn(4, 6).astype(np.float32)
    np.testing.assert_allclose(gpu(tg.Tensor(x, device="cuda")).numpy(), net(tg.Tensor(x)).numpy(), atol=1e-5)
    q_cpu, q_gpu = C.quantize_per_channel(net[2].weight, 0), C.quantize_per_channel(gpu[2].weight, 0)
    np.testing.assert_array_equal(q_gpu.int_repr.get(), q_cpu.int_repr)
    assert C.quantize_dynamic(gpu)(tg.Tensor(x, device="cuda")).device == "cuda"


def test_pruned_model_deep_copies_and_quantises_with_its_zeros():
    net = _net()
    C.l1_unstructured(net[0], amount=0.5)
    twin = copy.deepcopy(net)
    C.remove(twin[0])
    assert C.is_pruned(net) and not C.is_pruned(twin) and net[0]._forward_pre_hooks
    x = tg.randn(2, 6)
    np.testing.assert_array_equal(twin(x).numpy(), net(x).numpy())
    q = C.quantize_dynamic(net)
    assert (q[0].weight_int.numpy()[net[0].weight_mask.numpy() == 0] == 0).all()
