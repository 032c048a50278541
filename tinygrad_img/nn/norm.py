"""Normalisation layers: BatchNorm1d, BatchNorm2d, LayerNorm."""
import numpy as np

from .. import functional as F
from ..creation import full
from .layers import new_parameter
from .module import Module

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm"]


class _BatchNorm(Module):
    """y = (x - mean) / sqrt(var + eps) * gamma + beta per channel (dim 1).

    Training uses the batch's mean and biased variance and updates the buffers
    running_mean <- (1 - momentum) running_mean + momentum * mean and
    running_var <- (1 - momentum) running_var + momentum * unbiased var;
    ``momentum=None`` uses the cumulative average (momentum = 1 / batches seen).
    Eval uses the running statistics. gamma starts at 1, beta at 0.
    """
    _ndims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.register_parameter("weight", new_parameter(self.num_features, fill=1.0) if affine else None)
        self.register_parameter("bias", new_parameter(self.num_features) if affine else None)
        if track_running_stats:
            self.register_buffer("running_mean", full((self.num_features,), 0.0))
            self.register_buffer("running_var", full((self.num_features,), 1.0))
            self.register_buffer("num_batches_tracked", full((), 0, dtype=np.int64))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def forward(self, x):
        name = type(self).__name__
        if x.ndim not in self._ndims:
            raise ValueError(f"{name}: expected a {' or '.join(f'{d}-D' for d in self._ndims)} input, "
                             f"got shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{name}: input has {x.shape[1]} channels but the layer has "
                             f"{self.num_features} (input shape {x.shape})")
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:
                momentum = 1.0 / float(self.num_batches_tracked.data)
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=self.training or not self.track_running_stats, momentum=momentum,
                            eps=self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) inputs; statistics over every dim but C."""
    _ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) images; statistics over N, H and W."""
    _ndims = (4,)


class LayerNorm(Module):
    """y = (x - mean) / sqrt(var + eps) * gamma + beta, with mean and biased var over the
    trailing ``normalized_shape`` dims; gamma starts at 1, beta at 0."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps = shape, float(eps)
        self.elementwise_affine = elementwise_affine
        self.register_parameter("weight", new_parameter(*shape, fill=1.0) if elementwise_affine else None)
        self.register_parameter("bias", new_parameter(*shape) if elementwise_affine and bias else None)

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
