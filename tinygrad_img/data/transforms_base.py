"""The batch-transform protocol and the deterministic transforms: Compose, ToTensor, Normalize.

A transform maps a whole batch to a batch: a NumPy array, a CuPy array or a
Tensor in, the same kind out (a Tensor comes back detached, on its device).
Images are NCHW floating point; the random transforms draw one set of
parameters per image from ``tinygrad_img.random.generator(device)``, so
``tg.manual_seed`` makes augmentation reproducible on either device.
"""
import numpy as np

from .. import backend, random
from ..tensor import Tensor
from .dataset import as_array


def unwrap(x):
    """(raw array, function turning a result back into the kind of ``x``)."""
    if isinstance(x, Tensor):
        return x.data, lambda a: Tensor(a, dtype=a.dtype)
    if not hasattr(x, "shape"):
        raise TypeError(f"transforms: expected a NumPy/CuPy array or a Tensor, got {type(x).__name__}")
    return as_array(x), lambda a: a


def uniform(ref, n, low, high):
    """``n`` float32 samples from U[low, high) on the device of array ``ref``."""
    u = random.generator(backend.device_of(ref)).random(n, dtype=np.float32)
    return float(low) + float(high - low) * u


def check_range(name, value, what, lowest=None):
    """A (low, high) pair from a pair, or from a number v meaning (-v, v)."""
    if isinstance(value, (int, float)):
        low, high = -float(value), float(value)
    else:
        try:
            low, high = (float(v) for v in value)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: {what} must be a number or a (min, max) pair, got {value!r}") from None
    if low > high or (lowest is not None and low < lowest):
        raise ValueError(f"{name}: {what} range ({low}, {high}) is invalid"
                         + (f" (values must be >= {lowest})" if lowest is not None else ""))
    return low, high


class Transform:
    """Base of the NCHW batch transforms: ``__call__`` unwraps, checks, calls ``apply(array)``."""

    def __call__(self, x):
        arr, wrap = unwrap(x)
        if arr.ndim != 4 or arr.dtype.kind != "f":
            raise ValueError(f"{type(self).__name__}: expects a floating-point NCHW batch, got shape "
                             f"{arr.shape} and dtype {arr.dtype} (use ToTensor first for uint8 or HWC images)")
        out = self.apply(arr)
        return wrap(out.astype(arr.dtype, copy=False))

    def apply(self, x):
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class Compose:
    """Apply ``transforms`` in order: Compose([f, g])(x) == g(f(x))."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose: every transform must be callable, got {type(t).__name__}")

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self):
        return "Compose([" + ", ".join(repr(t) for t in self.transforms) + "])"


class ToTensor:
    """Images to float NCHW: integer pixels are divided by 255 (uint8 -> [0, 1]) and become
    float32; floating input keeps its values (float64 becomes float32).

    ``layout="auto"`` reads a 4-D batch as NHWC when its last dim is 1, 3 or 4 and
    its second is not, else as NCHW; a 3-D array is one HWC image (last dim 1, 3
    or 4, giving (C, H, W)) or else a stack of grayscale (N, H, W) images (giving
    (N, 1, H, W)); a 2-D array is one grayscale image (1, H, W). ``layout="NHWC"``
    or ``"NCHW"`` forces a 4-D reading. Despite the name (kept from torchvision)
    the output has the input's kind: array in, array out; Tensor in, Tensor out.
    """

    def __init__(self, layout="auto"):
        if layout not in ("auto", "NHWC", "NCHW"):
            raise ValueError(f"ToTensor: layout must be 'auto', 'NHWC' or 'NCHW', got {layout!r}")
        self.layout = layout

    def _channels_first(self, a):
        if a.ndim == 4:
            nhwc = self.layout == "NHWC" or (self.layout == "auto" and a.shape[-1] in (1, 3, 4)
                                              and a.shape[1] not in (1, 3, 4))
            return a.transpose(0, 3, 1, 2) if nhwc else a
        if self.layout != "auto":
            raise ValueError(f"ToTensor: layout={self.layout!r} needs a 4-D batch, got shape {a.shape}")
        if a.ndim == 3:
            return a.transpose(2, 0, 1) if a.shape[-1] in (1, 3, 4) else a[:, None]
        if a.ndim == 2:
            return a[None]
        raise ValueError(f"ToTensor: expects a 2-D, 3-D or 4-D image array, got shape {a.shape}")

    def __call__(self, x):
        arr, wrap = unwrap(x)
        xp = backend.get_array_module(arr)
        out = self._channels_first(arr)
        if out.dtype.kind in "iub":
            out = out.astype(np.float32) / 255.0
        elif out.dtype != np.float32:
            out = out.astype(np.float32)
        return wrap(xp.ascontiguousarray(out))

    def __repr__(self):
        return f"ToTensor(layout={self.layout!r})"


class Normalize(Transform):
    """y[:, c] = (x[:, c] - mean[c]) / std[c]; ``mean``/``std`` are numbers or one value per channel."""

    def __init__(self, mean, std):
        self.mean = tuple(float(m) for m in np.atleast_1d(mean))
        self.std = tuple(float(s) for s in np.atleast_1d(std))
        if any(s <= 0 for s in self.std):
            raise ValueError(f"Normalize: std must be positive, got {self.std}")

    def apply(self, x):
        c = x.shape[1]
        for name, v in (("mean", self.mean), ("std", self.std)):
            if len(v) not in (1, c):
                raise ValueError(f"Normalize: {name} has {len(v)} values but the batch has {c} channels "
                                 f"(shape {x.shape})")
        xp = backend.get_array_module(x)
        mean = xp.asarray(self.mean, dtype=x.dtype).reshape(1, -1, 1, 1)
        std = xp.asarray(self.std, dtype=x.dtype).reshape(1, -1, 1, 1)
        return (x - mean) / std
