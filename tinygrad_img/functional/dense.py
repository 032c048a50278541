"""Dense (fully connected) layer function."""
from ..ops.linalg import Linear
from ..tensor import as_tensor

__all__ = ["linear"]


def linear(x, weight, bias=None):
    """y = x W^T + b, with x (..., in), W (out, in) and b (out,): the articles' y = W x + b per sample."""
    x, weight = as_tensor(x), as_tensor(weight)
    if bias is None:
        return Linear()(x, weight)
    return Linear()(x, weight, as_tensor(bias))
