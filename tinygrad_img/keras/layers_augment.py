"""Keras preprocessing layers for data augmentation, active only while training.

Each draws one random transform per image and applies it to the
channels-last batch (transposed to the NCHW layout of ``tg.data.transforms``
and back); at inference the input passes through unchanged, as in Keras.
Augmentation needs no gradient: the layers belong at the start of a model, on
the raw images. Factors follow Keras: a number f means the range (-f, f), a
pair is (min, max). Pixels that come from outside the image read as
``fill_value`` (``fill_mode="constant"``, the one mode implemented; Keras'
default is "reflect"); sampling is bilinear.
"""
import numpy as np

from .. import backend
from ..data import transforms as T
from ..data.transforms_base import check_range, uniform
from ..data.transforms_geometric import bilinear_sample, warp_about_centre
from ..tensor import Tensor
from .layer import Layer

__all__ = ["RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "GaussianNoise"]


class _Augment(Layer):
    def augment(self, x):
        """The augmented copy of the NCHW array ``x``."""
        raise NotImplementedError

    def call(self, x):
        if not self.training:
            return x
        if x.ndim != 4:
            raise ValueError(f"{type(self).__name__}: expects (N, H, W, C) images, got shape {x.shape}")
        out = self.augment(x.data.transpose(0, 3, 1, 2))
        return Tensor(out.transpose(0, 2, 3, 1), dtype=x.dtype)


class _Warp(_Augment):
    """Shared ``fill_mode``/``fill_value`` handling of the geometric layers."""

    def __init__(self, fill_mode="constant", fill_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if fill_mode != "constant":
            raise ValueError(f"{type(self).__name__}: only fill_mode='constant' is implemented, got {fill_mode!r}")
        self.fill_value = float(fill_value)

    def get_config(self):
        return {**super().get_config(), "fill_mode": "constant", "fill_value": self.fill_value}


class RandomFlip(_Augment):
    """Mirror each image with probability 1/2: mode "horizontal", "vertical" or "horizontal_and_vertical"."""

    def __init__(self, mode="horizontal_and_vertical", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("horizontal", "vertical", "horizontal_and_vertical"):
            raise ValueError(f"RandomFlip: unknown mode {mode!r}")
        self.mode = mode

    def augment(self, x):
        flips = []
        if "horizontal" in self.mode:
            flips.append(T.RandomHorizontalFlip())
        if "vertical" in self.mode:
            flips.append(T.RandomVerticalFlip())
        return T.Compose(flips)(x)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class RandomRotation(_Warp):
    """Rotate about the centre by U(factor) * 2 pi radians (a fraction of a full turn;
    positive is counter-clockwise)."""

    def __init__(self, factor, fill_mode="constant", fill_value=0.0, **kwargs):
        super().__init__(fill_mode, fill_value, **kwargs)
        self.factor = check_range("RandomRotation", factor, "factor")

    def augment(self, x):
        return T.RandomRotation([f * 360.0 for f in self.factor], fill=self.fill_value)(x)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor)}


class RandomZoom(_Warp):
    """Zoom about the centre: output pixel p reads the input at c + (1 + u) (p - c) along each
    axis, u ~ U(height_factor) vertically and U(width_factor) horizontally (u > 0 zooms out,
    u < 0 zooms in); ``width_factor=None`` reuses the vertical draw, keeping the aspect ratio."""

    def __init__(self, height_factor, width_factor=None, fill_mode="constant", fill_value=0.0, **kwargs):
        super().__init__(fill_mode, fill_value, **kwargs)
        self.height_factor = check_range("RandomZoom", height_factor, "height_factor", lowest=-1.0)
        self.width_factor = None if width_factor is None else \
            check_range("RandomZoom", width_factor, "width_factor", lowest=-1.0)

    def augment(self, x):
        xp = backend.get_array_module(x)
        zy = 1.0 + uniform(x, x.shape[0], *self.height_factor)
        zx = zy if self.width_factor is None else 1.0 + uniform(x, x.shape[0], *self.width_factor)
        zero = xp.zeros_like(zy)
        m = xp.stack([xp.stack([zy, zero], axis=-1), xp.stack([zero, zx], axis=-1)], axis=1)
        return warp_about_centre(x, m, self.fill_value)

    def get_config(self):
        return {**super().get_config(), "height_factor": list(self.height_factor),
                "width_factor": None if self.width_factor is None else list(self.width_factor)}


class RandomTranslation(_Warp):
    """Shift each image by (dy, dx) = (U(height_factor) H, U(width_factor) W) pixels (positive:
    down / right): output pixel (i, j) reads the input at (i - dy, j - dx). Factor 0 on an axis
    leaves that axis exactly as it was."""

    def __init__(self, height_factor, width_factor, fill_mode="constant", fill_value=0.0, **kwargs):
        super().__init__(fill_mode, fill_value, **kwargs)
        self.height_factor = check_range("RandomTranslation", height_factor, "height_factor", lowest=-1.0)
        self.width_factor = check_range("RandomTranslation", width_factor, "width_factor", lowest=-1.0)

    def augment(self, x):
        xp = backend.get_array_module(x)
        n, _, h, w = x.shape
        dy = uniform(x, n, *self.height_factor) * np.float32(h)
        dx = uniform(x, n, *self.width_factor) * np.float32(w)
        ys = xp.arange(h, dtype=np.float32)[None, :, None] - dy[:, None, None]
        xs = xp.arange(w, dtype=np.float32)[None, None, :] - dx[:, None, None]
        return bilinear_sample(x, xp.broadcast_to(ys, (n, h, w)), xp.broadcast_to(xs, (n, h, w)), self.fill_value)

    def get_config(self):
        return {**super().get_config(), "height_factor": list(self.height_factor),
                "width_factor": list(self.width_factor)}


class GaussianNoise(_Augment):
    """x + N(0, stddev^2) noise while training."""

    def __init__(self, stddev, **kwargs):
        super().__init__(**kwargs)
        self.stddev = float(stddev)

    def call(self, x):
        if not self.training:
            return x
        as_batch = x.data.reshape(x.shape[0], 1, 1, -1)
        return Tensor(T.GaussianNoise(self.stddev)(as_batch).reshape(x.shape), dtype=x.dtype)

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev}
