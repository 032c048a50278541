"""The Keras Layer base class, activations by name and Keras' default initialisers.

A Layer is a ``tg.nn.Module`` whose parameters are created by ``build(input_shape)``
(shapes exclude the batch axis) the first time the input shape is known: from
``input_shape=`` on the first layer of a Sequential, or at the first call.
Weights are created on the CPU and moved, once built, to the device the
caller names (a Sequential's, see ``Sequential.to``), else the default device.
Weights keep Keras' layouts (Dense kernel (in, out), Conv2D kernel
(kh, kw, in, out)) so parameter counts and saved weights read as in Keras.
"""
import math
import re

import numpy as np

from .. import functional as F
from ..backend import get_default_device
from ..nn import init
from ..nn.module import Module, Parameter
from . import regularizers

__all__ = ["Layer", "get_activation", "glorot_uniform", "zeros", "ACTIVATIONS"]

ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": F.relu,
    "sigmoid": F.sigmoid,
    "tanh": F.tanh,
    "softmax": lambda x: F.softmax(x, axis=-1),
    "log_softmax": lambda x: F.log_softmax(x, axis=-1),
    "gelu": F.gelu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2),
    "swish": lambda x: x * F.sigmoid(x),
}


def get_activation(name):
    """The activation function called ``name`` (None means linear)."""
    if name is None:
        return ACTIVATIONS["linear"]
    if callable(name):
        return name
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def glorot_uniform(shape, fan_in, fan_out):
    """W ~ U(-a, a), a = sqrt(6 / (fan_in + fan_out)) (Keras' default kernel initialiser)."""
    p = Parameter(np.zeros(shape, dtype=np.float32))
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    init.uniform_(p, -limit, limit)
    return p


def zeros(shape):
    """A zero-initialised trainable Parameter (Keras' default bias initialiser)."""
    return Parameter(np.zeros(shape, dtype=np.float32))


def _snake(name):
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower().replace("2_d", "2d")


class Layer(Module):
    """Base class: subclasses implement ``build``, ``output_shape_for`` and ``call``.

    ``forward(x)`` builds the layer on first use, then returns
    ``activation(call(x))``; ``call`` alone gives the pre-activation output
    (the model uses it to fuse a final softmax/sigmoid into the loss).
    """

    def __init__(self, name=None, input_shape=None, trainable=True, activation=None, kernel_regularizer=None,
                 bias_regularizer=None, **kwargs):
        super().__init__()
        if kwargs.get("input_dim") is not None and input_shape is None:
            input_shape = (kwargs.pop("input_dim"),)
        kwargs.pop("input_dim", None)
        kwargs.pop("dtype", None)
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected arguments {sorted(kwargs)}")
        self.name = name
        self.input_shape_arg = tuple(input_shape) if input_shape is not None else None
        self.trainable = trainable
        if activation is not None and not callable(activation):
            get_activation(activation)
        self.activation = activation
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.built = False
        self.input_shape = None

    @classmethod
    def default_name(cls):
        return _snake(cls.__name__)

    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape`` (no batch axis)."""

    def output_shape_for(self, input_shape):
        """The output shape (no batch axis) for ``input_shape``; the default keeps the shape."""
        return tuple(input_shape)

    def ensure_built(self, input_shape, device=None):
        """Build for ``input_shape`` (once), putting the new weights on ``device`` (default:
        ``tg.get_default_device()``); returns the output shape."""
        input_shape = tuple(int(d) for d in input_shape)
        if not self.built:
            self.build(input_shape)
            for what in ("kernel", "bias"):
                if getattr(self, what + "_regularizer") is not None and getattr(self, what, None) is None:
                    raise ValueError(f"{type(self).__name__}: {what}_regularizer given, but the layer has no "
                                     f"{what} (use_bias=False, or a layer without weights)")
            self.to(device or get_default_device())
            self.input_shape = input_shape
            self.built = True
        return self.output_shape_for(input_shape)

    def call(self, x):
        raise NotImplementedError(f"{type(self).__name__} has no call()")

    def forward(self, x):
        self.ensure_built(x.shape[1:], x.device)
        return get_activation(self.activation)(self.call(x))

    def regularization_loss(self):
        """kernel_regularizer(kernel) + bias_regularizer(bias) as a scalar Tensor, or None."""
        terms = [reg(getattr(self, what)) for what in ("kernel", "bias")
                 if (reg := getattr(self, what + "_regularizer")) is not None]
        return sum(terms[1:], terms[0]) if terms else None

    def count_params(self):
        return sum(p.size for p in self.parameters()) + sum(b.size for b in self.buffers())

    def trainable_count(self):
        return sum(p.size for p in self.parameters()) if self.trainable else 0

    def get_config(self):
        """The constructor arguments, JSON-serialisable (used by save/load_model)."""
        if self.activation is not None and not isinstance(self.activation, str):
            raise ValueError(f"{self.name}: a callable activation cannot be saved; use a name such as 'relu'")
        cfg = {"name": self.name, "trainable": self.trainable}
        if self.input_shape_arg is not None:
            cfg["input_shape"] = list(self.input_shape_arg)
        for what in ("kernel_regularizer", "bias_regularizer"):
            if getattr(self, what) is not None:
                cfg[what] = regularizers.serialize(getattr(self, what))
        return cfg

    def extra_repr(self):
        return f"name={self.name!r}"
