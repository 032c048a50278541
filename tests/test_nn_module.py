"""Module discovery, state_dict round trips, strict/non-strict loading and the containers."""
from collections import OrderedDict

import numpy as np
import pytest

import tinygrad_img as tg
from tinygrad_img import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.norm = nn.BatchNorm1d(4)
        self.register_buffer("scratch", np.zeros(2, np.float32), persistent=False)

    def forward(self, x):
        return self.norm(self.fc(x)).relu()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([Block(), Block()])
        self.heads = nn.ModuleDict({"a": nn.Linear(4, 2), "b": nn.Linear(4, 1, bias=False)})
        self.scale = nn.Parameter(np.ones(1, np.float32))
        self.tied = self.heads["a"]            # the same module under a second name
        self.not_a_param = np.zeros(3)         # plain attributes are not discovered

    def forward(self, x):
        return self.heads["a"](self.blocks[1].fc(self.blocks[0](x)[:, :3])) * self.scale


def test_named_parameters_discovers_lists_dicts_and_dedups():
    names = [n for n, _ in Net().named_parameters()]
    assert names == ["scale", "blocks.0.fc.weight", "blocks.0.fc.bias", "blocks.0.norm.weight",
                     "blocks.0.norm.bias", "blocks.1.fc.weight", "blocks.1.fc.bias", "blocks.1.norm.weight",
                     "blocks.1.norm.bias", "heads.a.weight", "heads.a.bias", "heads.b.weight"]
    assert sum(p.size for p in Net().parameters()) == 1 + 2 * (12 + 4 + 4 + 4) + 10 + 4


def test_state_dict_has_persistent_buffers_only():
    sd = Net().state_dict()
    assert "blocks.0.norm.running_mean" in sd and "blocks.1.norm.num_batches_tracked" in sd
    assert not any("scratch" in k for k in sd)
    assert sd["blocks.0.norm.num_batches_tracked"].dtype == np.int64


def test_state_dict_round_trip_gives_identical_outputs():
    a, b = Net(), Net()
    x = tg.randn(5, 3)
    a.train()
    a.blocks[0](x)                     # moves running stats away from their init
    b.load_state_dict(a.state_dict())
    a.eval(), b.eval()
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb
        np.testing.assert_array_equal(va.numpy(), vb.numpy())
    # values were copied, not aliased
    assert a.blocks[0].fc.weight.data is not b.blocks[0].fc.weight.data


def test_strict_load_names_every_problem_and_changes_nothing():
    net = Net()
    before = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    sd = {k: v.numpy() + 1 for k, v in net.state_dict().items()}
    del sd["scale"], sd["heads.b.weight"]
    sd["extra.weight"] = np.zeros(3, np.float32)
    sd["blocks.0.fc.weight"] = np.zeros((4, 5), np.float32)
    with pytest.raises(ValueError) as e:
        net.load_state_dict(sd)
    msg = str(e.value)
    for key in ("scale", "heads.b.weight", "extra.weight", "blocks.0.fc.weight", "(4, 5)", "(4, 3)"):
        assert key in msg
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])


def test_non_strict_reports_keys_but_still_rejects_shape_mismatch():
    net = Net()
    sd = {k: v.numpy() * 0 for k, v in net.state_dict().items() if k != "scale"}
    sd["extra"] = np.zeros(1, np.float32)
    missing, unexpected = net.load_state_dict(sd, strict=False)
    assert missing == ["scale"] and unexpected == ["extra"]
    assert float(abs(net.heads["a"].weight.data).sum()) == 0.0
    sd["heads.a.bias"] = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="heads.a.bias"):
        net.load_state_dict(sd, strict=False)


def test_load_rejects_float_into_int_buffer():
    bn = nn.BatchNorm1d(2)
    sd = {k: v.numpy() for k, v in bn.state_dict().items()}
    sd["num_batches_tracked"] = np.array(1.5)
    with pytest.raises(ValueError, match="num_batches_tracked"):
        bn.load_state_dict(sd)


def test_train_eval_propagate_and_zero_grad():
    net = Net()
    net.eval()
    assert all(not m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net(tg.randn(2, 3)).sum().backward()
    assert net.scale.grad is not None
    net.zero_grad(set_to_none=False)
    assert float(net.scale.grad.numpy().sum()) == 0.0
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_to_moves_in_place_and_casts():
    net = Net()
    params = list(net.parameters())
    assert net.to("cpu") is net
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]
    net.double()
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net.blocks[0].norm.num_batches_tracked.dtype == np.int64
    assert net(tg.randn(2, 3, dtype="float64")).dtype == np.float64


def test_repr_lists_children():
    text = repr(nn.Sequential(nn.Linear(2, 3), nn.ReLU()))
    assert text == ("Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=True)\n"
                    "  (1): ReLU()\n)")


def test_sequential_container_ops():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3 and seq[0] is layers[0] and seq[-1] is layers[2]
    assert list(seq) == layers
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[1] is layers[1]
    x = tg.randn(4, 2)
    np.testing.assert_allclose(seq(x).numpy(), layers[2](layers[1](layers[0](x))).numpy())
    seq.append(nn.Sigmoid())
    assert len(seq) == 4 and [n for n, _ in seq.named_parameters()][-1] == "2.bias"
    del seq[1]
    assert [type(m).__name__ for m in seq] == ["Linear", "Linear", "Sigmoid"]
    named = nn.Sequential(OrderedDict(fc=nn.Linear(2, 2), act=nn.Tanh()))
    assert named["fc"] is named[0] and "fc.weight" in named.state_dict()
    with pytest.raises(IndexError):
        seq[5]
    with pytest.raises(TypeError, match="Module"):
        seq.append(lambda x: x)


def test_modulelist_and_moduledict():
    ml = nn.ModuleList([nn.Linear(1, 1)])
    ml.extend([nn.ReLU(), nn.Tanh()])
    ml.insert(0, nn.Identity())
    assert [type(m).__name__ for m in ml] == ["Identity", "Linear", "ReLU", "Tanh"]
    assert [n for n, _ in ml.named_parameters()] == ["1.weight", "1.bias"]
    md = nn.ModuleDict()
    md["x"] = nn.Linear(1, 2)
    md.update({"y": nn.ReLU()})
    assert list(md.keys()) == ["x", "y"] and "x" in md and len(md) == 2
    assert [n for n, _ in md.named_parameters()] == ["x.weight", "x.bias"]


def test_module_without_super_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)
    with pytest.raises(RuntimeError, match="super"):
        Bad()


@pytest.mark.gpu
def test_to_cuda_moves_in_place_and_runs():
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    x = tg.randn(5, 3)
    net.eval()
    expected = net(x).numpy()
    params = list(net.parameters())
    assert net.to("cuda") is net
    assert all(p.device == "cuda" for p in net.parameters())
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]
    assert all(b.device == "cuda" for b in net.buffers())
    np.testing.assert_allclose(net(x.to("cuda")).numpy(), expected, rtol=1e-5, atol=1e-6)
    net.load_state_dict({k: v.numpy() for k, v in net.state_dict().items()})
    assert all(p.device == "cuda" for p in net.parameters())
    tg.nn.init.kaiming_uniform_(net[0].weight)
    assert net[0].weight.device == "cuda"


def test_zero_grad_with_zeros_keeps_float64_after_double():
    m = nn.Linear(3, 2).double()
    m(tg.Tensor(np.ones((4, 3)), dtype=np.float64)).sum().backward()
    m.zero_grad(set_to_none=False)
    for p in m.parameters():
        assert p.grad.dtype == np.float64 and p.grad.shape == p.shape and not p.grad.numpy().any()


def test_parameter_copies_an_array_but_tensor_shares_it():
    arr = np.ones(3, np.float32)
    p = nn.Parameter(arr)
    with tg.no_grad():
        p.data -= 0.5  # what an optimizer step does
    np.testing.assert_array_equal(arr, [1.0, 1.0, 1.0])
    assert p.requires_grad and p.dtype == np.float32
    t = tg.Tensor(arr)
    arr[0] = 3.0
    assert t.numpy()[0] == 3.0


def test_module_to_accepts_a_dtype_first():
    m = nn.Linear(3, 2)
    assert m.to("float64") is m
    assert all(p.dtype == np.float64 for p in m.parameters())
    m.to(np.float32)
    assert all(p.dtype == np.float32 for p in m.parameters())


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
