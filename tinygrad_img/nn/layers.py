"""Dense, shape, regularisation and activation layers."""
import math

import numpy as np

from .. import functional as F
from ..creation import full
from ..tensor import Tensor
from . import init
from .module import Module, Parameter

__all__ = ["Identity", "Linear", "Flatten", "Dropout", "Embedding", "ReLU", "LeakyReLU", "Sigmoid", "Tanh",
           "GELU", "Softmax", "LogSoftmax"]


def new_parameter(*shape, fill=0.0):
    """A float32 Parameter of ``shape`` filled with ``fill``, on the default device."""
    return Parameter(full(shape, fill))


class Identity(Module):
    """y = x."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Linear(Module):
    """y = x W^T + b with W (out_features, in_features).

    Default init (PyTorch's): W ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming-uniform with
    a = sqrt(5)) and b ~ U(-1/sqrt(in), 1/sqrt(in)).
    """

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = new_parameter(self.out_features, self.in_features)
        self.register_parameter("bias", new_parameter(self.out_features) if bias else None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Flatten(Module):
    """Merge dims start_dim..end_dim (by default everything but the batch dim)."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Dropout(Module):
    """In training, zero each element with probability p and scale the rest by 1/(1-p); identity in eval."""

    def __init__(self, p=0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = float(p)

    def forward(self, x):
        return F.dropout(x, self.p, training=self.training)

    def extra_repr(self):
        return f"p={self.p}"


class Embedding(Module):
    """y[...] = W[indices[...]] with W (num_embeddings, embedding_dim) ~ N(0, 1).

    ``padding_idx`` starts as a zero row and its positions output zeros and pass
    no gradient to W.
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        if padding_idx is not None:
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} is out of range for "
                                 f"{self.num_embeddings} embeddings")
            padding_idx %= self.num_embeddings
        self.padding_idx = padding_idx
        self.weight = new_parameter(self.num_embeddings, self.embedding_dim)
        init.normal_(self.weight)
        if padding_idx is not None:
            self.weight.data[padding_idx] = 0

    def forward(self, indices):
        y = F.embedding(indices, self.weight)
        if self.padding_idx is None:
            return y
        idx = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
        keep = (idx != self.padding_idx)[..., None].astype(y.dtype)
        return y * Tensor(keep, device=y.device)

    def extra_repr(self):
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


class ReLU(Module):
    """y = max(0, x)."""

    def __init__(self, inplace=False):
        super().__init__()

    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    """y = x for x > 0, negative_slope * x otherwise."""

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    """y = 1 / (1 + e^-x)."""

    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    """y = tanh x."""

    def forward(self, x):
        return F.tanh(x)


class GELU(Module):
    """y = x * Phi(x) (exact normal CDF)."""

    def forward(self, x):
        return F.gelu(x)


class Softmax(Module):
    """y_i = e^{x_i} / sum_j e^{x_j} along ``dim`` (the last by default)."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, x):
        return F.softmax(x, axis=self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """y_i = x_i - log sum_j e^{x_j} along ``dim`` (the last by default)."""

    def forward(self, x):
        return F.log_softmax(x, axis=self.dim)
