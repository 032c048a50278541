"""Tensor construction, factories, dtype rules and conversions."""
import numpy as np
import pytest

import tinygrad_img as tg
import tinygrad_img.functional as F


# ----- factories
@pytest.mark.parametrize("make, value", [(tg.zeros, 0.0), (tg.ones, 1.0)])
def test_zeros_ones_accept_varargs_and_tuple(make, value):
    for t in (make(2, 3), make((2, 3))):
        assert t.shape == (2, 3) and t.dtype == np.float32 and t.device == "cpu"
        assert np.all(t.numpy() == value)


def test_full_and_like_factories():
    t = tg.full((2, 2), 7.5)
    assert t.dtype == np.float32 and np.all(t.numpy() == 7.5)
    assert tg.full(3, 1.0).shape == (3,)
    src = tg.tensor([[1.0, 2.0]], dtype="float64")
    for like, v in ((tg.zeros_like, 0), (tg.ones_like, 1)):
        out = like(src)
        assert out.shape == (1, 2) and out.dtype == np.float64 and np.all(out.numpy() == v)
    f = tg.full_like(src, 3.0, dtype="float32")
    assert f.dtype == np.float32 and np.all(f.numpy() == 3)


def test_factories_take_dtype_and_requires_grad():
    for make in (tg.zeros, tg.ones, tg.randn, tg.rand):
        t = make(2, 3, dtype="float64", requires_grad=True)
        assert t.dtype == np.float64 and t.requires_grad and t.is_leaf
    assert tg.eye(3, dtype=tg.float64).dtype == np.float64


def test_randn_rand_are_seeded_and_distributed():
    tg.manual_seed(123)
    a = tg.randn(1000)
    tg.manual_seed(123)
    b = tg.randn(1000)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert abs(a.numpy().mean()) < 0.15 and abs(a.numpy().std() - 1) < 0.1
    u = tg.rand(1000).numpy()
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.05
    assert tg.randn(3).dtype == np.float32 and tg.rand(3).dtype == np.float32


def test_arange_and_eye():
    assert tg.arange(5).tolist() == [0, 1, 2, 3, 4] and tg.arange(5).dtype == np.int64
    r = tg.arange(0.0, 1.0, 0.25)
    assert r.dtype == np.float32 and r.tolist() == [0.0, 0.25, 0.5, 0.75]
    assert tg.arange(2, 8, 3).tolist() == [2, 5]
    np.testing.assert_array_equal(tg.eye(3).numpy(), np.eye(3))
    assert tg.eye(2, 3).shape == (2, 3) and tg.eye(3).dtype == np.float32


def test_tensor_function_is_tensor_constructor():
    t = tg.tensor([1, 2], dtype="float32", requires_grad=True)
    assert isinstance(t, tg.Tensor) and t.dtype == np.float32 and t.requires_grad


# ----- dtype rules
def test_float64_numpy_and_python_floats_become_float32():
    assert tg.Tensor(np.zeros(3)).dtype == np.float32
    assert tg.Tensor([1.5, 2.5]).dtype == np.float32
    assert tg.Tensor(2.0).dtype == np.float32


def test_integer_and_bool_data_keep_their_dtype():
    assert tg.Tensor([1, 2]).dtype == np.int64
    assert tg.Tensor(np.array([1, 2], dtype=np.int32)).dtype == np.int32
    assert tg.Tensor([True, False]).dtype == np.bool_
    assert tg.Tensor(np.zeros(2, dtype=np.float16)).dtype == np.float16


@pytest.mark.parametrize("scalar", [2, 2.5, np.float64(2.5), np.float32(2.5), True, np.int64(3)])
def test_scalars_never_promote_float32(scalar):
    x = tg.randn(3, requires_grad=True)
    for y in (x + scalar, scalar + x, x * scalar, x / scalar, scalar / (x.abs() + 1), x - scalar,
              scalar - x, x ** 2, tg.maximum(x, scalar), tg.where(x > 0, x, scalar), x.clip(-scalar, scalar)):
        assert y.dtype == np.float32, y
    (x * np.float64(2.0)).sum().backward()
    assert x.grad.dtype == np.float32


def test_integer_tensor_meets_float_tensor_stays_float32():
    f = tg.tensor([1.0, 2.0], requires_grad=True)
    i = tg.tensor([3, 4])
    for y in (f * i, i * f, f + i, i - f, f / i, i / f, tg.where(i > 3, f, i)):
        assert y.dtype == np.float32
    (f * i).sum().backward()
    assert f.grad.dtype == np.float32
    assert (i / i).dtype == np.float32
    assert (i + 1).dtype == np.int64 and (tg.tensor([1], dtype="int32") + 1).dtype == np.int32


def test_losses_with_int_or_float64_targets_stay_float32():
    x = tg.tensor([0.2, 0.7, 0.4], requires_grad=True)
    for loss in (F.mse_loss(x, [1, 0, 1]), F.l1_loss(x, np.array([1.0, 0.0, 1.0])),
                 F.binary_cross_entropy(x, [1, 0, 1]),
                 F.binary_cross_entropy_with_logits(x, [1, 0, 1], pos_weight=np.array([2.0, 1.0, 1.0]))):
        assert loss.dtype == np.float32


def test_float64_is_opt_in_and_works_end_to_end():
    rng = np.random.default_rng(0)
    x = tg.Tensor(rng.standard_normal((4, 3)), dtype="float64", requires_grad=True)
    w = tg.Tensor(rng.standard_normal((2, 3)), dtype=np.float64, requires_grad=True)
    b = tg.zeros(2, dtype="float64", requires_grad=True)
    h = F.linear(x, w, b).tanh() * 0.5 + 1.0
    p = F.softmax(h, axis=-1)
    loss = F.cross_entropy(h, tg.tensor([0, 1, 1, 0])) + (p ** 2).mean() + h.var()
    assert h.dtype == p.dtype == loss.dtype == np.float64
    loss.backward()
    for t in (x, w, b):
        assert t.grad.dtype == np.float64 and t.grad.shape == t.shape


def test_tensor_of_tensor_keeps_dtype():
    t = tg.tensor([1.0], dtype="float64")
    assert tg.Tensor(t).dtype == np.float64


# ----- conversions
def test_item_tolist_numpy():
    t = tg.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert isinstance(t.numpy(), np.ndarray)
    assert t.sum().item() == 10.0 and isinstance(t.sum().item(), float)
    assert tg.tensor([[5]]).item() == 5
    with pytest.raises(ValueError, match=r"item: .*shape is \(2, 2\)"):
        t.item()
    assert float(tg.tensor(2.5)) == 2.5 and int(tg.tensor(3)) == 3


def test_repr_shows_values_dtype_and_requires_grad():
    assert repr(tg.tensor([1.0, 2.0])) == "Tensor([1., 2.])"
    r = repr(tg.tensor([1.0], dtype="float64", requires_grad=True))
    assert "float64" in r and "requires_grad=True" in r
    assert "int64" in repr(tg.tensor([1]))


def test_astype_float_cast_is_differentiable_and_int_cast_is_not():
    x = tg.tensor([1.5, -2.5], requires_grad=True)
    d = x.astype("float64")
    assert d.dtype == np.float64 and d.requires_grad
    (d * d).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), [3.0, -5.0])
    i = x.astype(np.int32)
    assert i.dtype == np.int32 and not i.requires_grad and i.tolist() == [1, -2]
    assert x.astype(np.float32) is x
    assert x.double().dtype == np.float64 and x.double().float().dtype == np.float32


def test_to_with_dtype_and_same_device():
    x = tg.tensor([1.0, 2.0])
    assert x.to("cpu") is x
    assert x.to("float64").dtype == np.float64
    assert x.to(np.float64).dtype == np.float64
    assert x.to("cpu", dtype="float64").dtype == np.float64


def test_detach_shares_data_but_not_graph():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.creator is None
    np.testing.assert_array_equal(d.numpy(), y.numpy())


def test_properties():
    t = tg.zeros(2, 3, 4)
    assert (t.shape, t.ndim, t.size, t.dtype, t.device, len(t)) == ((2, 3, 4), 3, 24, np.float32, "cpu", 2)
    assert t.grad is None and t.requires_grad is False
    assert isinstance(t.data, np.ndarray)
    with pytest.raises(TypeError, match="0-d"):
        len(tg.tensor(1.0))


def test_setitem_outside_graph_and_refused_inside():
    t = tg.zeros(3)
    t[1] = 5.0
    assert t.tolist() == [0.0, 5.0, 0.0]
    x = tg.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="no_grad"):
        x[0] = 1.0
    with tg.no_grad():
        x[0] = 1.0
    assert x.tolist()[0] == 1.0


def test_comparisons_give_bool_tensors_without_grad():
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    m = x > 1.5
    assert m.dtype == np.bool_ and m.tolist() == [False, True, True] and not m.requires_grad
    assert (x == tg.tensor([1.0, 0.0, 3.0])).tolist() == [True, False, True]
    assert (x <= 2).tolist() == [True, True, False] and (x != 2).tolist() == [True, False, True]
    assert {x: 1}[x] == 1  # tensors stay hashable by identity


def test_iteration_and_array_protocol():
    t = tg.tensor([[1.0, 2.0], [3.0, 4.0]])
    rows = [r.tolist() for r in t]
    assert rows == [[1.0, 2.0], [3.0, 4.0]]
    assert np.asarray(t).dtype == np.float32


FREE_FUNCTIONS = ["Tensor", "tensor", "zeros", "ones", "full", "zeros_like", "ones_like", "randn", "rand", "arange",
                  "eye", "manual_seed", "concatenate", "cat", "stack", "where", "matmul", "maximum", "minimum", "pad",
                  "no_grad", "enable_grad", "gradcheck", "GradcheckError", "cuda_available", "set_default_device",
                  "get_default_device", "get_array_module", "is_grad_enabled", "Function"]
METHODS = ["numpy", "item", "tolist", "to", "cpu", "cuda", "detach", "astype", "backward", "sum", "mean", "max",
           "min", "var", "std", "argmax", "argmin", "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "clip",
           "reshape", "view", "flatten", "transpose", "permute", "T", "squeeze", "unsqueeze", "expand",
           "broadcast_to", "softmax", "log_softmax", "abs", "shape", "ndim", "size", "dtype", "device",
           "requires_grad", "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
           "__rtruediv__", "__pow__", "__rpow__", "__matmul__", "__neg__", "__abs__", "__getitem__", "__lt__",
           "__le__", "__gt__", "__ge__", "__eq__", "__ne__"]
FUNCTIONAL = ["relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax", "log_softmax", "linear", "cross_entropy",
              "nll_loss", "mse_loss", "l1_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits"]


@pytest.mark.parametrize("owner, name", [(tg, n) for n in FREE_FUNCTIONS] + [(tg.Tensor, n) for n in METHODS]
                         + [(F, n) for n in FUNCTIONAL])
def test_api_name_exists_with_docstring(owner, name):
    obj = getattr(owner, name)
    doc = obj.__doc__  # a property's doc is its getter's or the one given to property()
    assert doc and len(doc.strip()) > 5, f"{name} has no docstring"


def test_matmul_promotes_integer_operand_to_the_float_dtype():
    idx = tg.Tensor(np.array([[1, 2], [3, 4]], np.int64))
    w = tg.Tensor(np.array([[0.5, 1.0], [2.0, -1.0]], np.float32), requires_grad=True)
    for y in (idx @ w, w @ idx, idx.matmul(w)):
        assert y.dtype == np.float32
    np.testing.assert_allclose((idx @ w).numpy(), np.array([[1, 2], [3, 4]]) @ w.numpy())
    (idx @ w).sum().backward()
    assert w.grad.dtype == np.float32


def test_full_reduction_data_is_a_0d_array():
    x = tg.Tensor([[1.0, 2.0], [3.0, 4.0]])
    for y in (x.sum(), x.mean(), x.max(), (x * 2).sum(axis=(0, 1))):
        assert isinstance(y.data, np.ndarray) and y.shape == ()
    s = x.sum()
    s.data[()] = 0
    assert s.item() == 0


@pytest.mark.filterwarnings("ignore:Degrees of freedom")  # NumPy's reference warns for n - ddof <= 0
def test_var_divides_by_n_minus_ddof_like_numpy():
    with np.errstate(invalid="ignore", divide="ignore"):
        for data, ddof in (([3.0], 1), ([1.0, 2.0], 2), ([1.0, 2.0, 4.0], 1), ([5.0, 5.0], 2)):
            got = tg.Tensor(data).var(ddof=ddof).item()
            np.testing.assert_equal(got, np.float32(np.var(np.array(data, np.float32), ddof=ddof)))
        assert np.isnan(tg.Tensor([3.0]).std(unbiased=True).item())


def test_tensor_of_ndarray_shares_memory_documented():
    a = np.zeros(3, np.float32)
    t = tg.Tensor(a)
    a[0] = 5.0
    assert t.numpy()[0] == 5.0 and "shares its memory" in tg.Tensor.__doc__
