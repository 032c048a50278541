"""Tensor factories: zeros, ones, full, randn, rand, arange, eye and the *_like forms.

Each takes ``dtype=`` (float32 by default), ``device=`` (the default device
when None) and ``requires_grad=``.
"""
import numpy as np

from . import backend, random
from .tensor import Tensor, _FLOAT_DEFAULT, as_dtype


def _shape(shape):
    """``zeros(2, 3)`` and ``zeros((2, 3))`` both mean shape (2, 3)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _make(fill, shape, dtype, device, requires_grad):
    """A Tensor from ``fill(xp, shape, dtype)`` on ``device`` (float32 unless ``dtype``)."""
    device = backend.check_device(device)
    xp = backend.xp_of_device(device)
    data = fill(xp, _shape(shape), as_dtype(dtype) or np.dtype(_FLOAT_DEFAULT))
    return Tensor(data, dtype=data.dtype, requires_grad=requires_grad)


def zeros(*shape, dtype=None, device=None, requires_grad=False):
    """A tensor of ``shape`` with every element 0."""
    return _make(lambda xp, s, d: xp.zeros(s, dtype=d), shape, dtype, device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False):
    """A tensor of ``shape`` with every element 1."""
    return _make(lambda xp, s, d: xp.ones(s, dtype=d), shape, dtype, device, requires_grad)


def full(shape, fill_value, dtype=None, device=None, requires_grad=False):
    """A tensor of ``shape`` (an int or a tuple) with every element ``fill_value``."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return _make(lambda xp, s, d: xp.full(s, fill_value, dtype=d), shape, dtype, device, requires_grad)


def zeros_like(t, dtype=None, device=None, requires_grad=False):
    """zeros of ``t``'s shape, dtype and device (unless given)."""
    return zeros(*t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False):
    """ones of ``t``'s shape, dtype and device (unless given)."""
    return ones(*t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    """``fill_value`` everywhere, with ``t``'s shape, dtype and device (unless given)."""
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def randn(*shape, dtype=None, device=None, requires_grad=False):
    """Samples of N(0, 1) from the device's seeded generator (see ``tg.manual_seed``)."""
    device = backend.check_device(device)
    gen = random.generator(device)
    return _make(lambda xp, s, d: gen.standard_normal(s, dtype=np.float32).astype(d, copy=False)
                 if d != np.float64 else gen.standard_normal(s), shape, dtype, device, requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad=False):
    """Samples of U[0, 1) from the device's seeded generator (see ``tg.manual_seed``)."""
    device = backend.check_device(device)
    gen = random.generator(device)
    return _make(lambda xp, s, d: gen.random(s, dtype=np.float32).astype(d, copy=False)
                 if d != np.float64 else gen.random(s), shape, dtype, device, requires_grad)


def arange(start, stop=None, step=1, dtype=None, device=None, requires_grad=False):
    """start, start + step, ... below stop (``arange(n)`` = 0..n-1); integer arguments give int64,
    float ones float32."""
    device = backend.check_device(device)
    xp = backend.xp_of_device(device)
    data = xp.arange(start, stop, step) if stop is not None else xp.arange(start)
    if dtype is None and data.dtype.kind == "f":
        dtype = _FLOAT_DEFAULT
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    """The n x m (m = n by default) identity: I_ij = 1 if i == j else 0."""
    return _make(lambda xp, s, d: xp.eye(n, m, dtype=d), (), dtype, device, requires_grad)


def tensor(data, requires_grad=False, dtype=None, device=None):
    """Same as ``Tensor(...)``."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)
