"""Core Keras layers: Input, Dense, Flatten, Reshape, Dropout, Activation, Embedding."""
import math

import numpy as np

from .. import functional as F
from ..nn import init
from ..nn.module import Parameter
from .layer import Layer, get_activation, glorot_uniform, zeros

__all__ = ["Input", "Dense", "Flatten", "Reshape", "Dropout", "Activation", "Embedding"]


class Input:
    """The input placeholder ``Input(shape=(28, 28, 1))``: gives a Sequential its input shape
    (no batch axis). ``.shape`` is ``(None, *shape)`` as in Keras."""

    def __init__(self, shape=None, batch_size=None, name=None, dtype=None):
        if shape is None:
            raise ValueError("Input: shape is required, e.g. Input(shape=(28, 28, 1))")
        self.input_shape = tuple(int(d) for d in shape)
        self.shape = (batch_size, *self.input_shape)
        self.name = name


class Dense(Layer):
    """y = activation(x W + b) on the last axis; W (in, units) glorot-uniform, b zeros."""

    def __init__(self, units, activation=None, use_bias=True, **kwargs):
        super().__init__(activation=activation, **kwargs)
        if int(units) <= 0:
            raise ValueError(f"Dense: units must be positive, got {units}")
        self.units, self.use_bias = int(units), use_bias

    def build(self, input_shape):
        if not input_shape:
            raise ValueError(f"Dense: input needs a feature axis, got shape {input_shape}")
        fan_in = input_shape[-1]
        self.kernel = glorot_uniform((fan_in, self.units), fan_in, self.units)
        if self.use_bias:
            self.bias = zeros((self.units,))

    def output_shape_for(self, input_shape):
        return (*input_shape[:-1], self.units)

    def call(self, x):
        y = x @ self.kernel
        return y + self.bias if self.use_bias else y

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "use_bias": self.use_bias}


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...), in channels-last (row-major) order as Keras."""

    def output_shape_for(self, input_shape):
        return (math.prod(input_shape),)

    def call(self, x):
        return x.reshape(x.shape[0], -1)


class Reshape(Layer):
    """(N, ...) -> (N, *target_shape); one entry may be -1."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)

    def output_shape_for(self, input_shape):
        total, known = math.prod(input_shape), math.prod(d for d in self.target_shape if d != -1)
        shape = tuple(total // known if d == -1 else d for d in self.target_shape)
        if math.prod(shape) != total:
            raise ValueError(f"Reshape: cannot reshape {input_shape} to {self.target_shape}")
        return shape

    def call(self, x):
        return x.reshape(x.shape[0], *self.output_shape_for(x.shape[1:]))

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Dropout(Layer):
    """Training: y = x * mask / (1 - rate), mask ~ Bernoulli(1 - rate); inference: y = x."""

    def __init__(self, rate, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout: rate must be in [0, 1), got {rate}")
        self.rate = float(rate)

    def call(self, x):
        return F.dropout(x, p=self.rate, training=self.training) if self.rate else x

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


class Activation(Layer):
    """y = activation(x) ("relu", "softmax", ...)."""

    def __init__(self, activation, **kwargs):
        get_activation(activation)
        super().__init__(activation=activation, **kwargs)

    def call(self, x):
        return x

    def get_config(self):
        return {**super().get_config(), "activation": self.activation}


class Embedding(Layer):
    """y[n, t] = E[x[n, t]] for integer x; E (input_dim, output_dim) ~ U(-0.05, 0.05)."""

    def __init__(self, input_dim, output_dim, **kwargs):
        kwargs.pop("input_length", None)
        super().__init__(**kwargs)
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)

    def build(self, input_shape):
        self.embeddings = Parameter(np.zeros((self.input_dim, self.output_dim), dtype=np.float32))
        init.uniform_(self.embeddings, -0.05, 0.05)

    def output_shape_for(self, input_shape):
        return (*input_shape, self.output_dim)

    def call(self, x):
        return F.embedding(x, self.embeddings)

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim}
