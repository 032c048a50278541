"""Image functions: convolution, pooling, resampling, normalisation, dropout and embedding."""
import numpy as np

from .. import random
from ..ops.conv import Conv2d, ConvTranspose2d
from ..ops.norm import Normalize
from ..ops.pool import AvgPool2d, MaxPool2d
from ..ops.resample import Resample2d, adaptive_matrix, interpolation_matrices
from ..ops.sparse import Dropout, Embedding
from ..tensor import Tensor, as_tensor

__all__ = ["conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "interpolate",
           "batch_norm", "layer_norm", "dropout", "embedding"]


def _with_bias(fn, x, weight, bias):
    args = (as_tensor(x), as_tensor(weight)) + (() if bias is None else (as_tensor(bias),))
    return fn(*args)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Cross-correlation y[n,o,i,j] = b[o] + sum_{c,p,q} W[o,c,p,q] x_pad[n, c0 + c, i*sh + p*dh, j*sw + q*dw]
    (c0 = the first input channel of o's group).

    x (N, C, H, W), weight (O, C/groups, kh, kw), bias (O,); output size
    floor((H + 2*padding - dilation*(kh-1) - 1) / stride) + 1 per axis (im2col + GEMM).
    """
    return _with_bias(Conv2d(stride, padding, dilation, groups), x, weight, bias)


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """The adjoint (gradient w.r.t. the input) of conv2d: weight (C_in, C_out/groups, kh, kw).

    Output size (H - 1)*stride - 2*padding + dilation*(kh - 1) + output_padding + 1; output_padding < stride.
    """
    return _with_bias(ConvTranspose2d(stride, padding, output_padding, groups, dilation), x, weight, bias)


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """y[n,c,i,j] = max_{p,q} x_pad[n, c, i*s + p, j*s + q] (padding is -inf, at most half the kernel);
    stride defaults to kernel_size."""
    return MaxPool2d(kernel_size, stride, padding)(as_tensor(x))


def avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad=True):
    """y[n,c,i,j] = 1/(P*Q) sum_{p,q} x_pad[n, c, i*s + p, j*s + q]; with count_include_pad=False the
    divisor counts only real (unpadded) pixels."""
    return AvgPool2d(kernel_size, stride, padding, count_include_pad)(as_tensor(x))


def adaptive_avg_pool2d(x, output_size):
    """Average over the windows [floor(i*H/OH), ceil((i+1)*H/OH)) of each axis (None keeps the size)."""
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"adaptive_avg_pool2d: expected a 4-D input (N, C, H, W), got shape {x.shape}")
    if output_size is None or isinstance(output_size, (int, np.integer)):
        sizes = (output_size, output_size)
    else:
        sizes = tuple(output_size)
        if len(sizes) != 2:
            raise ValueError(f"adaptive_avg_pool2d: output_size must be an int or a pair, got {output_size!r}")
    h, w = x.shape[2:]
    oh, ow = (h if sizes[0] is None else int(sizes[0])), (w if sizes[1] is None else int(sizes[1]))
    if oh <= 0 or ow <= 0:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be positive, got {output_size}")
    return Resample2d((adaptive_matrix, (h, oh)), (adaptive_matrix, (w, ow)))(x)


def interpolate(x, scale_factor=2, mode="nearest", size=None, align_corners=False):
    """Resize (N, C, H, W) by ``scale_factor`` (or to ``size``), "nearest" or "bilinear" as PyTorch:
    output floor(H * scale); nearest picks floor(i / scale); bilinear samples at (i + 0.5)/scale - 0.5."""
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"interpolate: expected a 4-D input (N, C, H, W), got shape {x.shape}")
    if mode not in ("nearest", "bilinear"):
        raise ValueError(f"interpolate: mode must be 'nearest' or 'bilinear', got {mode!r}")
    rows, cols = interpolation_matrices(x.shape, size, scale_factor, mode, bool(align_corners))
    return Resample2d(rows, cols)(x)


def _normalize(x, axes, param_shape, weight, bias, eps, **kw):
    weight, bias = as_tensor(weight), as_tensor(bias)
    params = tuple(p for p in (weight, bias) if p is not None)
    return Normalize(axes, param_shape, eps, weight is not None, bias is not None, **kw)(x, *params)


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """y = (x - mean) / sqrt(var + eps) * weight + bias per channel (axis 1).

    training: batch statistics, and running_mean/var (when given) updated in place:
    r = (1 - momentum) r + momentum * batch stat, with the unbiased variance.
    Otherwise the running statistics are used.
    """
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of at least 2 dims (N, C, ...), got shape {x.shape}")
    c = x.shape[1]
    param_shape = (1, c) + (1,) * (x.ndim - 2)
    axes = (0,) + tuple(range(2, x.ndim))
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise ValueError(f"batch_norm: {name} of shape {tuple(t.shape)} does not match {c} channels "
                             f"(input shape {x.shape})")
    stats = [None if t is None else (t.data if isinstance(t, Tensor) else t) for t in (running_mean, running_var)]
    if training:
        running = None if any(s is None for s in stats) else (stats[0], stats[1], momentum)
        return _normalize(x, axes, param_shape, weight, bias, eps, running=running)
    if any(s is None for s in stats):
        raise ValueError("batch_norm: evaluation mode needs running_mean and running_var")
    fixed = tuple(s.reshape(param_shape) for s in stats)
    return _normalize(x, axes, param_shape, weight, bias, eps, stats=fixed)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over the trailing ``normalized_shape`` dims."""
    x = as_tensor(x)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(x.shape[x.ndim - len(shape):]) != shape or len(shape) > x.ndim:
        raise ValueError(f"layer_norm: normalized_shape {shape} does not match the trailing dims of "
                         f"input shape {x.shape}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise ValueError(f"layer_norm: {name} of shape {tuple(t.shape)} does not match normalized_shape {shape}")
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    return _normalize(x, axes, shape, weight, bias, eps)


def dropout(x, p=0.5, training=True):
    """Inverted dropout: zero each element with probability p, scale the rest by 1/(1-p); identity when
    not training or p == 0. Draws from tg.random.generator(device), so tg.manual_seed reproduces it."""
    x = as_tensor(x)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    return Dropout(p, random.generator(x.device))(x)


def embedding(indices, weight):
    """y[...] = weight[indices[...]] for integer indices; the gradient is scatter-added onto weight's rows."""
    weight = as_tensor(weight)
    idx = indices.data if isinstance(indices, Tensor) else weight.xp.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {idx.dtype}")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, dim), got shape {weight.shape}")
    n = weight.shape[0]
    if idx.size and bool(((idx < 0) | (idx >= n)).any()):  # a single host sync on CuPy
        bad = int(idx.min()) if int(idx.min()) < 0 else int(idx.max())
        raise ValueError(f"embedding: index {bad} is out of range for {n} embeddings (weight shape {weight.shape})")
    return Embedding(idx)(weight)
