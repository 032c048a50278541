"""Core Keras layers: Input, Dense, Flatten, Reshape, Dropout, Activation, Embedding, BatchNormalization."""
import math

import numpy as np

from .. import functional as F
from ..autograd import no_grad
from ..nn import init
from ..nn.module import Parameter
from .layer import Layer, get_activation, glorot_uniform, zeros

__all__ = ["Input", "Dense", "Flatten", "Reshape", "Dropout", "Activation", "Embedding",
           "BatchNormalization"]


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


class BatchNormalization(Layer):
    """y = gamma (x - mu) / sqrt(var + epsilon) + beta over the last (channel) axis.

    Training uses the batch statistics over every other axis and updates
    moving_stat <- momentum * moving_stat + (1 - momentum) * batch_stat (Keras'
    convention: momentum 0.99, biased variance, epsilon 1e-3); inference uses
    the moving statistics. The moving statistics are non-trainable weights.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, **kwargs):
        super().__init__(**kwargs)
        if axis not in (-1,):
            raise ValueError(f"BatchNormalization: only axis=-1 (channels-last) is supported, got {axis}")
        self.axis, self.momentum, self.epsilon = axis, float(momentum), float(epsilon)
        self.center, self.scale = center, scale

    def build(self, input_shape):
        c = input_shape[-1]
        if self.scale:
            self.gamma = Parameter(np.ones((c,), dtype=np.float32))
        if self.center:
            self.beta = zeros((c,))
        self.register_buffer("moving_mean", np.zeros((c,), dtype=np.float32))
        self.register_buffer("moving_variance", np.ones((c,), dtype=np.float32))

    def call(self, x):
        axes = tuple(range(x.ndim - 1))
        if self.training:
            mean = x.mean(axis=axes)
            centered = x - mean
            var = (centered * centered).mean(axis=axes)
            with no_grad():
                m = self.momentum
                self.moving_mean.data[...] = m * self.moving_mean.data + (1 - m) * mean.data
                self.moving_variance.data[...] = m * self.moving_variance.data + (1 - m) * var.data
        else:
            centered, var = x - self.moving_mean, self.moving_variance
        y = centered / (var + self.epsilon).sqrt()
        if self.scale:
            y = y * self.gamma
        return y + self.beta if self.center else y

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale}
