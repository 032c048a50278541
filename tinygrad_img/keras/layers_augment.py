"""Keras preprocessing layers for data augmentation, active only while training.

Each wraps a ``tg.data.transforms`` batch transform (NCHW), transposing the
channels-last batch around it; at inference the input passes through
unchanged, as in Keras. Augmentation needs no gradient: the layers belong at
the start of a model, on the raw images.
"""
import math

from ..data import transforms as T
from ..tensor import Tensor
from .layer import Layer

__all__ = ["RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "GaussianNoise"]


class _Augment(Layer):
    def transform(self):
        raise NotImplementedError

    def call(self, x):
        if not self.training:
            return x
        if x.ndim != 4:
            raise ValueError(f"{type(self).__name__}: expects (N, H, W, C) images, got shape {x.shape}")
        out = self.transform()(x.data.transpose(0, 3, 1, 2))
        return Tensor(out.transpose(0, 2, 3, 1), dtype=x.dtype)


class RandomFlip(_Augment):
    """Mirror each image with probability 1/2: mode "horizontal", "vertical" or "horizontal_and_vertical"."""

    def __init__(self, mode="horizontal_and_vertical", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("horizontal", "vertical", "horizontal_and_vertical"):
            raise ValueError(f"RandomFlip: unknown mode {mode!r}")
        self.mode = mode

    def transform(self):
        flips = []
        if "horizontal" in self.mode:
            flips.append(T.RandomHorizontalFlip())
        if "vertical" in self.mode:
            flips.append(T.RandomVerticalFlip())
        return T.Compose(flips)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class RandomRotation(_Augment):
    """Rotate by an angle from U(-factor, factor) * 2 pi (Keras' fraction of a full turn)."""

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = float(factor)

    def transform(self):
        return T.RandomRotation(self.factor * 360.0)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class RandomZoom(_Augment):
    """Zoom by a factor from U(1 - height_factor, 1 + height_factor), keeping the image size."""

    def __init__(self, height_factor, **kwargs):
        super().__init__(**kwargs)
        self.height_factor = float(height_factor)

    def transform(self):
        return T.RandomScale((1.0 - self.height_factor, 1.0 + self.height_factor))

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor}


class RandomTranslation(_Augment):
    """Shift by up to ``height_factor`` of the image size (zero fill): a random crop of the padded image."""

    def __init__(self, height_factor, **kwargs):
        super().__init__(**kwargs)
        self.height_factor = float(height_factor)

    def transform(self):
        return _Translate(self.height_factor)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor}


class _Translate:
    def __init__(self, factor):
        self.factor = factor

    def __call__(self, x):
        h, w = x.shape[2:]
        pad = max(1, int(math.ceil(self.factor * h)))
        return T.RandomCrop((h, w), padding=pad)(x)


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
