"""Batch and layer normalisation as one fused op.

Over the reduced axes (M elements per statistic):
  xhat = (x - mean) / sqrt(var + eps),  y = xhat * w + b;
  dx = 1/sqrt(var + eps) * (g - mean(g) - xhat * mean(g * xhat)),  g = dy * w,
  dw = sum(dy * xhat),  db = sum(dy)  (summed over every axis w is broadcast on).
With fixed statistics (batch norm in eval mode) dx = dy * w / sqrt(var + eps).
"""
import math

from ..autograd import Function
from ..backend import get_array_module
from .broadcast import sum_to


class Normalize(Function):
    """y = (x - mean) / sqrt(var + eps) * w + b over ``axes``; ``w``/``b`` broadcast as ``param_shape``.

    ``stats`` = (mean, var) arrays shaped like the result of a keepdims reduction
    uses fixed statistics; otherwise they come from the batch, and
    ``running`` = (running_mean, running_var, momentum) is updated in place with
    the batch mean and the unbiased batch variance.
    """

    def __init__(self, axes, param_shape, eps, has_weight, has_bias, stats=None, running=None):
        self.axes, self.param_shape, self.eps = tuple(axes), tuple(param_shape), float(eps)
        self.has_weight, self.has_bias = has_weight, has_bias
        self.stats, self.running = stats, running

    def forward(self, x, *params):
        xp = get_array_module(x)
        w = params[0].reshape(self.param_shape) if self.has_weight else None
        b = params[-1].reshape(self.param_shape) if self.has_bias else None
        count = math.prod(x.shape[a] for a in self.axes)
        if self.stats is None:
            mean = x.mean(axis=self.axes, keepdims=True)
            centred = x - mean
            var = (centred * centred).mean(axis=self.axes, keepdims=True)
            if self.running is not None:
                self._update_running(mean, var, count)
        else:
            mean, var = (s.astype(x.dtype, copy=False) for s in self.stats)
            centred = x - mean
        self.inv = 1.0 / xp.sqrt(var + self.eps)
        centred *= self.inv
        self.xhat = centred
        self.w = w
        y = self.xhat * w if w is not None else self.xhat.copy()
        if b is not None:
            y += b
        return y

    def _update_running(self, mean, var, count):
        if count < 2:
            raise ValueError(f"batch_norm: training needs more than one value per channel to estimate the "
                             f"variance, got {count} (input too small)")
        running_mean, running_var, momentum = self.running
        m = float(momentum)
        running_mean[...] = (1 - m) * running_mean + m * mean.reshape(running_mean.shape)
        running_var[...] = (1 - m) * running_var + m * (var * (count / (count - 1))).reshape(running_var.shape)

    def backward(self, gy):
        g = gy * self.w if self.w is not None else gy
        if self.stats is None:
            gx = self.inv * (g - g.mean(axis=self.axes, keepdims=True)
                             - self.xhat * (g * self.xhat).mean(axis=self.axes, keepdims=True))
        else:
            gx = g * self.inv
        grads = [gx]
        if self.has_weight:
            grads.append(sum_to(gy * self.xhat, self.param_shape).reshape(self.inputs[1].shape))
        if self.has_bias:
            grads.append(sum_to(gy, self.param_shape).reshape(self.inputs[-1].shape))
        return tuple(grads)
