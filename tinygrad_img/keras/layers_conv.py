"""Channels-last image layers: Conv2D, MaxPooling2D, AveragePooling2D, global pooling, UpSampling2D.

Inputs and outputs are (N, H, W, C) as in Keras. Each layer transposes to the
core's NCHW layout, calls the functional op and transposes back; the two
transposes are cheap next to the convolution and keep every Keras layer
self-contained (Flatten then sees Keras' H, W, C order). "same" padding
follows TensorFlow: total = max((ceil(H / s) - 1) s + k_eff - H, 0), with the
extra pixel (if odd) at the bottom/right.
"""
import math

import numpy as np

from .. import functional as F
from ..kernels.geometry import pair
from ..tensor import Tensor
from ..tensor_functions import pad
from .layer import Layer, glorot_uniform, zeros

__all__ = ["Conv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
           "GlobalMaxPooling2D", "UpSampling2D"]


def _pair(v, name, owner):
    """A positive int (Python or NumPy) or a pair of them as a pair of Python ints."""
    return pair(v, name, owner, minimum=1)


def _padding(padding, owner):
    padding = padding.lower()
    if padding not in ("valid", "same"):
        raise ValueError(f"{owner}: padding must be 'valid' or 'same', got {padding!r}")
    return padding


def _out_size(size, k, s, padding):
    """Output length along one axis for effective kernel size k and stride s."""
    return math.ceil(size / s) if padding == "same" else (size - k) // s + 1


def _same_pads(size, k, s):
    total = max((math.ceil(size / s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def _to_nchw(x):
    return x.transpose(0, 3, 1, 2)


def _to_nhwc(x):
    return x.transpose(0, 2, 3, 1)


def _pad_nchw(x, kernel, strides, value=0.0):
    """TensorFlow "same" padding of an NCHW tensor (possibly asymmetric)."""
    (t, b), (l, r) = (_same_pads(x.shape[2 + i], kernel[i], strides[i]) for i in range(2))
    if t == b == l == r == 0:
        return x
    return pad(x, ((0, 0), (0, 0), (t, b), (l, r)), value=value)


def _check_image(owner, input_shape):
    if len(input_shape) != 3:
        raise ValueError(f"{owner}: expected images of shape (H, W, C) per sample, got {input_shape}")


class Conv2D(Layer):
    """y[n, i, j, f] = activation(sum_{p,q,c} x[n, i*s+p*d, j*s+q*d, c] K[p, q, c, f] + b[f])
    (cross-correlation, as in every framework); kernel (kh, kw, in, filters) glorot-uniform."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", dilation_rate=(1, 1),
                 activation=None, use_bias=True, **kwargs):
        super().__init__(activation=activation, **kwargs)
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size, "kernel_size", "Conv2D")
        self.strides = _pair(strides, "strides", "Conv2D")
        self.dilation_rate = _pair(dilation_rate, "dilation_rate", "Conv2D")
        self.padding, self.use_bias = _padding(padding, "Conv2D"), use_bias

    def _effective_kernel(self):
        return tuple((k - 1) * d + 1 for k, d in zip(self.kernel_size, self.dilation_rate))

    def build(self, input_shape):
        _check_image("Conv2D", input_shape)
        kh, kw = self.kernel_size
        cin = input_shape[-1]
        self.kernel = glorot_uniform((kh, kw, cin, self.filters), kh * kw * cin, kh * kw * self.filters)
        if self.use_bias:
            self.bias = zeros((self.filters,))

    def output_shape_for(self, input_shape):
        _check_image("Conv2D", input_shape)
        k = self._effective_kernel()
        h, w = (_out_size(input_shape[i], k[i], self.strides[i], self.padding) for i in range(2))
        if h <= 0 or w <= 0:
            raise ValueError(f"Conv2D: input {input_shape} is smaller than the kernel {self.kernel_size}")
        return (h, w, self.filters)

    def call(self, x):
        x = _to_nchw(x)
        if self.padding == "same":
            x = _pad_nchw(x, self._effective_kernel(), self.strides)
        weight = self.kernel.transpose(3, 2, 0, 1)
        y = F.conv2d(x, weight, self.bias if self.use_bias else None, stride=self.strides,
                     padding=0, dilation=self.dilation_rate)
        return _to_nhwc(y)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding,
                "dilation_rate": list(self.dilation_rate), "activation": self.activation,
                "use_bias": self.use_bias}


class _Pooling2D(Layer):
    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        self.pool_size = _pair(pool_size, "pool_size", name)
        self.strides = _pair(strides, "strides", name) if strides is not None else self.pool_size
        self.padding = _padding(padding, name)

    def output_shape_for(self, input_shape):
        _check_image(type(self).__name__, input_shape)
        h, w = (_out_size(input_shape[i], self.pool_size[i], self.strides[i], self.padding) for i in range(2))
        if h <= 0 or w <= 0:
            raise ValueError(f"{type(self).__name__}: input {input_shape} is smaller than the pool {self.pool_size}")
        return (h, w, input_shape[2])

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding}


class MaxPooling2D(_Pooling2D):
    """y[n, i, j, c] = max_{p,q} x[n, i*s+p, j*s+q, c] ("same" pads with -inf)."""

    def call(self, x):
        x = _to_nchw(x)
        if self.padding == "same":
            x = _pad_nchw(x, self.pool_size, self.strides, value=-np.inf)
        return _to_nhwc(F.max_pool2d(x, self.pool_size, stride=self.strides))


class AveragePooling2D(_Pooling2D):
    """y[n, i, j, c] = mean_{p,q} x[n, i*s+p, j*s+q, c]; with "same" the mean counts real pixels only."""

    def call(self, x):
        x = _to_nchw(x)
        if self.padding == "valid":
            return _to_nhwc(F.avg_pool2d(x, self.pool_size, stride=self.strides))
        ones = Tensor(x.xp.ones((1, 1, *x.shape[2:]), dtype=x.dtype))
        sums = F.avg_pool2d(_pad_nchw(x, self.pool_size, self.strides), self.pool_size, stride=self.strides)
        counts = F.avg_pool2d(_pad_nchw(ones, self.pool_size, self.strides), self.pool_size, stride=self.strides)
        return _to_nhwc(sums / counts)


class GlobalAveragePooling2D(Layer):
    """(N, H, W, C) -> (N, C): y[n, c] = mean_{i,j} x[n, i, j, c]."""

    def __init__(self, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.keepdims = keepdims

    def output_shape_for(self, input_shape):
        _check_image(type(self).__name__, input_shape)
        return (1, 1, input_shape[2]) if self.keepdims else (input_shape[2],)

    def call(self, x):
        return x.mean(axis=(1, 2), keepdims=self.keepdims)

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims}


class GlobalMaxPooling2D(GlobalAveragePooling2D):
    """(N, H, W, C) -> (N, C): y[n, c] = max_{i,j} x[n, i, j, c]."""

    def call(self, x):
        return x.max(axis=(1, 2), keepdims=self.keepdims)


class UpSampling2D(Layer):
    """Nearest-neighbour upsampling: y[n, i, j, c] = x[n, i // sh, j // sw, c]."""

    def __init__(self, size=(2, 2), **kwargs):
        super().__init__(**kwargs)
        self.size = _pair(size, "size", "UpSampling2D")

    def output_shape_for(self, input_shape):
        _check_image("UpSampling2D", input_shape)
        return (input_shape[0] * self.size[0], input_shape[1] * self.size[1], input_shape[2])

    def call(self, x):
        n, h, w, c = x.shape
        sh, sw = self.size
        y = x.reshape(n, h, 1, w, 1, c).expand(n, h, sh, w, sw, c)
        return y.reshape(n, h * sh, w * sw, c)

    def get_config(self):
        return {**super().get_config(), "size": list(self.size)}
