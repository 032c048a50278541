"""Layers against PyTorch (forward and gradients with copied weights), default initialisation
statistics against PyTorch's formulas, tg.nn.init and gradient clipping."""
import math

import numpy as np
import pytest

import tinygrad_img as tg
from tinygrad_img import nn
from torch_parity import BWD_TOL, FWD_TOL, requires_torch, torch


def _copy_weights(ours, theirs):
    sd = theirs.state_dict()
    assert set(sd) == set(ours.state_dict()), "parameter/buffer names differ from PyTorch's"
    for k, v in ours.state_dict().items():
        sd[k].copy_(torch.tensor(v.numpy()))


def _parity(ours, theirs, x, train=True, input_grad=True):
    """Same weights and input; compare output, input grad, every param grad and the buffers after."""
    _copy_weights(ours, theirs)
    ours.train(train)
    theirs.train(train)
    xt = tg.Tensor(x, requires_grad=input_grad and x.dtype.kind == "f")
    xp = torch.tensor(x, requires_grad=input_grad and x.dtype.kind == "f")
    out, ref = ours(xt), theirs(xp)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), **FWD_TOL)
    ((out + 1) ** 2).mean().backward()
    ((ref + 1) ** 2).mean().backward()
    if xt.requires_grad:
        np.testing.assert_allclose(xt.grad.numpy(), xp.grad.numpy(), **BWD_TOL)
    their_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name
        np.testing.assert_allclose(p.grad.numpy(), their_params[name].grad.numpy(), **BWD_TOL, err_msg=name)
    their_sd = theirs.state_dict()
    for name, b in ours.named_buffers():
        np.testing.assert_allclose(b.numpy(), their_sd[name].numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


LAYERS = [
    (lambda m: m.Linear(5, 3), (4, 5)),
    (lambda m: m.Linear(5, 3, bias=False), (2, 6, 5)),
    (lambda m: m.Conv2d(3, 4, 3), (2, 3, 7, 6)),
    (lambda m: m.Conv2d(4, 6, (3, 2), stride=2, padding=1, dilation=(1, 2), groups=2, bias=False), (2, 4, 9, 8)),
    (lambda m: m.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1), (2, 4, 4, 5)),
    (lambda m: m.Sequential(m.MaxPool2d(2), m.Flatten()), (2, 3, 6, 7)),
    (lambda m: m.MaxPool2d(3, stride=2, padding=1), (2, 2, 7, 7)),
    (lambda m: m.AvgPool2d(2, stride=1), (2, 3, 5, 5)),
    (lambda m: m.AdaptiveAvgPool2d((2, 3)), (2, 3, 7, 8)),
    (lambda m: m.Upsample(scale_factor=2, mode="nearest"), (1, 2, 3, 4)),
    (lambda m: m.LayerNorm(6), (3, 4, 6)),
    (lambda m: m.LayerNorm((4, 6), elementwise_affine=True), (3, 4, 6)),
    (lambda m: m.Sequential(m.Linear(4, 8), m.LeakyReLU(0.2), m.Linear(8, 8), m.GELU(), m.Linear(8, 3), m.Tanh(),
                            m.Linear(3, 3), m.Sigmoid(), m.Linear(3, 3), m.ReLU(), m.Softmax(dim=-1)), (5, 4)),
    (lambda m: m.Sequential(m.Linear(4, 3), m.LogSoftmax(dim=1)), (5, 4)),
]


@requires_torch
@pytest.mark.parametrize("make,shape", LAYERS)
def test_layer_matches_torch(make, shape):
    _parity(make(nn), make(torch.nn), _x(*shape))


@requires_torch
@pytest.mark.parametrize("make,shape", [(lambda m: m.BatchNorm2d(3), (4, 3, 5, 5)),
                                        (lambda m: m.BatchNorm1d(3), (6, 3)),
                                        (lambda m: m.BatchNorm1d(3, momentum=None), (4, 3, 5)),
                                        (lambda m: m.BatchNorm2d(3, affine=False), (4, 3, 2, 2)),
                                        (lambda m: m.BatchNorm2d(3, track_running_stats=False), (4, 3, 2, 2))])
def test_batchnorm_train_then_eval_matches_torch(make, shape):
    ours, theirs = make(nn), make(torch.nn)
    x = _x(*shape) * 2 + 0.5
    _parity(ours, theirs, x, train=True)
    # a second training batch (stats keep moving), then eval mode on the running statistics
    ours.zero_grad()
    theirs.zero_grad()
    x2 = _x(*shape, seed=1)
    np.testing.assert_allclose(ours.train()(tg.Tensor(x2)).numpy(), theirs.train()(torch.tensor(x2)).detach().numpy(),
                               **FWD_TOL)
    ours.eval(), theirs.eval()
    np.testing.assert_allclose(ours(tg.Tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(), **FWD_TOL)
    for name, b in ours.named_buffers():
        np.testing.assert_allclose(b.numpy(), theirs.state_dict()[name].numpy(), rtol=1e-5, atol=1e-6)


def test_batchnorm_buffers_and_errors():
    bn = nn.BatchNorm2d(3)
    assert [n for n, _ in bn.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    np.testing.assert_array_equal(bn.weight.numpy(), np.ones(3)), np.testing.assert_array_equal(bn.bias.numpy(), 0)
    bn(tg.randn(2, 3, 4, 4))
    bn(tg.randn(2, 3, 4, 4))
    assert int(bn.num_batches_tracked.item()) == 2
    bn.eval()(tg.randn(2, 3, 4, 4))
    assert int(bn.num_batches_tracked.item()) == 2
    with pytest.raises(ValueError, match="4-D"):
        bn(tg.randn(2, 3))
    with pytest.raises(ValueError, match="channels"):
        bn(tg.randn(2, 4, 3, 3))


def test_dropout_train_and_eval():
    d = nn.Dropout(0.25)
    x = tg.ones(200, 100)
    y = d(x).numpy()
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.02
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    d.eval()
    np.testing.assert_array_equal(d(x).numpy(), x.numpy())
    with pytest.raises(ValueError, match="Dropout"):
        nn.Dropout(1.5)


def test_embedding_lookup_and_padding_idx():
    emb = nn.Embedding(6, 3, padding_idx=1)
    np.testing.assert_array_equal(emb.weight.numpy()[1], 0)
    idx = np.array([[0, 1, 5], [1, 1, 2]])
    out = emb(tg.Tensor(idx))
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out.numpy(), emb.weight.numpy()[idx])
    (out * tg.Tensor(_x(2, 3, 3))).sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy()[1], 0)
    assert np.abs(emb.weight.grad.numpy()[[0, 2, 5]]).min() > 0
    np.testing.assert_array_equal(emb.weight.grad.numpy()[[3, 4]], 0)


def test_identity_flatten_shapes():
    x = tg.randn(2, 3, 4, 5)
    assert nn.Identity(7, foo=1)(x) is x
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)


# ----- default initialisation
def _check_uniform(t, bound):
    w = t.numpy().ravel()
    assert np.abs(w).max() <= bound * (1 + 1e-6)
    assert np.abs(w).max() > 0.95 * bound
    assert abs(w.mean()) < 4 * bound / math.sqrt(3 * w.size)
    assert abs(w.std() - bound / math.sqrt(3)) < 0.03 * bound / math.sqrt(3)


@pytest.mark.parametrize("make,fan_in", [(lambda: nn.Linear(300, 200), 300),
                                         (lambda: nn.Conv2d(16, 64, 3), 16 * 9),
                                         (lambda: nn.Conv2d(16, 64, (3, 5), groups=4), 4 * 15),
                                         (lambda: nn.ConvTranspose2d(64, 16, 3), 16 * 9)])
def test_default_init_is_pytorch_formula(make, fan_in):
    layer = make()
    bound = 1 / math.sqrt(fan_in)        # kaiming_uniform(a=sqrt(5)): gain sqrt(1/3) * sqrt(3 / fan_in)
    _check_uniform(layer.weight, bound)
    b = layer.bias.numpy()
    assert np.abs(b).max() <= bound and np.unique(b).size == b.size


@requires_torch
def test_default_init_spread_equals_torch():
    for make in (lambda m: m.Linear(300, 200), lambda m: m.Conv2d(16, 64, 3), lambda m: m.ConvTranspose2d(64, 16, 3)):
        ours, theirs = make(nn).weight.numpy(), make(torch.nn).weight.detach().numpy()
        assert abs(ours.std() / theirs.std() - 1) < 0.03
        assert abs(np.abs(ours).max() / np.abs(theirs).max() - 1) < 0.01


def test_embedding_and_norm_init():
    w = nn.Embedding(500, 64).weight.numpy()
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1) < 0.02
    ln = nn.LayerNorm((3, 4))
    np.testing.assert_array_equal(ln.weight.numpy(), np.ones((3, 4)))
    np.testing.assert_array_equal(ln.bias.numpy(), np.zeros((3, 4)))


def test_init_is_reproducible_with_manual_seed():
    tg.manual_seed(42)
    a = nn.Linear(4, 4).weight.numpy()
    tg.manual_seed(42)
    b = nn.Linear(4, 4).weight.numpy()
    c = nn.Linear(4, 4).weight.numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)


def test_init_functions():
    init = nn.init
    t = tg.zeros(400, 300)
    init.kaiming_normal_(t, nonlinearity="relu")
    assert abs(t.numpy().std() - math.sqrt(2 / 300)) < 0.02 * math.sqrt(2 / 300)
    init.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu")
    _check_uniform(t, math.sqrt(2) * math.sqrt(3 / 400))
    init.xavier_uniform_(t, gain=2.0)
    _check_uniform(t, 2.0 * math.sqrt(6 / 700))
    init.xavier_normal_(t)
    assert abs(t.numpy().std() - math.sqrt(2 / 700)) < 0.02 * math.sqrt(2 / 700)
    init.normal_(t, 3.0, 0.5)
    assert abs(t.numpy().mean() - 3) < 0.01 and abs(t.numpy().std() - 0.5) < 0.01
    init.uniform_(t, -2, 1)
    assert t.numpy().min() >= -2 and t.numpy().max() < 1
    init.ones_(t)
    assert (t.numpy() == 1).all()
    init.zeros_(t)
    assert (t.numpy() == 0).all()
    for shape in ((5, 3), (3, 2, 2, 2)):
        q = init.orthogonal_(tg.zeros(*shape), gain=1.5).numpy().reshape(shape[0], -1)
        gram = q @ q.T if q.shape[0] <= q.shape[1] else q.T @ q
        np.testing.assert_allclose(gram, 2.25 * np.eye(gram.shape[0]), atol=1e-5)
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    d = tg.zeros(3, 3, dtype="float64")
    init.normal_(d)
    assert d.dtype == np.float64 and d.numpy().std() > 0
    with pytest.raises(ValueError, match="2 dims"):
        init.xavier_uniform_(tg.zeros(5))
    with pytest.raises(ValueError, match="nonlinearity"):
        init.calculate_gain("swish")


# ----- gradient clipping
def _params_with_grads(grads):
    ps = [nn.Parameter(np.zeros_like(g)) for g in grads]
    for p, g in zip(ps, grads):
        p.grad = tg.Tensor(g.copy())
    return ps


@requires_torch
@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_clip_grad_norm_matches_torch(norm_type):
    grads = [_x(3, 4) * 3, _x(5, seed=1)]
    ps = _params_with_grads(grads)
    qs = [torch.nn.Parameter(torch.zeros(g.shape)) for g in grads]
    for q, g in zip(qs, grads):
        q.grad = torch.tensor(g.copy())
    total = nn.utils.clip_grad_norm_(ps, 1.5, norm_type=norm_type)
    ref = torch.nn.utils.clip_grad_norm_(qs, 1.5, norm_type=norm_type)
    assert total == pytest.approx(float(ref), rel=1e-5)
    for p, q in zip(ps, qs):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_clipping_hand_computed_and_never_in_place():
    shared = np.array([3.0, 4.0], np.float32)
    a, b = nn.Parameter(np.zeros(2, np.float32)), nn.Parameter(np.zeros(2, np.float32))
    a.grad = tg.Tensor(shared)
    b.grad = tg.Tensor(shared)                      # two grads aliasing one array
    total = nn.utils.clip_grad_norm_([a, b], 1.0)
    assert total == pytest.approx(math.sqrt(50))
    np.testing.assert_allclose(a.grad.numpy(), shared / (math.sqrt(50) + 1e-6), rtol=1e-6)
    np.testing.assert_array_equal(shared, [3.0, 4.0])
    assert nn.utils.clip_grad_norm_([a, b], 10.0) < 10.0     # below max_norm: unchanged
    np.testing.assert_allclose(a.grad.numpy(), shared / (math.sqrt(50) + 1e-6), rtol=1e-6)
    b.grad = tg.Tensor(shared)
    nn.utils.clip_grad_value_([b], 3.5)
    np.testing.assert_array_equal(b.grad.numpy(), [3.0, 3.5])
    np.testing.assert_array_equal(shared, [3.0, 4.0])
    assert nn.utils.clip_grad_norm_([nn.Parameter(np.zeros(1, np.float32))], 1.0) == 0.0
