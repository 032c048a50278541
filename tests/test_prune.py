"""tg.compress pruning: masks by |w|, by slice norm, at random and globally; hooks, optimizers,
state_dict, dtypes and errors."""
import copy

import numpy as np
import pytest

import tinygrad_img as tg
import tinygrad_img.functional as F
from tinygrad_img import backend
from tinygrad_img import compress as C
from tinygrad_img import nn


def _net():
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))


def _train_steps(model, opt, steps=3):
    x, y = tg.randn(16, 6), tg.Tensor(np.arange(16) % 3)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()


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


@pytest.mark.parametrize("kw, what", [
    (dict(n="fro"), "ln_structured: n='fro' must be a positive number"),
    (dict(n=0), "ln_structured: n=0 must be a positive number"),
    (dict(n=True), "ln_structured: n=True must be a positive number"),
    (dict(dim=0.5), r"ln_structured: dim=0.5 must be an int in \[-2, 2\) for weight of shape \(2, 3\)"),
    (dict(dim="0"), r"ln_structured: dim='0' must be an int"),
])
def test_ln_structured_refuses_a_bad_norm_or_dim(kw, what):
    lin = nn.Linear(3, 2)
    with pytest.raises(ValueError, match=what):
        C.ln_structured(lin, amount=1, **kw)
    assert not C.is_pruned(lin)


def test_global_unstructured_refuses_entries_that_are_not_module_name_pairs():
    lin = nn.Linear(3, 2)
    for bad, shown in (([lin], "entry 0 is Linear"), ([(lin, "weight"), (lin,)], "entry 1 is tuple"),
                       ([(lin, ["weight"])], "entry 0 is tuple")):
        with pytest.raises(TypeError, match=rf"global_unstructured: parameters must be \(module, name\) pairs.*"
                                            rf"{shown}"):
            C.global_unstructured(bad, 0.5)
    assert not C.is_pruned(lin)


def test_stable_argsort_keeps_ties_in_index_order():
    scores = np.tile(np.array([2.0, 1.0, 0.0]), 100)
    order = backend.stable_argsort(scores)
    expected = np.concatenate([np.arange(2, 300, 3), np.arange(1, 300, 3), np.arange(0, 300, 3)])
    np.testing.assert_array_equal(order, expected)
    lin = nn.Linear(300, 1)
    lin.weight.data[...] = scores
    C.l1_unstructured(lin, amount=150)
    np.testing.assert_array_equal(np.flatnonzero(lin.weight.numpy()[0] == 0), np.sort(expected[:150]))


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


@pytest.mark.parametrize("prune", [lambda m: C.l1_unstructured(m, amount=3),
                                   lambda m: C.ln_structured(m, amount=1, dim=0),
                                   lambda m: C.random_unstructured(m, amount=0.5),
                                   lambda m: C.global_unstructured([(m, "weight")], amount=2)])
def test_mask_keeps_a_float64_weights_dtype(prune):
    lin = nn.Linear(4, 3).double()
    prune(lin)
    assert lin.weight_mask.dtype == np.float64 and lin.weight_orig.dtype == np.float64
    assert lin.weight.dtype == np.float64
    assert lin(tg.ones(2, 4, dtype=np.float64)).dtype == np.float64
    C.l1_unstructured(lin, amount=1)                          # a second round multiplies in place
    assert lin.weight_mask.dtype == np.float64
    assert C.remove(lin).weight.dtype == np.float64


def test_ln_structured_refuses_a_1d_tensor_as_pytorch_does():
    lin = nn.Linear(3, 4)
    with pytest.raises(ValueError, match=r"ln_structured: structured pruning needs a tensor of at least 2 "
                                         r"dimensions, but bias has shape \(4,\)"):
        C.ln_structured(lin, "bias", amount=1, dim=0)
    assert not C.is_pruned(lin)


def test_global_unstructured_refuses_parameters_on_different_devices(monkeypatch):
    a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    on_gpu = b.weight.data                                    # pretend b's weight lives on the GPU
    real = backend.device_of
    monkeypatch.setattr(backend, "device_of", lambda arr: "cuda" if arr is on_gpu else real(arr))
    assert b.weight.device == "cuda" and a.weight.device == "cpu"
    with pytest.raises(ValueError, match=r"global_unstructured: all parameters must be on one device .* "
                                         r"got devices \['cpu', 'cuda'\]"):
        C.global_unstructured([(a, "weight"), (b, "weight")], amount=0.5)
    assert not C.is_pruned(a) and not C.is_pruned(b)


@pytest.mark.gpu
def test_pruning_on_cuda_matches_cpu():
    net = _net()
    gpu = _net().to("cuda")
    gpu.load_state_dict(net.state_dict())
    for m in (net, gpu):
        C.l1_unstructured(m[0], amount=0.5)
        C.ln_structured(m[2], amount=1)
    np.testing.assert_array_equal(gpu[0].weight_mask.numpy(), net[0].weight_mask.numpy())
    np.testing.assert_array_equal(gpu[2].weight_mask.numpy(), net[2].weight_mask.numpy())
    assert gpu[0].weight_mask.device == "cuda"
    x = np.random.randn(4, 6).astype(np.float32)
    np.testing.assert_allclose(gpu(tg.Tensor(x, device="cuda")).numpy(), net(tg.Tensor(x)).numpy(), atol=1e-5)
