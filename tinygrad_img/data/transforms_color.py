"""Photometric augmentation of NCHW batches: ColorJitter and GaussianNoise, one draw per image."""
import numpy as np

from .. import backend, random
from .transforms_base import Transform, check_range, uniform

_LUMA = (0.299, 0.587, 0.114)


def grayscale(x):
    """Per-pixel luminance, shape (N, 1, H, W): ITU-R 601 weights for RGB, the channel mean otherwise."""
    xp = backend.get_array_module(x)
    if x.shape[1] == 3:
        weights = xp.asarray(_LUMA, dtype=x.dtype).reshape(1, 3, 1, 1)
        return (x * weights).sum(axis=1, keepdims=True)
    return x.mean(axis=1, keepdims=True)


def _factor_range(name, value):
    """A number v means factors in [max(0, 1 - v), 1 + v]; a pair is taken as given."""
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"ColorJitter: {name} must be >= 0, got {value}")
        return max(0.0, 1.0 - value), 1.0 + value
    return check_range("ColorJitter", value, name, lowest=0.0)


class ColorJitter(Transform):
    """Per image, with factors b, c, s drawn uniformly from their ranges, in this order:
    brightness x <- b * x; contrast x <- c * x + (1 - c) * mean(gray(x)); saturation
    x <- s * x + (1 - s) * gray(x) (gray: luminance of RGB; a 1-channel image is its own
    gray). ``clip=True`` clamps to [0, 1] after each step, as torchvision does for float
    images. A component whose range is exactly (1, 1) (the default 0) is skipped."""

    def __init__(self, brightness=0.0, contrast=0.0, saturation=0.0, clip=True):
        self.brightness = _factor_range("brightness", brightness)
        self.contrast = _factor_range("contrast", contrast)
        self.saturation = _factor_range("saturation", saturation)
        self.clip = bool(clip)

    def apply(self, x):
        xp = backend.get_array_module(x)
        n = x.shape[0]
        for name, rng in (("brightness", self.brightness), ("contrast", self.contrast),
                          ("saturation", self.saturation)):
            if rng == (1.0, 1.0):
                continue
            f = uniform(x, n, *rng).astype(x.dtype)[:, None, None, None]
            if name == "brightness":
                x = x * f
            elif name == "contrast":
                x = f * x + (1 - f) * grayscale(x).mean(axis=(1, 2, 3), keepdims=True)
            else:
                x = f * x + (1 - f) * grayscale(x)
            if self.clip:
                x = xp.clip(x, 0.0, 1.0)
        return x


class GaussianNoise(Transform):
    """x + mean + std * N(0, 1), drawn independently for every element; ``clip=True`` then
    clamps to [0, 1]."""

    def __init__(self, std=0.05, mean=0.0, clip=False):
        if std < 0:
            raise ValueError(f"GaussianNoise: std must be >= 0, got {std}")
        self.std, self.mean, self.clip = float(std), float(mean), bool(clip)

    def apply(self, x):
        xp = backend.get_array_module(x)
        gen = random.generator(backend.device_of(x))
        dtype = np.float64 if x.dtype == np.float64 else np.float32
        out = x + (self.mean + self.std * gen.standard_normal(x.shape, dtype=dtype))
        return xp.clip(out, 0.0, 1.0) if self.clip else out
