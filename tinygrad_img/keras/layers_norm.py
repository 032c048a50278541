"""Keras' BatchNormalization over any feature axis (or axes)."""
import numbers

import numpy as np

from ..autograd import no_grad
from ..nn.module import Parameter
from .layer import Layer, zeros

__all__ = ["BatchNormalization"]


def _axis_list(axis):
    """``axis`` as a list of ints (an int, or a non-empty list/tuple of ints); TypeError otherwise."""
    items = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    if not items or any(isinstance(a, bool) or not isinstance(a, numbers.Integral) for a in items):
        raise TypeError(f"BatchNormalization: axis must be an int or a non-empty list of ints, got {axis!r}")
    return [int(a) for a in items]


class BatchNormalization(Layer):
    """y = gamma (x - mu) / sqrt(var + epsilon) + beta, one (gamma, beta, mu, var) per
    position along ``axis`` (default -1, the channels-last axis; ``axis=1`` for NCHW-like
    inputs). A list of axes gives weights shaped by the sizes along those axes in increasing
    axis order, e.g. (H, W) for axis=[1, 2] on (N, H, W, C) inputs. That is this library's
    layout, not Keras': Keras 3 takes a single int axis only, and tf.keras 2 makes multi-axis
    weights full-rank with 1 on every other axis, batch included ((1, H, W, 1) here), so such
    weights need a reshape to move between the two.

    Axes index the full input, batch axis included (so 0, the batch axis, is not
    allowed; negative values count from the end). Training uses the batch
    statistics over every other axis and updates
    moving_stat <- momentum * moving_stat + (1 - momentum) * batch_stat (Keras'
    convention: momentum 0.99, biased variance, epsilon 1e-3); inference uses
    the moving statistics. The moving statistics are non-trainable weights.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, **kwargs):
        super().__init__(**kwargs)
        _axis_list(axis)
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else int(axis)
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.center, self.scale = center, scale

    def _axes(self, input_shape):
        """The sorted non-negative axes of a (None, *input_shape) input; ValueError when out of range."""
        rank = len(input_shape) + 1
        axes = sorted(a + rank if a < 0 else a for a in _axis_list(self.axis))
        shape = "(None, " + ", ".join(str(d) for d in input_shape) + ")"
        if any(not 1 <= a < rank for a in axes) or len(set(axes)) != len(axes):
            raise ValueError(f"BatchNormalization: axis {self.axis} is invalid for input shape {shape}: "
                             f"each axis must be distinct and in [1, {rank - 1}] (or [-{rank - 1}, -1]); "
                             f"axis 0 is the batch axis")
        return axes

    def build(self, input_shape):
        shape = tuple(input_shape[a - 1] for a in self._axes(input_shape))
        if self.scale:
            self.gamma = Parameter(np.ones(shape, dtype=np.float32))
        if self.center:
            self.beta = zeros(shape)
        self.register_buffer("moving_mean", np.zeros(shape, dtype=np.float32))
        self.register_buffer("moving_variance", np.ones(shape, dtype=np.float32))

    def call(self, x):
        axes = self._axes(x.shape[1:])
        feature_shape = tuple(x.shape[a] for a in axes)
        if feature_shape != tuple(self.moving_mean.shape):
            raise ValueError(f"BatchNormalization: input shape {x.shape} has sizes {feature_shape} on axis "
                             f"{self.axis}, but the layer was built for {tuple(self.moving_mean.shape)}")
        others = tuple(i for i in range(x.ndim) if i not in axes)
        bshape = tuple(x.shape[i] if i in axes else 1 for i in range(x.ndim))
        if self.training:
            mean = x.mean(axis=others, keepdims=True)
            centered = x - mean
            var = (centered * centered).mean(axis=others, keepdims=True)
            with no_grad():
                m = self.momentum
                self.moving_mean.data[...] = m * self.moving_mean.data + (1 - m) * mean.data.reshape(feature_shape)
                self.moving_variance.data[...] = (m * self.moving_variance.data
                                                  + (1 - m) * var.data.reshape(feature_shape))
        else:
            centered = x - self.moving_mean.reshape(bshape)
            var = self.moving_variance.reshape(bshape)
        y = centered / (var + self.epsilon).sqrt()
        if self.scale:
            y = y * self.gamma.reshape(bshape)
        return y + self.beta.reshape(bshape) if self.center else y

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale}
