"""Photometric augmentation of NCHW batches: ColorJitter and GaussianNoise, one draw per image,
plus the batched RGB <-> HSV conversions that the hue jitter uses (public as ``T.rgb_to_hsv``,
``T.hsv_to_rgb`` and ``T.adjust_hue``: a float NumPy/CuPy array or Tensor in, the same kind out)."""
import numpy as np

from .. import backend, random
from ..tensor import Tensor
from .transforms_base import Transform, check_range, uniform, unwrap

_LUMA = (0.299, 0.587, 0.114)


def grayscale(x):
    """Per-pixel luminance, shape (N, 1, H, W): ITU-R 601 weights for RGB, the channel mean otherwise."""
    xp = backend.get_array_module(x)
    if x.shape[1] == 3:
        weights = xp.asarray(_LUMA, dtype=x.dtype).reshape(1, 3, 1, 1)
        return (x * weights).sum(axis=1, keepdims=True)
    return x.mean(axis=1, keepdims=True)


def _float_rgb(op, x):
    """(array, wrap) for the public colour functions: ``x`` must be a floating-point (N, 3, H, W)
    NumPy/CuPy array or Tensor (integer pixels would give wrong results: use ToTensor first)."""
    if not isinstance(x, Tensor) and not hasattr(x, "shape"):
        raise TypeError(f"{op}: expects a float (N, 3, H, W) array or Tensor, got {type(x).__name__}")
    arr, wrap = unwrap(x)
    if arr.dtype.kind != "f" or arr.ndim != 4 or arr.shape[1] != 3:
        raise ValueError(f"{op}: expects a float (N, 3, H, W) array, got {arr.dtype} of shape {arr.shape}"
                         + (" (use ToTensor first for integer pixels)" if arr.dtype.kind in "uib" else ""))
    return arr, wrap


def rgb_to_hsv(x):
    """(N, 3, H, W) RGB in [0, 1] -> (N, 3, H, W) HSV, each in [0, 1]; a float NumPy/CuPy array
    or Tensor in, the same kind and dtype out (computed on the device).

    torchvision's formula: v = max, c = max - min, s = c / v (0 where c = 0), and h is
    the sector of the largest channel plus the offset of the other two, divided by 6:
    ((g - b) / c, 2 + (b - r) / c or 4 + (r - g) / c), taken mod 1 (h = 0 for grays).
    """
    x, wrap = _float_rgb("rgb_to_hsv", x)
    return wrap(_rgb_to_hsv(x))


def _rgb_to_hsv(x):
    xp = backend.get_array_module(x)
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    maxc, minc = x.max(axis=1), x.min(axis=1)
    gray = maxc == minc
    chroma = maxc - minc
    s = chroma / xp.where(gray, xp.ones_like(maxc), maxc)
    divisor = xp.where(gray, xp.ones_like(chroma), chroma)
    rc, gc, bc = (maxc - r) / divisor, (maxc - g) / divisor, (maxc - b) / divisor
    is_r, is_g = maxc == r, (maxc == g) & (maxc != r)
    h = xp.where(is_r, bc - gc, xp.where(is_g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = xp.fmod(h / 6.0 + 1.0, 1.0)
    return xp.stack((h, s, maxc), axis=1)


def hsv_to_rgb(x):
    """(N, 3, H, W) HSV -> RGB, the inverse of :func:`rgb_to_hsv` (torchvision's formula):
    with i = floor(6 h) mod 6, f = 6 h - floor(6 h), p = v (1 - s), q = v (1 - s f),
    t = v (1 - s (1 - f)) (p, q, t clamped to [0, 1]), sector i picks (r, g, b) from
    (v,t,p), (q,v,p), (p,v,t), (p,q,v), (t,p,v), (v,p,q). Input and output kinds as in
    :func:`rgb_to_hsv`."""
    x, wrap = _float_rgb("hsv_to_rgb", x)
    return wrap(_hsv_to_rgb(x))


def _hsv_to_rgb(x):
    xp = backend.get_array_module(x)
    h, s, v = x[:, 0], x[:, 1], x[:, 2]
    sector = xp.floor(h * 6.0)
    f = h * 6.0 - sector
    i = (sector.astype(np.int64) % 6)[None]
    p = xp.clip(v * (1.0 - s), 0.0, 1.0)
    q = xp.clip(v * (1.0 - s * f), 0.0, 1.0)
    t = xp.clip(v * (1.0 - s * (1.0 - f)), 0.0, 1.0)
    channels = [xp.take_along_axis(xp.stack(choices), i, axis=0)[0]
                for choices in ((v, q, p, p, t, v), (t, v, v, q, p, p), (p, p, t, v, v, q))]
    return xp.stack(channels, axis=1)


def adjust_hue(x, shift):
    """Rotate the hue of each RGB image of ``x`` by ``shift[n]`` turns (N numbers, or one number
    for all): RGB -> HSV, h <- (h + shift) mod 1, HSV -> RGB. Input and output kinds as in
    :func:`rgb_to_hsv`."""
    x, wrap = _float_rgb("adjust_hue", x)
    size = int(np.size(shift))
    if size not in (1, x.shape[0]):
        raise ValueError(f"adjust_hue: shift must be one number or {x.shape[0]} (one per image), got {size}")
    return wrap(_adjust_hue(x, shift))


def _adjust_hue(x, shift):
    xp = backend.get_array_module(x)
    hsv = _rgb_to_hsv(x)
    shift = xp.asarray(shift, dtype=x.dtype).reshape(-1, 1, 1)
    h = (hsv[:, 0] + shift) % 1.0
    return _hsv_to_rgb(xp.stack((h, hsv[:, 1], hsv[:, 2]), axis=1))


def _hue_range(value):
    """A number h in [0, 0.5] means shifts in [-h, h]; a pair must lie within [-0.5, 0.5]."""
    if isinstance(value, (int, float)) and not 0 <= value <= 0.5:
        raise ValueError(f"ColorJitter: hue must be in [0, 0.5], got {value}")
    low, high = check_range("ColorJitter", value, "hue")
    if low < -0.5 or high > 0.5:
        raise ValueError(f"ColorJitter: hue range ({low}, {high}) must lie within [-0.5, 0.5]")
    return low, high


def _factor_range(name, value):
    """A number v means factors in [max(0, 1 - v), 1 + v]; a pair is taken as given."""
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"ColorJitter: {name} must be >= 0, got {value}")
        return max(0.0, 1.0 - value), 1.0 + value
    return check_range("ColorJitter", value, name, lowest=0.0)


class ColorJitter(Transform):
    """Per image, with factors b, c, s and a hue shift d drawn uniformly from their ranges, in
    this order: brightness x <- b * x; contrast x <- c * x + (1 - c) * mean(gray(x)); saturation
    x <- s * x + (1 - s) * gray(x) (gray: luminance of RGB; a 1-channel image is its own
    gray); hue: RGB -> HSV, h <- (h + d) mod 1, HSV -> RGB (``hue`` = h in [0, 0.5] means
    d in [-h, h]; a pair within [-0.5, 0.5] is taken as given). Grayscale (1-channel) images
    have no hue, so the hue step leaves them unchanged, as in torchvision; other channel
    counts than 1 and 3 are an error when ``hue`` is set.
    ``clip=True`` clamps to [0, 1] after each step, as torchvision does for float images.
    A component whose range is the identity (the default 0) is skipped.

    torchvision's ColorJitter applies the four steps in a random order per call; this one
    always uses the order above (torchvision's order when the permutation is the identity),
    so each step equals torchvision's functional ``adjust_*`` with the same factor."""

    def __init__(self, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0, clip=True):
        self.brightness = _factor_range("brightness", brightness)
        self.contrast = _factor_range("contrast", contrast)
        self.saturation = _factor_range("saturation", saturation)
        self.hue = _hue_range(hue)
        self.clip = bool(clip)

    def apply(self, x):
        xp = backend.get_array_module(x)
        n = x.shape[0]
        if self.hue != (0.0, 0.0) and x.shape[1] not in (1, 3):
            raise ValueError(f"ColorJitter: hue needs RGB (3-channel) or grayscale (1-channel) images, "
                             f"got shape {x.shape}")
        for name, rng in (("brightness", self.brightness), ("contrast", self.contrast),
                          ("saturation", self.saturation), ("hue", self.hue)):
            if rng == ((0.0, 0.0) if name == "hue" else (1.0, 1.0)) or (name == "hue" and x.shape[1] == 1):
                continue
            f = uniform(x, n, *rng).astype(x.dtype)[:, None, None, None]
            if name == "brightness":
                x = x * f
            elif name == "contrast":
                x = f * x + (1 - f) * grayscale(x).mean(axis=(1, 2, 3), keepdims=True)
            elif name == "saturation":
                x = f * x + (1 - f) * grayscale(x)
            else:
                x = _adjust_hue(x, f)
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
