"""PyTorch parity (float32, forward and backward) of every core op with hypothesis-drawn shapes."""
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_img as tg
import tinygrad_img.functional as F
from torch_parity import check_parity, requires_torch, torch

pytestmark = requires_torch
SETTINGS = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
if torch is not None:
    TF = torch.nn.functional

seeds = st.integers(0, 2 ** 31 - 1)
shapes = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4)
pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4)


def arr(seed, shape, kind="normal"):
    """float32 data of a given kind: normal, positive (0.5..2), away (|x| in 0.3..1.5), distinct."""
    rng = np.random.default_rng(seed)
    if kind == "positive":
        a = rng.uniform(0.5, 2.0, shape)
    elif kind == "away":
        a = rng.uniform(0.3, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
    elif kind == "distinct":
        n = int(np.prod(shape))
        a = (rng.permutation(n) * 0.25 + rng.uniform(-0.05, 0.05, n)).reshape(shape) - n * 0.1
    else:
        a = rng.standard_normal(shape)
    return np.asarray(a, dtype=np.float32)


# ----- binary ops with broadcasting
BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b, "normal", "normal"),
    "sub": (lambda a, b: a - b, lambda a, b: a - b, "normal", "normal"),
    "mul": (lambda a, b: a * b, lambda a, b: a * b, "normal", "normal"),
    "div": (lambda a, b: a / b, lambda a, b: a / b, "normal", "away"),
    "pow": (lambda a, b: a ** b, lambda a, b: a ** b, "positive", "normal"),
    "maximum": (tg.maximum, lambda a, b: torch.maximum(a, b), "distinct", "distinct"),
    "minimum": (tg.minimum, lambda a, b: torch.minimum(a, b), "distinct", "distinct"),
    "where": (lambda a, b: tg.where(a > 0, a, b), lambda a, b: torch.where(a > 0, a, b), "away", "normal"),
}


@pytest.mark.parametrize("name", list(BINARY))
@SETTINGS
@given(shape_pair=pairs, seed=seeds)
def test_binary(name, shape_pair, seed):
    ours, theirs, ka, kb = BINARY[name]
    sa, sb = shape_pair.input_shapes
    a, b = arr(seed, sa, ka), arr(seed + 1, sb, kb)
    if ka == "distinct":
        b = b + np.float32(0.11)
    check_parity(ours, theirs, [a, b])


@pytest.mark.parametrize("name", ["radd", "rsub", "rmul", "rdiv", "rpow", "square"])
@SETTINGS
@given(shape=shapes, seed=seeds)
def test_scalar_operands(name, shape, seed):
    fn = {"radd": lambda x: 2 + x, "rsub": lambda x: 2.5 - x, "rmul": lambda x: 0.5 * x,
          "rdiv": lambda x: 1.5 / x, "rpow": lambda x: 1.7 ** x, "square": lambda x: x ** 2}[name]
    check_parity(fn, fn, [arr(seed, shape, "positive")])


# ----- unary ops and activations
UNARY = {
    "neg": (lambda x: -x, lambda x: -x, "normal"),
    "abs": (lambda x: x.abs(), lambda x: x.abs(), "away"),
    "exp": (lambda x: x.exp(), lambda x: x.exp(), "normal"),
    "log": (lambda x: x.log(), lambda x: x.log(), "positive"),
    "sqrt": (lambda x: x.sqrt(), lambda x: x.sqrt(), "positive"),
    "tanh": (lambda x: x.tanh(), lambda x: x.tanh(), "normal"),
    "sigmoid": (lambda x: x.sigmoid(), lambda x: x.sigmoid(), "normal"),
    "relu": (lambda x: x.relu(), lambda x: x.relu(), "away"),
    "F.relu": (F.relu, lambda x: TF.relu(x), "away"),
    "F.leaky_relu": (lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2), "away"),
    "F.sigmoid": (F.sigmoid, lambda x: torch.sigmoid(x), "normal"),
    "F.tanh": (F.tanh, lambda x: torch.tanh(x), "normal"),
    "F.gelu": (F.gelu, lambda x: TF.gelu(x), "normal"),
    "F.gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh"), "normal"),
    "clip": (lambda x: x.clip(-0.5, 0.8), lambda x: x.clamp(-0.5, 0.8), "away"),
    "softmax": (lambda x: x.softmax(axis=-1), lambda x: x.softmax(dim=-1), "normal"),
    "F.softmax0": (lambda x: F.softmax(x, axis=0), lambda x: TF.softmax(x, dim=0), "normal"),
    "log_softmax": (lambda x: x.log_softmax(), lambda x: x.log_softmax(dim=-1), "normal"),
    "F.log_softmax0": (lambda x: F.log_softmax(x, 0), lambda x: TF.log_softmax(x, 0), "normal"),
}


@pytest.mark.parametrize("name", list(UNARY))
@SETTINGS
@given(shape=shapes, seed=seeds)
def test_unary(name, shape, seed):
    ours, theirs, kind = UNARY[name]
    check_parity(ours, theirs, [arr(seed, shape, kind)])


# ----- reductions
@st.composite
def shape_and_axis(draw):
    shape = draw(shapes)
    nd = len(shape)
    axis = draw(st.one_of(st.none(), st.integers(-nd, nd - 1),
                          st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True).map(tuple)))
    return shape, axis, draw(st.booleans())


def _dims(axis, nd):
    return tuple(range(nd)) if axis is None else axis


REDUCTIONS = {
    "sum": (lambda x, a, k: x.sum(axis=a, keepdims=k), lambda x, a, k: x.sum(dim=_dims(a, x.ndim), keepdim=k)),
    "mean": (lambda x, a, k: x.mean(axis=a, keepdims=k), lambda x, a, k: x.mean(dim=_dims(a, x.ndim), keepdim=k)),
    "max": (lambda x, a, k: x.max(axis=a, keepdims=k), lambda x, a, k: x.amax(dim=_dims(a, x.ndim), keepdim=k)),
    "min": (lambda x, a, k: x.min(axis=a, keepdims=k), lambda x, a, k: x.amin(dim=_dims(a, x.ndim), keepdim=k)),
    "var": (lambda x, a, k: x.var(axis=a, keepdims=k),
            lambda x, a, k: x.var(dim=_dims(a, x.ndim), keepdim=k, correction=0)),
    "var_unbiased": (lambda x, a, k: x.var(axis=a, keepdims=k, unbiased=True),
                     lambda x, a, k: x.var(dim=_dims(a, x.ndim), keepdim=k, correction=1)),
    "std": (lambda x, a, k: x.std(axis=a, keepdims=k, correction=1),
            lambda x, a, k: x.std(dim=_dims(a, x.ndim), keepdim=k, correction=1)),
}


@pytest.mark.parametrize("name", list(REDUCTIONS))
@SETTINGS
@given(case=shape_and_axis(), seed=seeds)
def test_reduction(name, case, seed):
    shape, axis, keepdims = case
    ours, theirs = REDUCTIONS[name]
    x = arr(seed, shape, "distinct")
    if name in ("var_unbiased", "std"):
        axes = (axis,) if isinstance(axis, int) else _dims(axis, len(shape))
        assume(np.prod([shape[a] for a in axes]) >= 2)  # n - 1 = 0: PyTorch's result is nan
    check_parity(lambda t: ours(t, axis, keepdims), lambda t: theirs(t, axis, keepdims), [x])


# ----- shape ops
@pytest.mark.parametrize("name", ["reshape", "flatten", "transpose", "permute", "T", "squeeze", "unsqueeze",
                                  "expand", "getitem_repeated", "getitem_mask", "getitem_slices"])
@SETTINGS
@given(shape=hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=4), seed=seeds)
def test_shape_ops(name, shape, seed):
    x = arr(seed, shape)
    nd = len(shape)
    perm = tuple(np.random.default_rng(seed).permutation(nd).tolist())
    idx = [0, shape[0] - 1, 0]
    mask = np.random.default_rng(seed).random(shape) > 0.4
    ours, theirs = {
        "reshape": (lambda t: t.reshape(-1, shape[-1]), lambda t: t.reshape(-1, shape[-1])),
        "flatten": (lambda t: t.flatten(1), lambda t: t.flatten(1)),
        "transpose": (lambda t: t.transpose(0, -1), lambda t: t.transpose(0, -1)),
        "permute": (lambda t: t.permute(*perm), lambda t: t.permute(*perm)),
        "T": (lambda t: t.T, lambda t: t.permute(*reversed(range(nd)))),
        "squeeze": (lambda t: t.unsqueeze(1).squeeze(1), lambda t: t.unsqueeze(1).squeeze(1)),
        "unsqueeze": (lambda t: t.unsqueeze(-1), lambda t: t.unsqueeze(-1)),
        "expand": (lambda t: t[:1].expand(3, *shape[1:]), lambda t: t[:1].expand(3, *shape[1:])),
        "getitem_repeated": (lambda t: t[idx] * 2 + t[:, [0, 0]].sum(), lambda t: t[idx] * 2 + t[:, [0, 0]].sum()),
        "getitem_mask": (lambda t: t[mask], lambda t: t[torch.from_numpy(mask)]),
        "getitem_slices": (lambda t: t[::-1][..., :2], lambda t: t.flip(0)[..., :2]),
    }[name]
    check_parity(ours, theirs, [x])


@SETTINGS
@given(shape=shapes, seed=seeds, n=st.integers(1, 3), data=st.data())
def test_concatenate_stack(shape, seed, n, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    xs = [arr(seed + i, shape) for i in range(n)]
    check_parity(lambda *t: tg.concatenate(t, axis=axis), lambda *t: torch.cat(t, dim=axis), xs)
    check_parity(lambda *t: tg.stack(t, axis=axis), lambda *t: torch.stack(t, dim=axis), xs)


@SETTINGS
@given(shape=shapes, seed=seeds, data=st.data())
def test_pad(shape, seed, data):
    width = [tuple(data.draw(st.integers(0, 2)) for _ in range(2)) for _ in shape]
    value = data.draw(st.sampled_from([0.0, 1.5]))
    flat = [w for pair in reversed(width) for w in pair]
    check_parity(lambda t: tg.pad(t, width, value=value), lambda t: TF.pad(t, flat, value=value),
                 [arr(seed, shape)])


# ----- matmul and linear
@SETTINGS
@given(seed=seeds, data=st.data())
def test_matmul(seed, data):
    m, k, n = (data.draw(st.integers(1, 5)) for _ in range(3))
    batch = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3))
    sa, sb = batch.input_shapes[0] + (m, k), batch.input_shapes[1] + (k, n)
    sa = sa if data.draw(st.booleans()) else (k,)
    check_parity(lambda a, b: a @ b, lambda a, b: a @ b, [arr(seed, sa), arr(seed + 1, sb)])


@SETTINGS
@given(seed=seeds, lead=hnp.array_shapes(min_dims=0, max_dims=2, max_side=3), bias=st.booleans(),
       sizes=st.tuples(st.integers(1, 6), st.integers(1, 6)))
def test_linear(seed, lead, bias, sizes):
    fin, fout = sizes
    arrays = [arr(seed, lead + (fin,)), arr(seed + 1, (fout, fin))] + ([arr(seed + 2, (fout,))] if bias else [])
    check_parity(F.linear, TF.linear, arrays)


# ----- losses
@st.composite
def classification(draw):
    n, c = draw(st.integers(1, 5)), draw(st.integers(2, 5))
    spatial = draw(st.sampled_from([(), (2,), (2, 3)]))
    return n, c, spatial, draw(seeds)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@SETTINGS
@given(case=classification(), smoothing=st.sampled_from([0.0, 0.15]), weighted=st.booleans(),
       probs=st.booleans(), ignore=st.booleans())
def test_cross_entropy(reduction, case, smoothing, weighted, probs, ignore):
    n, c, spatial, seed = case
    rng = np.random.default_rng(seed)
    logits = arr(seed, (n, c) + spatial)
    w = rng.uniform(0.5, 2, c).astype(np.float32) if weighted else None
    tw = None if w is None else torch.tensor(w)
    if probs:
        target = np.moveaxis(rng.dirichlet(np.ones(c), (n,) + spatial), -1, 1).astype(np.float32)
        kw = {}
    else:
        target = rng.integers(0, c, (n,) + spatial)
        if ignore and n > 1:
            target[0] = -1  # sample 0 is ignored; the others keep the mean defined
        kw = dict(ignore_index=-1)
    check_parity(lambda x, t: F.cross_entropy(x, t, weight=w, reduction=reduction, label_smoothing=smoothing, **kw),
                 lambda x, t: TF.cross_entropy(x, t, weight=tw, reduction=reduction, label_smoothing=smoothing, **kw),
                 [logits, target], grad=[True, False])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@SETTINGS
@given(case=classification(), weighted=st.booleans())
def test_nll_loss(reduction, case, weighted):
    n, c, spatial, seed = case
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.5, 2, c).astype(np.float32) if weighted else None
    tw = None if w is None else torch.tensor(w)
    target = rng.integers(0, c, (n,) + spatial)
    check_parity(lambda x, t: F.nll_loss(F.log_softmax(x, axis=1), t, weight=w, reduction=reduction),
                 lambda x, t: TF.nll_loss(TF.log_softmax(x, dim=1), t, weight=tw, reduction=reduction),
                 [arr(seed, (n, c) + spatial), target], grad=[True, False])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", ["mse", "l1", "bce", "bce_logits"])
@SETTINGS
@given(shape=shapes, seed=seeds, weighted=st.booleans())
def test_regression_and_binary_losses(name, reduction, shape, seed, weighted):
    rng = np.random.default_rng(seed)
    x = arr(seed, shape)
    t = arr(seed + 1, shape)
    w = rng.uniform(0.5, 2, shape[-1:]).astype(np.float32) if weighted else None
    tw = None if w is None else torch.tensor(w)
    if name == "mse":
        pair = (lambda a, b: F.mse_loss(a, b, reduction=reduction), lambda a, b: TF.mse_loss(a, b, reduction=reduction))
    elif name == "l1":
        t = x + arr(seed + 1, shape, "away")
        pair = (lambda a, b: F.l1_loss(a, b, reduction=reduction), lambda a, b: TF.l1_loss(a, b, reduction=reduction))
    elif name == "bce":
        x = rng.uniform(0.05, 0.95, shape).astype(np.float32)
        t = rng.uniform(0, 1, shape).astype(np.float32)
        pair = (lambda a, b: F.binary_cross_entropy(a, b, weight=w, reduction=reduction),
                lambda a, b: TF.binary_cross_entropy(a, b, weight=tw, reduction=reduction))
    else:
        t = rng.uniform(0, 1, shape).astype(np.float32)
        pw = rng.uniform(0.5, 3, shape[-1:]).astype(np.float32)
        pair = (lambda a, b: F.binary_cross_entropy_with_logits(a, b, weight=w, reduction=reduction, pos_weight=pw),
                lambda a, b: TF.binary_cross_entropy_with_logits(a, b, weight=tw, reduction=reduction,
                                                                 pos_weight=torch.tensor(pw)))
    check_parity(*pair, [x, t])


@pytest.mark.parametrize("name", ["argmax", "argmin", "gt", "le", "eq", "ne"])
@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), seed=seeds, keepdim=st.booleans())
def test_ops_without_gradient(name, shape, seed, keepdim):
    x = arr(seed, shape, "distinct")
    y = arr(seed + 1, shape, "distinct")
    y.reshape(-1)[::2] = x.reshape(-1)[::2]  # some equal elements for eq / ne / le
    ours, theirs = {
        "argmax": (lambda a, b: a.argmax(axis=-1, keepdims=keepdim), lambda a, b: a.argmax(dim=-1, keepdim=keepdim)),
        "argmin": (lambda a, b: a.argmin(axis=0, keepdims=keepdim), lambda a, b: a.argmin(dim=0, keepdim=keepdim)),
        "gt": (lambda a, b: a > b, lambda a, b: a > b),
        "le": (lambda a, b: a <= b, lambda a, b: a <= b),
        "eq": (lambda a, b: a == b, lambda a, b: a == b),
        "ne": (lambda a, b: a != b, lambda a, b: a != b),
    }[name]
    out = ours(tg.Tensor(x), tg.Tensor(y))
    ref = theirs(torch.tensor(x), torch.tensor(y))
    assert not out.requires_grad and out.shape == tuple(ref.shape)
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
