"""The backward engine: deep graphs, reused nodes, grad mode, memory release, errors."""
import gc
import threading
import weakref

import numpy as np
import pytest

import tinygrad_img as tg
from tinygrad_img.autograd import Function


def test_graph_10000_ops_deep_forward_and_backward():
    x = tg.tensor([0.5, -1.0], requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001 + 0.0
    y.sum().backward()
    expected = np.float32(1.0001) ** 10_000
    np.testing.assert_allclose(x.grad.numpy(), [expected, expected], rtol=1e-3)


def test_deep_chain_of_distinct_functions_keeps_generation_order():
    x = tg.tensor(0.3, dtype="float64", requires_grad=True)
    y = x
    for i in range(3000):
        y = y.tanh() if i % 2 else y + x * 1e-3
    y.backward()

    def f(x0):
        v = x0
        for i in range(3000):
            v = np.tanh(v) if i % 2 else v + x0 * 1e-3
        return v
    eps = 1e-6
    np.testing.assert_allclose(x.grad.item(), (f(0.3 + eps) - f(0.3 - eps)) / (2 * eps), rtol=1e-5)


def test_reused_node_y_equals_x_times_x_plus_x():
    x = tg.tensor([2.0, -3.0], requires_grad=True)
    y = x * x + x
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.array([2.0, -3.0]) + 1)


def test_diamond_graph_accumulates_both_paths():
    x = tg.tensor(1.5, requires_grad=True)
    a = x.exp()
    b = a * 2
    c = a * 3
    (b * c).backward()  # 6 e^{2x}, derivative 12 e^{2x}
    np.testing.assert_allclose(x.grad.item(), 12 * np.exp(3.0), rtol=1e-5)


def test_gradients_accumulate_across_backward_calls_out_of_place():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    first = x.grad
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0])
    np.testing.assert_allclose(first.numpy(), [3.0, 3.0])  # the old grad object was not mutated


def test_no_grad_context_manager_records_nothing():
    x = tg.randn(3, requires_grad=True)
    with tg.no_grad():
        y = x * 2 + 1
        assert not tg.is_grad_enabled()
    assert tg.is_grad_enabled()
    assert not y.requires_grad and y.creator is None


def test_no_grad_decorator_with_and_without_parentheses():
    x = tg.randn(3, requires_grad=True)

    @tg.no_grad()
    def f(t):
        return t * 2

    @tg.no_grad
    def g(t):
        return t.exp()

    for fn in (f, g):
        y = fn(x)
        assert not y.requires_grad and y.creator is None
    assert tg.is_grad_enabled()


def test_no_grad_decorator_survives_recursion_and_exceptions():
    @tg.no_grad()
    def depth(n):
        if n == 0:
            raise KeyError("bottom")
        return depth(n - 1)

    with pytest.raises(KeyError):
        depth(3)
    assert tg.is_grad_enabled()


def test_enable_grad_inside_no_grad():
    x = tg.randn(2, requires_grad=True)
    with tg.no_grad():
        with tg.enable_grad():
            y = x * 2
        z = x * 2
    assert y.requires_grad and not z.requires_grad


def test_grad_mode_is_per_thread():
    seen = []
    with tg.no_grad():
        t = threading.Thread(target=lambda: seen.append(tg.is_grad_enabled()))
        t.start()
        t.join()
    assert seen == [True]


def test_intermediate_tensors_are_freed_after_backward():
    x = tg.randn(50, 50, requires_grad=True)
    h1 = (x * 2).exp()
    h2 = h1.tanh()
    loss = (h2 * h1).sum()
    refs = [weakref.ref(h1), weakref.ref(h2)]
    del h1, h2
    gc.collect()
    assert all(r() is not None for r in refs)  # still held by the graph
    loss.backward()
    gc.collect()
    assert all(r() is None for r in refs)
    assert loss.creator is not None and not hasattr(loss.creator, "inputs")


def test_retain_graph_keeps_intermediates_and_allows_second_backward():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])


def test_second_backward_without_retain_graph_raises_clear_error():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        loss.backward()


def test_backward_on_non_scalar_needs_grad():
    x = tg.randn(3, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"shape \(3,\).*grad="):
        y.backward()
    y.backward(tg.tensor([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0, 6.0])


def test_backward_grad_of_wrong_shape_raises():
    y = tg.randn(3, requires_grad=True) * 2
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        y.backward(np.ones(2))


def test_backward_without_graph_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tg.tensor(1.0).backward()


def test_backward_from_leaf_sets_its_grad():
    x = tg.tensor(2.0, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0


@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
def test_int_and_bool_tensors_cannot_require_grad(dtype):
    with pytest.raises(ValueError, match="floating-point"):
        tg.tensor([1, 0], dtype=dtype, requires_grad=True)
    t = tg.tensor([1, 0], dtype=dtype)
    with pytest.raises(ValueError, match="floating-point"):
        t.requires_grad = True
    with pytest.raises(ValueError, match="floating-point"):
        t.requires_grad_()


def test_integer_inputs_get_no_gradient_and_no_error():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    idx = tg.tensor([1, 1, 0])
    (x[idx] * tg.tensor([1, 2, 3])).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])
    assert x.grad.dtype == np.float32


def test_retain_grad_on_intermediate():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    h = (x * 3).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), [6.0, 12.0])
    np.testing.assert_allclose(x.grad.numpy(), [18.0, 36.0])


def test_detach_cuts_the_graph():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2).detach()
    assert not y.requires_grad and y.is_leaf
    (x * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


class _TwoOutputs(Function):
    """(x + 1, 2 x): exercises multi-output functions where one output gets no gradient."""
    def forward(self, x):
        return x + 1, 2 * x

    def backward(self, g1, g2):
        return g1 + 2 * g2


def test_multi_output_function_with_unused_output():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    a, b = _TwoOutputs()(x)
    (b * b).sum().backward()  # a unused: its gradient is filled with zeros
    np.testing.assert_allclose(x.grad.numpy(), 8 * np.array([1.0, 2.0]))


class _WrongShape(Function):
    def forward(self, x):
        return x.sum()

    def backward(self, g):
        return g


def test_backward_returning_wrong_shape_is_reported():
    x = tg.randn(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"_WrongShape.*shape \(\).*shape \(3,\)"):
        _WrongShape()(x).backward()


class _Float64Grad(Function):
    def forward(self, x):
        return x * 2

    def backward(self, g):
        return g.astype(np.float64) * 2


def test_grad_dtype_is_cast_back_to_input_dtype():
    x = tg.randn(3, requires_grad=True)
    _Float64Grad()(x).sum().backward()
    assert x.grad.dtype == np.float32


def test_non_differentiable_function_outputs_do_not_require_grad():
    x = tg.randn(3, requires_grad=True)
    assert not (x > 0).requires_grad
    assert not x.argmax().requires_grad


def test_no_graph_when_no_input_requires_grad():
    y = tg.ones(2) * 2 + tg.ones(2)
    assert y.creator is None and not y.requires_grad


class _SeesNeedsGrad(Function):
    """y = a * b that records in forward which inputs will want a gradient."""
    def forward(self, a, b):
        self.seen = self.needs_grad
        return a * b

    def backward(self, g):
        return g, g


def test_needs_grad_is_known_in_forward():
    a, b = tg.ones(2, requires_grad=True), tg.ones(2)
    f = _SeesNeedsGrad()
    f(a, b)
    assert f.seen == (True, False)
    g = _SeesNeedsGrad()
    with tg.no_grad():
        g(a, b)
    assert g.seen == (False, False)


@pytest.mark.parametrize("mode", ["no_grad", "enable_grad"])
def test_grad_mode_decorator_shared_by_two_threads(mode):
    """Thread A enters the decorated function, thread B (in the opposite grad mode) enters it too,
    then A leaves first: each thread must get back its own mode."""
    cm = getattr(tg, mode)
    outer = tg.enable_grad if mode == "no_grad" else tg.no_grad
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    @cm()
    def body(first):
        if first:
            a_in.set()
            b_in.wait(5)
        else:
            b_in.set()
            a_out.wait(5)

    def thread_a():
        with outer():
            body(True)
            seen["a"] = tg.is_grad_enabled()
        a_out.set()

    def thread_b():
        a_in.wait(5)
        with cm():  # B enters in the decorator's own mode, A in the opposite one
            body(False)
            seen["b"] = tg.is_grad_enabled()

    threads = [threading.Thread(target=thread_a), threading.Thread(target=thread_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == {"a": mode == "no_grad", "b": mode != "no_grad"}


def test_backward_copies_a_user_supplied_grad():
    x = tg.randn(3, requires_grad=True)
    g = np.ones(3, np.float32)
    x.backward(g)
    g[0] = 7.0
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0, 1.0])


def test_function_has_no_dead_differentiable_flag():
    assert not hasattr(Function, "differentiable")


def test_gradcheck_does_not_perturb_float64_inputs_in_place():
    base = np.array([0.5, -1.0, 2.0])
    x = tg.Tensor(base, dtype=np.float64, requires_grad=True)
    aliased = []

    def fn(t):
        aliased.append(np.shares_memory(t.data, x.data))
        return (t * t).sum()

    assert tg.gradcheck(fn, [x])
    assert aliased and not any(aliased)
    np.testing.assert_array_equal(x.numpy(), base)
