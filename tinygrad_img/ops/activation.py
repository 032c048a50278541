"""Activation functions and the (log-)softmax, each with a hand-written backward."""
import math

from ..autograd import Function
from ..backend import get_array_module
from .reduce import normalize_axis


def _erf(x):
    xp = get_array_module(x)
    if xp.__name__ == "numpy":
        from scipy.special import erf
    else:
        from cupyx.scipy.special import erf
    return erf(x)


class ReLU(Function):
    """y = max(0, x);  dx = g * [x > 0]."""
    def forward(self, x):
        y = get_array_module(x).maximum(x, 0)
        self.mask = y > 0
        return y

    def backward(self, g):
        return g * self.mask


class LeakyReLU(Function):
    """y = x if x > 0 else a x;  dx = g * (1 if x > 0 else a)."""
    def __init__(self, slope):
        self.slope = float(slope)

    def forward(self, x):
        self.mask = x > 0
        return get_array_module(x).where(self.mask, x, x * self.slope)

    def backward(self, g):
        return get_array_module(g).where(self.mask, g, g * self.slope)


class Sigmoid(Function):
    """y = 1 / (1 + e^-x), computed from e^-|x| so it never overflows;  dx = g y (1 - y)."""
    def forward(self, x):
        self.y = stable_sigmoid(x)
        return self.y

    def backward(self, g):
        return g * self.y * (1 - self.y)


class Tanh(Function):
    """y = tanh x;  dx = g (1 - y^2)."""
    def forward(self, x):
        self.y = get_array_module(x).tanh(x)
        return self.y

    def backward(self, g):
        return g * (1 - self.y * self.y)


class GELU(Function):
    """y = x Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2 (exact form, PyTorch's default);
    dx = g (Phi(x) + x phi(x)), phi the standard normal density.

    ``approximate="tanh"``: Phi(x) ~ (1 + tanh(u)) / 2 with u = sqrt(2/pi) (x + 0.044715 x^3),
    dx = g ((1 + t) / 2 + x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2) / 2), t = tanh(u).
    """
    def __init__(self, approximate="none"):
        if approximate not in ("none", "tanh"):
            raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        self.x = x
        if self.approximate == "tanh":
            k = math.sqrt(2 / math.pi)
            self.t = get_array_module(x).tanh(k * (x + 0.044715 * x * x * x))
            return 0.5 * x * (1 + self.t)
        self.cdf = (0.5 * (1 + _erf(x * (1 / math.sqrt(2))))).astype(x.dtype, copy=False)
        return x * self.cdf

    def backward(self, g):
        xp = get_array_module(g)
        x = self.x
        if self.approximate == "tanh":
            k = math.sqrt(2 / math.pi)
            t = self.t
            return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x))
        pdf = xp.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))
        return g * (self.cdf + x * pdf)


def stable_sigmoid(x):
    """sigmoid on raw arrays: 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) otherwise (from e^-|x|, never overflows)."""
    xp = get_array_module(x)
    e = xp.exp(-abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def softplus(x):
    """softplus on raw arrays: log(1 + e^x) = log1p(e^-|x|) + max(x, 0) (never overflows)."""
    xp = get_array_module(x)
    return xp.log1p(xp.exp(-abs(x))) + xp.maximum(x, 0)


def stable_softmax(x, axis):
    """softmax on raw arrays: e^{x - max} / sum e^{x - max} along ``axis`` (never overflows)."""
    xp = get_array_module(x)
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def stable_log_softmax(x, axis):
    """log-softmax on raw arrays: (x - max) - log sum e^{x - max} along ``axis`` (log-sum-exp)."""
    xp = get_array_module(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


class Softmax(Function):
    """y_i = e^{x_i - m} / sum_j e^{x_j - m} (m = max, for stability);  dx = y (g - sum(g y))."""
    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        self.axis = normalize_axis(self.axis, x.ndim, "softmax")
        self.y = stable_softmax(x, self.axis)
        return self.y

    def backward(self, g):
        gy = g * self.y
        return gy - self.y * gy.sum(axis=self.axis, keepdims=True)


class LogSoftmax(Function):
    """y = x - m - log sum e^{x - m} (log-sum-exp);  dx = g - softmax(x) sum(g)."""
    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        self.axis = normalize_axis(self.axis, x.ndim, "log_softmax")
        self.y = stable_log_softmax(x, self.axis)
        return self.y

    def backward(self, g):
        xp = get_array_module(g)
        return g - xp.exp(self.y) * g.sum(axis=self.axis, keepdims=True)
