"""float64 central-difference gradient checks of every core op and loss.

``check`` runs ``tg.gradcheck`` and then asserts, for float64 and float32
inputs alike, that every gradient has its input's shape and dtype and that a
float32 forward stays float32.
"""
import numpy as np
import pytest
from scipy.special import expit

import tinygrad_img as tg
import tinygrad_img.functional as F
from array_spy import Spy, spy_tensor
from tinygrad_img.ops import activation as act, elementwise as ew, reduce as red
from torch_parity import requires_torch, torch

RNG = np.random.default_rng(1234)


def normal(shape):
    return RNG.standard_normal(shape)


def positive(shape):
    return RNG.uniform(0.5, 2.0, shape)


def away_from_zero(shape):
    return RNG.uniform(0.3, 1.5, shape) * RNG.choice([-1.0, 1.0], shape)


def distinct(shape):
    """Well-separated values (no ties, no kinks within eps) for max/min."""
    n = int(np.prod(shape))
    return (RNG.permutation(n) * 0.1 + RNG.uniform(-0.02, 0.02, n)).reshape(shape) - n * 0.05


def _outs(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _grads_match_inputs(fn, arrays, grad, dtype):
    ts = [tg.Tensor(a, dtype=dtype, requires_grad=g) if np.asarray(a).dtype.kind == "f" else tg.Tensor(a)
          for a, g in zip(arrays, grad)]
    outs = _outs(fn(*ts))
    loss = None
    for o in outs:
        if o.dtype.kind == "f":
            assert o.dtype == dtype, f"forward gave {o.dtype} for {np.dtype(dtype)} inputs"
            term = (o * tg.Tensor(RNG.standard_normal(o.shape), dtype=dtype)).sum()
            loss = term if loss is None else loss + term
    loss.backward()
    for i, (t, g) in enumerate(zip(ts, grad)):
        if g:
            assert t.grad is not None, f"input {i} got no gradient"
            assert t.grad.shape == t.shape, f"input {i}: grad shape {t.grad.shape} != {t.shape}"
            assert t.grad.dtype == t.dtype, f"input {i}: grad dtype {t.grad.dtype} != {t.dtype}"


def check(fn, *arrays, grad=None, **tol):
    arrays = [np.asarray(a) for a in arrays]
    grad = [a.dtype.kind == "f" for a in arrays] if grad is None else grad
    ts = [tg.Tensor(a, dtype=np.float64, requires_grad=g) if a.dtype.kind == "f" else tg.Tensor(a)
          for a, g in zip(arrays, grad)]
    assert tg.gradcheck(fn, ts, **tol)
    _grads_match_inputs(fn, arrays, grad, np.float64)
    _grads_match_inputs(fn, arrays, grad, np.float32)


# ----- binary elementwise ops over broadcast shape pairs
BROADCAST_PAIRS = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((2, 1, 3), (4, 1)),
    ((5, 1, 4, 1), (5, 3, 4, 6)),
    ((1, 3, 1, 7, 1), (2, 1, 5, 1, 8)),
    ((), (2, 3)),
    ((2, 3), ()),
    ((), ()),
]
BINARY = {
    "add": (lambda a, b: a + b, normal, normal),
    "sub": (lambda a, b: a - b, normal, normal),
    "mul": (lambda a, b: a * b, normal, normal),
    "div": (lambda a, b: a / b, normal, away_from_zero),
    "pow": (lambda a, b: a ** b, positive, normal),
    "maximum": (tg.maximum, distinct, distinct),
    "minimum": (tg.minimum, distinct, distinct),
    "where": (lambda a, b: tg.where(a > 0, a, b * 2.0), away_from_zero, normal),
}


@pytest.mark.parametrize("sa, sb", BROADCAST_PAIRS, ids=[f"{a}x{b}" for a, b in BROADCAST_PAIRS])
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_broadcast(name, sa, sb):
    fn, gen_a, gen_b = BINARY[name]
    a, b = gen_a(sa), gen_b(sb)
    if name in ("maximum", "minimum"):
        b = b + 0.033  # never equal to an element of a
    check(fn, a, b)


@pytest.mark.parametrize("fn", [
    lambda x: x + 2, lambda x: 2 - x, lambda x: x * 3.5, lambda x: 1.5 / x, lambda x: x / 4,
    lambda x: x ** 2, lambda x: x ** 0.5, lambda x: 2.0 ** x, lambda x: -x,
], ids=["add", "rsub", "mul", "rdiv", "div", "square", "sqrt_pow", "rpow", "neg"])
def test_ops_with_python_scalars(fn):
    check(fn, positive((3, 2)))


# ----- unary ops and activations
UNARY = {
    "exp": (lambda x: x.exp(), normal),
    "log": (lambda x: x.log(), positive),
    "sqrt": (lambda x: x.sqrt(), positive),
    "abs": (lambda x: abs(x), away_from_zero),
    "abs_method": (lambda x: x.abs(), away_from_zero),
    "tanh": (lambda x: x.tanh(), normal),
    "sigmoid": (lambda x: x.sigmoid(), normal),
    "relu": (lambda x: x.relu(), away_from_zero),
    "F.relu": (F.relu, away_from_zero),
    "F.leaky_relu": (lambda x: F.leaky_relu(x, 0.1), away_from_zero),
    "F.sigmoid": (F.sigmoid, normal),
    "F.tanh": (F.tanh, normal),
    "F.gelu": (F.gelu, normal),
    "F.gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), normal),
    "clip": (lambda x: x.clip(-0.5, 0.7), away_from_zero),
    "clip_min": (lambda x: x.clamp(min=0.1), away_from_zero),
    "softmax": (lambda x: x.softmax(), normal),
    "softmax_axis0": (lambda x: F.softmax(x, axis=0), normal),
    "log_softmax": (lambda x: x.log_softmax(), normal),
    "log_softmax_dim1": (lambda x: F.log_softmax(x, dim=1), normal),
}


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary(name, shape):
    fn, gen = UNARY[name]
    check(fn, gen(shape))


@pytest.mark.parametrize("name", [n for n in UNARY if "softmax" not in n])
def test_unary_0d(name):
    fn, gen = UNARY[name]
    check(fn, gen(()))


def test_sigmoid_stable_for_large_inputs():
    x = tg.tensor([-1000.0, -50.0, 0.0, 50.0, 1000.0], requires_grad=True)
    y = F.sigmoid(x)
    np.testing.assert_allclose(y.numpy(), [0.0, expit(-50.0), 0.5, 1.0, 1.0], rtol=1e-4)
    y.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    check(F.sigmoid, np.array([-30.0, -8.0, 8.0, 30.0]))


def test_log_softmax_stable_for_large_inputs():
    x = tg.tensor([[1000.0, 0.0, -1000.0]], requires_grad=True)
    y = F.log_softmax(x)
    np.testing.assert_allclose(y.numpy(), [[0.0, -1000.0, -2000.0]])
    y.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()


# ----- reductions
REDUCTIONS = {
    "sum": lambda x, ax, kd: x.sum(axis=ax, keepdims=kd),
    "mean": lambda x, ax, kd: x.mean(axis=ax, keepdims=kd),
    "max": lambda x, ax, kd: x.max(axis=ax, keepdims=kd),
    "min": lambda x, ax, kd: x.min(axis=ax, keepdims=kd),
    "var": lambda x, ax, kd: x.var(axis=ax, keepdims=kd),
    "var_ddof1": lambda x, ax, kd: x.var(axis=ax, keepdims=kd, ddof=1),
    "std": lambda x, ax, kd: x.std(axis=ax, keepdims=kd),
}
AXES = [None, 0, -1, 1, (0, 2), (-1, -3), ()]
# the variance over no axis is identically 0 (std's gradient there is 0/0), so () is for sums/extrema
REDUCTION_CASES = [(n, a) for n in REDUCTIONS for a in AXES if not (a == () and n in ("var", "var_ddof1", "std"))]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name, axis", REDUCTION_CASES, ids=[f"{n}-{a}" for n, a in REDUCTION_CASES])
def test_reduction(name, axis, keepdims):
    fn = REDUCTIONS[name]
    check(lambda x: fn(x, axis, keepdims), distinct((3, 4, 5)))


def test_reduction_dim_keepdim_aliases():
    check(lambda x: x.sum(dim=1, keepdim=True) + x.mean(dim=-1, keepdim=True), normal((3, 4)))


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min"])
@pytest.mark.parametrize("axis", [None, 0, -1], ids=str)
def test_reduction_of_0d(name, axis):
    check(lambda x: REDUCTIONS[name](x, axis, False), np.array(1.3))


def test_max_ties_share_gradient():
    x = tg.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]], requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0.5, 0.5], [0.5, 0, 0.5]])


def test_reduction_bad_axis_is_reported():
    with pytest.raises(ValueError, match="sum: axis 3 is out of range for a tensor with 2 dims"):
        tg.zeros(2, 3).sum(axis=3)


# ----- shape ops
SHAPE_OPS = {
    "reshape": (lambda x: x.reshape(4, 6), (2, 3, 4)),
    "reshape_tuple_infer": (lambda x: x.reshape((-1, 3)), (2, 3, 4)),
    "view": (lambda x: x.view(6, 4), (2, 3, 4)),
    "flatten": (lambda x: x.flatten(), (2, 3, 4)),
    "flatten_start1": (lambda x: x.flatten(start_dim=1), (2, 3, 4)),
    "transpose_all": (lambda x: x.transpose(), (2, 3, 4)),
    "transpose_perm": (lambda x: x.transpose(1, 2, 0), (2, 3, 4)),
    "transpose_swap": (lambda x: x.transpose(0, 2), (2, 3, 4)),
    "transpose_2d_torch": (lambda x: x.transpose(0, 1) * 2 + x.transpose(-2, -1), (3, 4)),
    "permute": (lambda x: x.permute(2, 0, 1), (2, 3, 4)),
    "T": (lambda x: x.T, (3, 4)),
    "squeeze": (lambda x: x.squeeze(), (2, 1, 4, 1)),
    "squeeze_axis": (lambda x: x.squeeze(1), (2, 1, 4, 1)),
    "unsqueeze": (lambda x: x.unsqueeze(1), (2, 3)),
    "unsqueeze_neg": (lambda x: x.unsqueeze(-1), (2, 3)),
    "expand": (lambda x: x.expand(2, 3, 4), (3, 1)),
    "expand_keep": (lambda x: x.expand(-1, 5), (3, 1)),
    "broadcast_to": (lambda x: x.broadcast_to((2, 4, 3)), (4, 1)),
    "pad_int": (lambda x: tg.pad(x, 1), (2, 3)),
    "pad_pairs": (lambda x: tg.pad(x, ((0, 0), (1, 2)), value=0.5), (2, 3)),
}


@pytest.mark.parametrize("name", list(SHAPE_OPS))
def test_shape_op(name):
    fn, shape = SHAPE_OPS[name]
    check(fn, normal(shape))


def test_transpose_two_axes_of_matrix_is_matrix_transpose():
    m = tg.tensor([[1.0, 2.0, 3.0]])
    assert m.transpose(0, 1).shape == (3, 1) and m.transpose(1, 0).shape == (3, 1)


MASK = np.array([[True, False, True, True], [False, False, True, False], [True, True, False, False]])
INDEXING = {
    "int": lambda x: x[1],
    "neg_int": lambda x: x[-1, -2],
    "slices": lambda x: x[:, 1:3],
    "step": lambda x: x[::-1, ::2],
    "ellipsis_none": lambda x: x[..., None, 1],
    "int_array_repeated": lambda x: x[[0, 2, 2, 0]],
    "int_array_2d": lambda x: x[np.array([[0, 1], [1, 1]])],
    "int_array_axis1_repeated": lambda x: x[:, [1, 1, 3]],
    "two_int_arrays_repeated": lambda x: x[[0, 0, 2], [1, 1, 3]],
    "tensor_index": lambda x: x[tg.tensor([2, 0, 2])],
    "bool_mask": lambda x: x[MASK],
    "bool_tensor_mask": lambda x: x[tg.tensor(MASK)],
}


@pytest.mark.parametrize("name", list(INDEXING))
def test_getitem(name):
    check(INDEXING[name], normal((3, 4)))


def test_getitem_repeated_indices_accumulate():
    x = tg.zeros(3, requires_grad=True)
    x[[0, 2, 2, 2]].sum().backward()
    assert x.grad.tolist() == [1.0, 0.0, 3.0]


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_and_stack(axis):
    a, b, c = normal((2, 3)), normal((2, 3)), normal((2, 3))
    check(lambda x, y, z: tg.concatenate([x, y, z], axis=axis), a, b, c)
    check(lambda x, y, z: tg.stack([x, y, z], axis=axis), a, b, c)


def test_cat_of_different_sizes():
    check(lambda x, y: tg.cat([x, y], dim=1), normal((2, 3)), normal((2, 5)))


# ----- matmul and linear
MATMUL_SHAPES = [((3, 4), (4, 2)), ((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((4,), (4, 3)),
                 ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4,))]


@pytest.mark.parametrize("sa, sb", MATMUL_SHAPES, ids=[f"{a}@{b}" for a, b in MATMUL_SHAPES])
def test_matmul(sa, sb):
    check(lambda a, b: a @ b, normal(sa), normal(sb))
    check(tg.matmul, normal(sa), normal(sb))


@pytest.mark.parametrize("x_shape", [(4, 3), (2, 4, 3), (3,)], ids=str)
@pytest.mark.parametrize("bias", [True, False])
def test_linear(x_shape, bias):
    args = [normal(x_shape), normal((5, 3))] + ([normal(5)] if bias else [])
    check(F.linear, *args)


def test_functional_ops_accept_plain_arrays_as_weights():
    x, w, b = normal((2, 3)).astype(np.float32), normal((4, 3)), normal(4)
    y = F.linear(tg.Tensor(x), w, b)
    np.testing.assert_allclose(y.numpy(), x @ w.T + b, rtol=1e-5, atol=1e-6)
    h = np.zeros((2, 5), np.float32)
    w_ih, w_hh = normal((20, 3)).astype(np.float32), normal((20, 5)).astype(np.float32)
    h1, c1 = F.lstm_cell(x, h, h, w_ih, w_hh)
    ref_h1, ref_c1 = F.lstm_cell(tg.Tensor(x), tg.Tensor(h), tg.Tensor(h), tg.Tensor(w_ih), tg.Tensor(w_hh))
    np.testing.assert_allclose(h1.numpy(), ref_h1.numpy())
    np.testing.assert_allclose(c1.numpy(), ref_c1.numpy())
    assert F.gru_cell(x, h, w_ih[:15], w_hh[:15]).shape == (2, 5)
    assert F.rnn_cell(x, h, w_ih[:5], w_hh[:5]).shape == (2, 5)


# ----- non-contiguous inputs (transposed views inside the graph)
NONCONTIG = {
    "exp": lambda x: x.T.exp(),
    "sum_axis": lambda x: x.transpose(1, 0, 2).sum(axis=1),
    "max_axis": lambda x: x.permute(2, 0, 1).max(axis=-1),
    "reshape": lambda x: x.transpose().reshape(-1),
    "softmax": lambda x: x.transpose(0, 2).softmax(axis=1),
    "log_softmax": lambda x: x.transpose(0, 2).log_softmax(axis=-1),
    "matmul": lambda x: x.transpose(0, 2, 1) @ x,
    "getitem": lambda x: x.T[[0, 0, 2]],
    "mul_bcast": lambda x: x.T * x[0].T.unsqueeze(-1),
    "linear": lambda x: F.linear(x.transpose(0, 2, 1), x[0].T),
    "cross_entropy": lambda x: F.cross_entropy(x.transpose(0, 2, 1).reshape(8, 3)[::2], np.array([0, 2, 1, 1])),
}


@pytest.mark.parametrize("name", list(NONCONTIG))
def test_non_contiguous_input(name):
    check(NONCONTIG[name], distinct((2, 3, 4)) * 0.1)


# ----- losses
N, C = 5, 4
LOGITS = normal((N, C))
TARGET = np.array([0, 3, 1, 1, 2])
TARGET_IGNORED = np.array([0, -1, 1, 1, -1])
PROBS = RNG.dirichlet(np.ones(C), N)
CLASS_W = np.array([0.5, 2.0, 1.0, 1.5])
REDS = ["mean", "sum", "none"]


@pytest.mark.parametrize("reduction", REDS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weight", [None, CLASS_W], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("ignore", [False, True], ids=["all", "ignore_index"])
def test_cross_entropy_class_indices(reduction, label_smoothing, weight, ignore):
    target = TARGET_IGNORED if ignore else TARGET
    kw = dict(weight=weight, reduction=reduction, label_smoothing=label_smoothing)
    if ignore:
        kw["ignore_index"] = -1
    check(lambda x: F.cross_entropy(x, target, **kw), LOGITS)


@pytest.mark.parametrize("reduction", REDS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("weight", [None, CLASS_W], ids=["unweighted", "weighted"])
def test_cross_entropy_probability_targets(reduction, label_smoothing, weight):
    check(lambda x: F.cross_entropy(x, PROBS, weight=weight, reduction=reduction,
                                    label_smoothing=label_smoothing), LOGITS)


@pytest.mark.parametrize("reduction", REDS)
def test_cross_entropy_spatial(reduction):
    target = RNG.integers(0, 3, (2, 2, 3))
    check(lambda x: F.cross_entropy(x, target, reduction=reduction), normal((2, 3, 2, 3)))
    probs = RNG.dirichlet(np.ones(3), (2, 2, 3)).transpose(0, 3, 1, 2)
    check(lambda x: F.cross_entropy(x, probs, reduction=reduction), normal((2, 3, 2, 3)))


@pytest.mark.parametrize("reduction", REDS)
@pytest.mark.parametrize("weight", [None, CLASS_W], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("ignore", [False, True], ids=["all", "ignore_index"])
def test_nll_loss(reduction, weight, ignore):
    target = TARGET_IGNORED if ignore else TARGET
    kw = dict(weight=weight, reduction=reduction, ignore_index=-1 if ignore else -100)
    check(lambda x: F.nll_loss(x, target, **kw), LOGITS)
    check(lambda x: F.nll_loss(F.log_softmax(x, axis=1), target, **kw), LOGITS)


@pytest.mark.parametrize("reduction", REDS)
def test_mse_and_l1(reduction):
    a, b = normal((3, 4)), normal((3, 4))
    check(lambda x, t: F.mse_loss(x, t, reduction=reduction), a, b)
    check(lambda x, t: F.l1_loss(x, t, reduction=reduction), a, a + away_from_zero((3, 4)))


@pytest.mark.parametrize("reduction", REDS)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy(reduction, weighted):
    p, t = RNG.uniform(0.05, 0.95, (3, 4)), RNG.uniform(0, 1, (3, 4))
    w = positive((4,)) if weighted else None
    check(lambda x, y: F.binary_cross_entropy(x, y, weight=w, reduction=reduction), p, t)


@pytest.mark.parametrize("reduction", REDS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("pos_weight", [None, np.array([0.5, 1.0, 2.0, 3.0])], ids=["no_pos_w", "pos_w"])
def test_binary_cross_entropy_with_logits(reduction, weighted, pos_weight):
    x, t = normal((3, 4)) * 3, RNG.uniform(0, 1, (3, 4))
    w = positive((3, 1)) if weighted else None
    check(lambda a, b: F.binary_cross_entropy_with_logits(a, b, weight=w, reduction=reduction,
                                                          pos_weight=pos_weight), x, t)


@requires_torch
def test_binary_cross_entropy_of_saturated_probabilities_matches_torch():
    """float32 sigmoid(20) == 1 exactly: the loss and gradient stay finite, as in PyTorch."""
    x = np.array([20.0, -20.0, 0.5, -104.0], np.float32)
    t = np.array([1.0, 0.0, 1.0, 1.0], np.float32)
    w = np.array([1.0, 2.0, 0.5, 1.5], np.float32)
    ours = tg.Tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    loss = F.binary_cross_entropy(F.sigmoid(ours), t, weight=w)
    ref = torch.nn.functional.binary_cross_entropy(torch.sigmoid(theirs), torch.tensor(t), weight=torch.tensor(w))
    loss.backward()
    ref.backward()
    np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-5)
    assert np.isfinite(ours.grad.numpy()).all()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-4, atol=1e-7)
    p = np.array([0.0, 1.0, 1.0, 0.3], np.float32)  # exact 0 and 1 probabilities, grads w.r.t. p and t
    ours_p, ours_t = tg.Tensor(p, requires_grad=True), tg.Tensor(t, requires_grad=True)
    theirs_p, theirs_t = torch.tensor(p, requires_grad=True), torch.tensor(t, requires_grad=True)
    loss = F.binary_cross_entropy(ours_p, ours_t, reduction="sum")
    ref = torch.nn.functional.binary_cross_entropy(theirs_p, theirs_t, reduction="sum")
    loss.backward()
    ref.backward()
    np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-6)
    np.testing.assert_allclose(ours_p.grad.numpy(), theirs_p.grad.numpy(), rtol=1e-5)
    # dl/dt is the derivative of the clamped loss: +-100 where PyTorch's unclamped formula gives +-inf
    np.testing.assert_allclose(ours_t.grad.numpy(), [100.0, -100.0, -100.0, theirs_t.grad[3].item()], rtol=1e-5)


def test_stable_sigmoid_and_softplus_helpers():
    x = np.array([-1000.0, -30.0, -1.0, 0.0, 2.0, 1000.0], np.float32)
    from scipy.special import expit
    np.testing.assert_allclose(act.stable_sigmoid(x), expit(x.astype(np.float64)), rtol=1e-6)
    ref = np.logaddexp(0.0, x.astype(np.float64))
    np.testing.assert_allclose(act.softplus(x), ref, rtol=1e-6)
    assert act.stable_sigmoid(x).dtype == np.float32 and act.softplus(x).dtype == np.float32


@pytest.mark.parametrize("op", ["maximum", "minimum", "max", "min"])
def test_max_backward_has_no_float64_temporaries(op):
    a = spy_tensor(np.array([[1.0, 2.0, 3.0], [3.0, 0.0, 5.0]], np.float32))
    if op in ("maximum", "minimum"):
        b = tg.Tensor(np.array([1.0, 0.0, 5.0], np.float32), requires_grad=True)
        y = (ew.Maximum if op == "maximum" else ew.Minimum)()(a, b)
    else:
        y = red.Max(1, False, op == "max")(a)
    y.backward(np.ones(y.shape, np.float32))
    assert a.grad.dtype == np.float32
    assert {d for _, d, _ in Spy.log} <= {np.dtype(np.float32), np.dtype(bool)}, Spy.log


def test_bce_with_logits_stable_for_large_logits():
    x = tg.tensor([-200.0, 200.0], requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(x, [1.0, 0.0], reduction="none")
    np.testing.assert_allclose(loss.numpy(), [200.0, 200.0])
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [-1.0, 1.0])
