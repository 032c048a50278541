"""Dense (fully connected) layer function."""
from ..ops.linalg import Linear
from ..tensor import Tensor

__all__ = ["linear"]


def linear(x, weight, bias=None):
    """y = x W^T + b, with x (..., in), W (out, in) and b (out,): the articles' y = W x + b per sample."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    if bias is None:
        return Linear()(x, weight)
    return Linear()(x, weight, bias)
