"""Activation functions: relu, leaky_relu, sigmoid, tanh, gelu, softmax, log_softmax."""
from ..ops import activation as act
from ..tensor import Tensor

__all__ = ["relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax", "log_softmax"]


def _t(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def relu(x):
    """y = max(0, x)."""
    return act.ReLU()(_t(x))


def leaky_relu(x, negative_slope=0.01):
    """y = x for x > 0, negative_slope * x otherwise."""
    return act.LeakyReLU(negative_slope)(_t(x))


def sigmoid(x):
    """y = 1 / (1 + e^-x), stable for large |x|."""
    return act.Sigmoid()(_t(x))


def tanh(x):
    """y = tanh x."""
    return act.Tanh()(_t(x))


def gelu(x):
    """y = x * Phi(x) with the exact normal CDF Phi (PyTorch's default, approximate='none')."""
    return act.GELU()(_t(x))


def softmax(x, axis=-1, dim=None):
    """y_i = e^{x_i} / sum_j e^{x_j} along ``axis`` (max-shifted for stability)."""
    return act.Softmax(axis if dim is None else dim)(_t(x))


def log_softmax(x, axis=-1, dim=None):
    """y_i = x_i - log sum_j e^{x_j} along ``axis`` (log-sum-exp)."""
    return act.LogSoftmax(axis if dim is None else dim)(_t(x))
