"""Ops that touch a data-dependent subset of elements: dropout and embedding lookup."""
from ..autograd import Function
from ..backend import get_array_module
from .shape import scatter_add


class Dropout(Function):
    """y = x * mask / (1 - p) with mask ~ Bernoulli(1 - p) (inverted dropout);  dx = dy * mask / (1 - p)."""

    def __init__(self, p, generator):
        self.p, self.generator = float(p), generator

    def forward(self, x):
        xp = get_array_module(x)
        keep = self.generator.random(x.shape, dtype=x.dtype) >= self.p
        self.scale = keep.astype(x.dtype) * (1.0 / (1.0 - self.p)) if self.p < 1 else xp.zeros_like(x)
        return x * self.scale

    def backward(self, gy):
        return gy * self.scale


class Embedding(Function):
    """y[...] = W[indices[...]];  dW[k] = sum of dy over the positions whose index is k."""

    def __init__(self, indices):
        self.indices = indices

    def forward(self, w):
        self.w_shape = w.shape
        return w[self.indices]

    def backward(self, gy):
        xp = get_array_module(gy)
        gw = xp.zeros(self.w_shape, dtype=gy.dtype)
        scatter_add(gw, self.indices.reshape(-1), gy.reshape(-1, self.w_shape[1]))
        return gw
