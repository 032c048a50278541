"""Weight initialisers (``tg.nn.init``), PyTorch's formulas, filling a tensor in place.

Fans of a weight of shape (out, in, *kernel): fan_in = in * prod(kernel),
fan_out = out * prod(kernel). Samples come from
``tinygrad_img.random.generator(device)``, so ``tg.manual_seed`` makes them
reproducible. Each function returns the tensor it filled.
"""
import math

import numpy as np

from .. import random

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_", "kaiming_uniform_",
           "kaiming_normal_", "xavier_uniform_", "xavier_normal_", "orthogonal_"]


def calculate_gain(nonlinearity, param=None):
    """The recommended std gain: 1 (linear, conv, sigmoid), 5/3 (tanh), sqrt(2) (relu),
    sqrt(2 / (1 + a^2)) (leaky_relu with slope a, 0.01 by default), 3/4 (selu)."""
    if nonlinearity in ("linear", "identity", "sigmoid") or nonlinearity.startswith("conv"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        a = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + a * a))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def fans(shape, op="init"):
    """(fan_in, fan_out) of a weight shape (out, in, *kernel)."""
    if len(shape) < 2:
        raise ValueError(f"{op}: fan in and fan out need a weight with at least 2 dims, got shape {tuple(shape)}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _fill(t, sample):
    """Write ``sample(gen, shape, dtype)`` into t.data without recording a graph."""
    dtype = np.float64 if t.dtype == np.float64 else np.float32
    values = sample(random.generator(t.device), t.shape, dtype)
    t.data[...] = values.astype(t.dtype, copy=False)
    return t


def uniform_(t, a=0.0, b=1.0):
    """t ~ U(a, b)."""
    return _fill(t, lambda g, s, d: g.random(s, dtype=d) * (float(b) - float(a)) + float(a))


def normal_(t, mean=0.0, std=1.0):
    """t ~ N(mean, std^2)."""
    return _fill(t, lambda g, s, d: g.standard_normal(s, dtype=d) * float(std) + float(mean))


def constant_(t, value):
    """t = value everywhere."""
    t.data[...] = value
    return t


def zeros_(t):
    return constant_(t, 0)


def ones_(t):
    return constant_(t, 1)


def _fan(t, mode, op):
    fan_in, fan_out = fans(t.shape, op)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{op}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return fan_in if mode == "fan_in" else fan_out


def kaiming_uniform_(t, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """t ~ U(-bound, bound), bound = gain * sqrt(3 / fan); with a = sqrt(5) (the Linear/Conv default)
    this is bound = 1 / sqrt(fan_in)."""
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(t, mode, "kaiming_uniform_"))
    return uniform_(t, -bound, bound)


def kaiming_normal_(t, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """t ~ N(0, std^2), std = gain / sqrt(fan)."""
    return normal_(t, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(_fan(t, mode, "kaiming_normal_")))


def xavier_uniform_(t, gain=1.0):
    """t ~ U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(t.shape, "xavier_uniform_")
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound)


def xavier_normal_(t, gain=1.0):
    """t ~ N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(t.shape, "xavier_normal_")
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def orthogonal_(t, gain=1.0):
    """t (flattened to rows x cols) = gain * Q, Q from the QR decomposition of a normal matrix,
    signs fixed by diag(R) so Q is uniformly distributed; rows or columns orthonormal."""
    if t.ndim < 2:
        raise ValueError(f"orthogonal_: needs a tensor with at least 2 dims, got shape {t.shape}")
    rows, cols = t.shape[0], t.size // t.shape[0]

    def sample(g, s, d):
        xp = t.xp
        a = g.standard_normal((rows, cols), dtype=d)
        if rows < cols:
            a = a.T
        q, r = xp.linalg.qr(a)
        q = q * xp.sign(xp.diag(r))
        if rows < cols:
            q = q.T
        return (q * float(gain)).reshape(s)
    return _fill(t, sample)
