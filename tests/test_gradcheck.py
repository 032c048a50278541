"""tg.gradcheck itself: it passes correct backwards and catches wrong ones with a clear report."""
import numpy as np
import pytest

import tinygrad_img as tg
from tinygrad_img.autograd import Function


class _Square(Function):
    """y = x^2 with a correct backward (2 x g), or a wrong one (3 x g) when ``wrong``."""
    def __init__(self, wrong=False):
        self.factor = 3.0 if wrong else 2.0

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, g):
        return self.factor * self.x * g


class _WrongAtOneElement(Function):
    """y = a + 2 b whose backward is off only at flat element 4 of b."""
    def forward(self, a, b):
        return a + 2 * b

    def backward(self, g):
        gb = 2 * g
        gb.reshape(-1)[4] += 0.5
        return g, gb


def test_passes_a_correct_backward():
    x = tg.tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True)
    assert tg.gradcheck(lambda t: _Square()(t), [x]) is True


def test_wrong_backward_raises_gradcheck_error_naming_input_and_element():
    a = tg.tensor(np.ones((2, 3)), requires_grad=True)
    b = tg.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(tg.GradcheckError) as info:
        tg.gradcheck(lambda x, y: _WrongAtOneElement()(x, y), [a, b])
    msg = str(info.value)
    assert "input 1" in msg and "(1, 1)" in msg  # flat element 4 of a (2, 3) array
    assert "analytic" in msg and "numeric" in msg
    assert isinstance(info.value, AssertionError)


def test_wrong_backward_returns_false_when_not_raising():
    x = tg.tensor(np.linspace(0.5, 1.5, 4), requires_grad=True)
    assert tg.gradcheck(lambda t: _Square(wrong=True)(t), [x], raise_exception=False) is False


def test_checks_in_float64_even_for_float32_inputs():
    seen = []

    def fn(t):
        seen.append(t.dtype)
        return t.exp()
    assert tg.gradcheck(fn, [tg.randn(3, requires_grad=True)])
    assert set(seen) == {np.dtype(np.float64)}


def test_only_inputs_that_require_grad_are_checked():
    a = tg.tensor([1.0, 2.0], requires_grad=True)
    b = tg.tensor([3.0, 4.0])  # no grad: a wrong gradient for it would go unnoticed, and must not fail
    assert tg.gradcheck(lambda x, y: x * y, [a, b])


def test_tuple_outputs_are_all_checked():
    a = tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(tg.GradcheckError, match="input 0"):
        tg.gradcheck(lambda x: (x * 2, _Square(wrong=True)(x)), [a])


def test_no_input_requiring_grad_is_an_error():
    with pytest.raises(ValueError, match="no input requires grad"):
        tg.gradcheck(lambda x: x * 2, [tg.tensor([1.0])])
