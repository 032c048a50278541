"""Activation functions: relu, leaky_relu, sigmoid, tanh, gelu, softmax, log_softmax."""
from ..ops import activation as act
from ..tensor import as_tensor

__all__ = ["relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax", "log_softmax"]


def relu(x):
    """y = max(0, x);  dx = g [x > 0]."""
    return act.ReLU()(as_tensor(x))


def leaky_relu(x, negative_slope=0.01):
    """y = x for x > 0, negative_slope * x otherwise;  dx = g (1 or negative_slope)."""
    return act.LeakyReLU(negative_slope)(as_tensor(x))


def sigmoid(x):
    """y = 1 / (1 + e^-x), computed from e^-|x| so it is stable for large |x|;  dx = g y (1 - y)."""
    return act.Sigmoid()(as_tensor(x))


def tanh(x):
    """y = tanh x = (e^x - e^-x) / (e^x + e^-x);  dx = g (1 - y^2)."""
    return act.Tanh()(as_tensor(x))


def gelu(x, approximate="none"):
    """y = x * Phi(x) with the exact normal CDF Phi(x) = (1 + erf(x / sqrt 2)) / 2 (PyTorch's default);
    ``approximate="tanh"`` uses Phi(x) ~ (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2."""
    return act.GELU(approximate)(as_tensor(x))


def softmax(x, axis=-1, dim=None):
    """y_i = e^{x_i} / sum_j e^{x_j} along ``axis`` (max-shifted for stability)."""
    return act.Softmax(axis if dim is None else dim)(as_tensor(x))


def log_softmax(x, axis=-1, dim=None):
    """y_i = x_i - log sum_j e^{x_j} along ``axis`` (log-sum-exp)."""
    return act.LogSoftmax(axis if dim is None else dim)(as_tensor(x))
