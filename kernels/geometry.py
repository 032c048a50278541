"""Sliding-window arithmetic shared by the kernels, the ops and the layers (pure Python)."""
import numpy as np


def out_size(size, k, s, p, d=1):
    """Output length of a strided window: floor((size + 2p - d(k - 1) - 1) / s) + 1."""
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def window(start, stride, count):
    """The slice picking ``count`` positions ``start, start + stride, ...``."""
    return slice(start, start + stride * (count - 1) + 1, stride)


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def pair(value, name, op, minimum=None):
    """An int or a pair of ints (Python or NumPy) as a pair of Python ints, each >= ``minimum``.

    A value that is not made of ints raises TypeError; a sequence of the wrong length or a value
    below ``minimum`` raises ValueError. Both name the op and the argument.
    """
    message = f"{op}: {name} must be an int or a pair of ints, got {value!r}"
    if _is_int(value):
        vals = (value, value)
    else:
        try:
            vals = tuple(value)
        except TypeError:
            raise TypeError(message) from None
        if not all(_is_int(v) for v in vals):
            raise TypeError(message)
        if len(vals) != 2:
            raise ValueError(message)
    if minimum is not None and min(vals) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return int(vals[0]), int(vals[1])
