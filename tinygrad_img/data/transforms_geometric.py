"""Geometric augmentation of NCHW batches, one random draw per image, on NumPy or CuPy.

Flips select per image with ``where``; crops gather with one fancy index; the
warps (rotation, scale, resized crop) compute source coordinates for every
output pixel and sample them with one vectorised bilinear gather, the same
code on either device.
"""
import math

import numpy as np

from .. import backend
from ..kernels.geometry import pair
from .transforms_base import Transform, check_range, uniform


def bilinear_sample(x, ys, xs, fill=0.0):
    """out[n, c, i, j] = x[n, c] bilinearly interpolated at (ys[n, i, j], xs[n, i, j]).

    Pixels outside the image read as ``fill``. Integer coordinates reproduce
    the input exactly (the other corners get weight 0).
    """
    xp = backend.get_array_module(x)
    n, c, h, w = x.shape
    # one fill row/column before and two after: every clamped corner then lies inside ``padded``
    padded = xp.pad(x, ((0, 0), (0, 0), (1, 2), (1, 2)), constant_values=fill)
    hp, wp = h + 3, w + 3
    ys, xs = xp.clip(ys, -1, h), xp.clip(xs, -1, w)
    y0, x0 = xp.floor(ys), xp.floor(xs)
    wy, wx = (ys - y0)[:, None], (xs - x0)[:, None]
    pixel = ((y0 + 1).astype(np.int64) * wp + (x0 + 1).astype(np.int64))[:, None]
    offset = (xp.arange(n, dtype=np.int64) * (c * hp * wp))[:, None, None, None] \
        + (xp.arange(c, dtype=np.int64) * (hp * wp))[None, :, None, None]
    idx = offset + pixel
    flat = padded.ravel()
    # the four corners are flat[idx], flat[idx + 1], flat[idx + wp], flat[idx + wp + 1]: shifted views
    # avoid building three more index arrays
    v00, v01 = flat.take(idx), flat[1:].take(idx)
    v10, v11 = flat[wp:].take(idx), flat[wp + 1:].take(idx)
    top = v00 + wx * (v01 - v00)
    bottom = v10 + wx * (v11 - v10)
    return top + wy * (bottom - top)


def warp_about_centre(x, m, fill=0.0):
    """Sample x at c + m[n] @ (p - c) for every output pixel p = (y, x); c is the image centre.

    ``m`` has shape (N, 2, 2) and maps (dy, dx) output offsets to source offsets.
    """
    xp = backend.get_array_module(x)
    h, w = x.shape[2:]
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    dy = (xp.arange(h, dtype=np.float32) - cy)[None, :, None]
    dx = (xp.arange(w, dtype=np.float32) - cx)[None, None, :]
    ys = cy + m[:, 0, 0, None, None] * dy + m[:, 0, 1, None, None] * dx
    xs = cx + m[:, 1, 0, None, None] * dy + m[:, 1, 1, None, None] * dx
    return bilinear_sample(x, ys, xs, fill)


class RandomHorizontalFlip(Transform):
    """Each image is mirrored left-right (x[..., ::-1]) with probability ``p``."""

    axis = -1

    def __init__(self, p=0.5):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1], got {p}")
        self.p = float(p)

    def apply(self, x):
        xp = backend.get_array_module(x)
        flip = uniform(x, x.shape[0], 0.0, 1.0) < self.p
        return xp.where(flip[:, None, None, None], xp.flip(x, axis=self.axis), x)


class RandomVerticalFlip(RandomHorizontalFlip):
    """Each image is mirrored top-bottom (x[..., ::-1, :]) with probability ``p``."""

    axis = -2


class RandomCrop(Transform):
    """Pad each side by ``padding`` (``padding_mode`` "constant" with ``fill``, "reflect" or
    "edge"), then cut a ``size`` window at a uniformly random integer offset per image."""

    def __init__(self, size, padding=0, fill=0.0, padding_mode="constant"):
        self.size = pair(size, "size", "RandomCrop")
        self.padding = pair(padding, "padding", "RandomCrop")
        if min(self.padding) < 0 or min(self.size) < 1:
            raise ValueError(f"RandomCrop: size {self.size} must be positive and padding {self.padding} >= 0")
        if padding_mode not in ("constant", "reflect", "edge"):
            raise ValueError(f"RandomCrop: padding_mode must be 'constant', 'reflect' or 'edge', got {padding_mode!r}")
        self.fill, self.padding_mode = float(fill), padding_mode

    def apply(self, x):
        xp = backend.get_array_module(x)
        (ph, pw), (oh, ow) = self.padding, self.size
        pad = ((0, 0), (0, 0), (ph, ph), (pw, pw))
        kw = {"constant_values": self.fill} if self.padding_mode == "constant" else {}
        padded = xp.pad(x, pad, mode=self.padding_mode, **kw) if ph or pw else x
        n, c, hp, wp = padded.shape
        if oh > hp or ow > wp:
            raise ValueError(f"RandomCrop: crop {self.size} is larger than the padded image ({hp}, {wp})")
        top = xp.floor(uniform(x, n, 0.0, hp - oh + 1 - 1e-4)).astype(np.int64)
        left = xp.floor(uniform(x, n, 0.0, wp - ow + 1 - 1e-4)).astype(np.int64)
        rows = (top[:, None] + xp.arange(oh))[:, None, :, None]
        cols = (left[:, None] + xp.arange(ow))[:, None, None, :]
        return padded[xp.arange(n)[:, None, None, None], xp.arange(c)[None, :, None, None], rows, cols]


class RandomRotation(Transform):
    """Rotate each image about its centre by an angle drawn from U(degrees) (a number d means
    (-d, d)); positive angles turn counter-clockwise, as ``np.rot90``. Bilinear, ``fill`` outside."""

    def __init__(self, degrees, fill=0.0):
        self.degrees = check_range("RandomRotation", degrees, "degrees")
        self.fill = float(fill)

    def apply(self, x):
        xp = backend.get_array_module(x)
        theta = uniform(x, x.shape[0], *self.degrees) * np.float32(math.pi / 180.0)
        cos, sin = xp.cos(theta), xp.sin(theta)
        m = xp.stack([xp.stack([cos, sin], axis=-1), xp.stack([-sin, cos], axis=-1)], axis=1)
        return warp_about_centre(x, m, self.fill)


class RandomScale(Transform):
    """Zoom each image about its centre by a factor from U(scale) (> 1 enlarges), keeping its
    shape; bilinear, ``fill`` where the shrunken image leaves the frame."""

    def __init__(self, scale=(0.9, 1.1), fill=0.0):
        self.scale = check_range("RandomScale", scale, "scale")
        if self.scale[0] <= 0:
            raise ValueError(f"RandomScale: scale factors must be positive, got {self.scale}")
        self.fill = float(fill)

    def apply(self, x):
        xp = backend.get_array_module(x)
        inv = 1.0 / uniform(x, x.shape[0], *self.scale)
        zero = xp.zeros_like(inv)
        m = xp.stack([xp.stack([inv, zero], axis=-1), xp.stack([zero, inv], axis=-1)], axis=1)
        return warp_about_centre(x, m, self.fill)


class RandomResizedCrop(Transform):
    """Crop a random box of area fraction U(scale) and aspect ratio w/h log-uniform in ``ratio``
    (clipped to the image) from each image and resize it bilinearly to ``size``."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
        self.size = pair(size, "size", "RandomResizedCrop", minimum=1)
        self.scale = check_range("RandomResizedCrop", scale, "scale", lowest=0.0)
        self.ratio = check_range("RandomResizedCrop", ratio, "ratio")
        if self.scale[1] > 1 or self.scale[1] == 0 or self.ratio[0] <= 0:
            raise ValueError(f"RandomResizedCrop: need 0 < scale <= 1 and ratio > 0, got {self.scale}, {self.ratio}")

    def apply(self, x):
        xp = backend.get_array_module(x)
        n, _, h, w = x.shape
        oh, ow = self.size
        area = uniform(x, n, *self.scale) * float(h * w)
        aspect = xp.exp(uniform(x, n, math.log(self.ratio[0]), math.log(self.ratio[1])))
        bw = xp.minimum(xp.sqrt(area * aspect), float(w))
        bh = xp.minimum(xp.sqrt(area / aspect), float(h))
        top = uniform(x, n, 0.0, 1.0) * (h - bh)
        left = uniform(x, n, 0.0, 1.0) * (w - bw)
        i = xp.arange(oh, dtype=np.float32)[None, :, None] + 0.5
        j = xp.arange(ow, dtype=np.float32)[None, None, :] + 0.5
        ys = top[:, None, None] + i * (bh / oh)[:, None, None] - 0.5
        xs = left[:, None, None] + j * (bw / ow)[:, None, None] - 0.5
        ys = xp.broadcast_to(xp.clip(ys, 0, h - 1), (n, oh, ow))
        xs = xp.broadcast_to(xp.clip(xs, 0, w - 1), (n, oh, ow))
        return bilinear_sample(x, ys, xs)
