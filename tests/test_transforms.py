"""Batch transforms: each keeps shape and dtype and does what its name says."""
import colorsys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinygrad_img as tg
from tinygrad_img.data import transforms as T


def _batch(n=6, c=3, h=9, w=9, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).random((n, c, h, w)).astype(dtype)


ALL = [T.RandomHorizontalFlip(), T.RandomVerticalFlip(), T.RandomCrop(9, padding=2),
       T.RandomRotation(20), T.RandomScale((0.8, 1.2)), T.RandomResizedCrop(9),
       T.ColorJitter(0.4, 0.4, 0.4), T.ColorJitter(0.2, 0.2, 0.2, 0.3), T.GaussianNoise(0.1),
       T.Normalize((0.5, 0.4, 0.3), (0.2, 0.3, 0.4)),
       T.Compose([T.RandomCrop(9, 1), T.RandomHorizontalFlip()])]


@pytest.mark.parametrize("tr", ALL, ids=lambda t: type(t).__name__)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_keeps_shape_dtype_and_kind(tr, dtype):
    x = _batch(dtype=dtype)
    out = tr(x)
    assert isinstance(out, np.ndarray) and out.shape == x.shape and out.dtype == dtype
    assert np.all(np.isfinite(out))
    t = tr(tg.Tensor(x, dtype=dtype))
    assert isinstance(t, tg.Tensor) and t.shape == x.shape and t.dtype == dtype


@pytest.mark.parametrize("tr", ALL[:-1], ids=lambda t: type(t).__name__)
def test_reproducible_with_manual_seed(tr):
    x = _batch()
    tg.manual_seed(5)
    a = tr(x)
    tg.manual_seed(5)
    np.testing.assert_array_equal(a, tr(x))


def test_flips():
    x = _batch()
    np.testing.assert_array_equal(T.RandomHorizontalFlip(1.0)(x), x[..., ::-1])
    np.testing.assert_array_equal(T.RandomVerticalFlip(1.0)(x), x[..., ::-1, :])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(0.0)(x), x)
    for flip in (T.RandomHorizontalFlip(1.0), T.RandomVerticalFlip(1.0)):
        np.testing.assert_array_equal(flip(flip(x)), x)
    x = _batch(n=400, c=1, h=2, w=3)
    out = T.RandomHorizontalFlip(0.5)(x)
    flipped = np.all(out == x[..., ::-1], axis=(1, 2, 3))
    kept = np.all(out == x, axis=(1, 2, 3))
    assert np.all(flipped | kept)
    assert 150 < flipped.sum() < 250
    with pytest.raises(ValueError, match="p must be"):
        T.RandomHorizontalFlip(1.5)


def test_random_crop():
    x = _batch()
    np.testing.assert_array_equal(T.RandomCrop(9, padding=0)(x), x)
    out = T.RandomCrop((5, 4))(x)
    assert out.shape == (6, 3, 5, 4)
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    out = T.RandomCrop(9, padding=2)(np.repeat(x[:1], 40, axis=0))
    offsets = set()
    for img in out:
        hits = [(i, j) for i in range(5) for j in range(5) if np.array_equal(img, padded[0, :, i:i + 9, j:j + 9])]
        assert hits, "every crop is a window of the padded image"
        offsets.add(hits[0])
    assert len(offsets) > 5, "offsets are drawn per image"
    edge = T.RandomCrop(9, padding=3, padding_mode="edge")(x)
    assert edge.min() >= x.min() and edge.max() <= x.max()
    with pytest.raises(ValueError, match="larger than the padded image"):
        T.RandomCrop(12, padding=1)(x)


def test_rotation_zero_and_quarter_turns():
    x = _batch(h=8, w=8)
    np.testing.assert_array_equal(T.RandomRotation(0)(x), x)
    np.testing.assert_allclose(T.RandomRotation((90, 90))(x), np.rot90(x, 1, axes=(2, 3)), atol=1e-5)
    y = _batch(h=7, w=7)
    np.testing.assert_allclose(T.RandomRotation((-90, -90))(y), np.rot90(y, -1, axes=(2, 3)), atol=1e-5)
    np.testing.assert_allclose(T.RandomRotation((180, 180))(y), y[..., ::-1, ::-1], atol=1e-5)


def test_rotation_angles_differ_per_image_and_fill_outside():
    x = np.ones((8, 1, 15, 15), dtype=np.float32)
    out = T.RandomRotation((10, 40), fill=0.0)(x)
    corners = out[:, 0, 0, 0]
    assert np.all(corners < 1e-6), "corners rotate in from outside the image"
    assert np.allclose(out[:, 0, 7, 7], 1.0), "the centre stays put"
    masses = out.sum(axis=(1, 2, 3))
    assert len(np.unique(np.round(masses, 3))) == 8


def test_scale_identity_and_zoom():
    x = _batch(h=9, w=9)
    np.testing.assert_array_equal(T.RandomScale((1, 1))(x), x)
    yy, xx = np.mgrid[:9, :9].astype(np.float32)
    ramp = np.broadcast_to(xx, (2, 1, 9, 9)).copy()
    zoomed = T.RandomScale((2, 2))(ramp)
    np.testing.assert_allclose(zoomed[0, 0, 4], 4 + (np.arange(9) - 4) / 2.0, atol=1e-6)
    shrunk = T.RandomScale((0.5, 0.5), fill=-1.0)(ramp)
    assert shrunk[0, 0, 0, 0] == -1.0 and shrunk[0, 0, 4, 4] == 4.0


def test_resized_crop():
    x = _batch(h=8, w=8)
    np.testing.assert_allclose(T.RandomResizedCrop(8, scale=(1, 1), ratio=(1, 1))(x), x, atol=1e-6)
    out = T.RandomResizedCrop((5, 7), scale=(0.2, 0.6))(x)
    assert out.shape == (6, 3, 5, 7) and out.dtype == np.float32
    assert out.min() >= x.min() - 1e-6 and out.max() <= x.max() + 1e-6
    with pytest.raises(ValueError):
        T.RandomResizedCrop(8, scale=(0.5, 2.0))


def test_normalize_math_and_errors():
    x = _batch()
    out = T.Normalize((0.1, 0.2, 0.3), (0.5, 0.25, 2.0))(x)
    expect = (x - np.array([0.1, 0.2, 0.3]).reshape(1, 3, 1, 1)) / np.array([0.5, 0.25, 2.0]).reshape(1, 3, 1, 1)
    np.testing.assert_allclose(out, expect, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="2 values but the batch has 3 channels"):
        T.Normalize((0.1, 0.2), (1.0, 1.0))(x)
    with pytest.raises(ValueError, match="positive"):
        T.Normalize(0.0, 0.0)


def test_color_jitter():
    x = _batch()
    np.testing.assert_array_equal(T.ColorJitter(0, 0, 0)(x), x)
    np.testing.assert_allclose(T.ColorJitter(brightness=(2, 2), clip=False)(x), 2 * x, rtol=1e-6)
    flat = T.ColorJitter(contrast=(0, 0))(x)
    gray_mean = (x * np.array([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1)).sum(1).mean(axis=(1, 2))
    np.testing.assert_allclose(flat, np.broadcast_to(gray_mean[:, None, None, None], x.shape), rtol=1e-5)
    gray = T.ColorJitter(saturation=(0, 0))(x)
    np.testing.assert_allclose(gray[:, 0], gray[:, 1], atol=1e-6)
    np.testing.assert_allclose(gray[:, 0], (x * np.array([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1)).sum(1),
                               rtol=1e-5)
    b = T.ColorJitter(brightness=0.5, clip=False)(x)
    ratio = (b / x).reshape(len(x), -1)
    np.testing.assert_allclose(ratio, ratio[:, :1] * np.ones_like(ratio), rtol=1e-5)
    assert np.all((ratio[:, 0] >= 0.5) & (ratio[:, 0] <= 1.5)) and np.ptp(ratio[:, 0]) > 0
    assert T.ColorJitter(brightness=3.0)(x).max() <= 1.0
    with pytest.raises(ValueError, match="brightness"):
        T.ColorJitter(brightness=-1)


def test_gaussian_noise_statistics():
    x = _batch(n=64, h=16, w=16)
    np.testing.assert_array_equal(T.GaussianNoise(0.0)(x), x)
    d = T.GaussianNoise(0.2)(x) - x
    assert abs(d.std() - 0.2) < 0.005 and abs(d.mean()) < 0.005
    assert T.GaussianNoise(0.5, clip=True)(x).min() >= 0.0


def test_to_tensor_layouts():
    rng = np.random.default_rng(0)
    nhwc = rng.integers(0, 256, (2, 5, 6, 3), dtype=np.uint8)
    out = T.ToTensor()(nhwc)
    assert out.shape == (2, 3, 5, 6) and out.dtype == np.float32
    np.testing.assert_allclose(out, nhwc.transpose(0, 3, 1, 2) / 255.0, rtol=1e-6)
    nchw = nhwc.transpose(0, 3, 1, 2).copy()
    np.testing.assert_allclose(T.ToTensor()(nchw), out)
    assert T.ToTensor()(nhwc[0]).shape == (3, 5, 6)
    assert T.ToTensor()(rng.integers(0, 256, (4, 8, 8), dtype=np.uint8)).shape == (4, 1, 8, 8)
    assert T.ToTensor()(np.zeros((4, 4))).dtype == np.float32
    t = T.ToTensor()(tg.Tensor(nhwc))
    assert isinstance(t, tg.Tensor) and t.shape == (2, 3, 5, 6)
    np.testing.assert_array_equal(T.ToTensor(layout="NHWC")(nchw[:, :, :3, :3].transpose(0, 2, 3, 1)),
                                  T.ToTensor()(nchw[:, :, :3, :3]))


def test_bad_input_errors():
    with pytest.raises(ValueError, match="ToTensor first"):
        T.RandomRotation(10)(np.zeros((2, 1, 4, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="NCHW"):
        T.RandomHorizontalFlip()(np.zeros((4, 4, 3), dtype=np.float32))
    with pytest.raises(TypeError):
        T.GaussianNoise()([[1.0]])
    with pytest.raises(TypeError):
        T.Compose([1])


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 4), c=st.sampled_from([1, 3]), h=st.integers(2, 12), w=st.integers(2, 12))
def test_identity_settings_are_exact_for_any_shape(n, c, h, w):
    x = np.random.default_rng(h * w).random((n, c, h, w)).astype(np.float32)
    for tr in (T.RandomRotation(0), T.RandomScale((1, 1)), T.RandomCrop((h, w)), T.ColorJitter(),
               T.RandomHorizontalFlip(0.0), T.RandomVerticalFlip(0.0)):
        np.testing.assert_array_equal(tr(x), x)


@pytest.mark.gpu
def test_transforms_on_gpu_match_cpu():
    import cupy
    x = _batch()
    g = cupy.asarray(x)
    for tr in ALL:
        out = tr(g)
        assert isinstance(out, cupy.ndarray) and out.shape == x.shape and out.dtype == np.float32
    exact = [T.RandomHorizontalFlip(1.0), T.RandomVerticalFlip(1.0), T.RandomRotation((90, 90)),
             T.RandomScale((2, 2)), T.RandomCrop(9), T.Normalize(0.5, 0.2),
             T.ColorJitter(brightness=(2, 2), contrast=(0.5, 0.5), saturation=(0.3, 0.3))]
    for tr in exact:
        np.testing.assert_allclose(cupy.asnumpy(tr(g)), tr(x), atol=1e-5)
    t = T.RandomRotation(15)(tg.Tensor(x, device="cuda"))
    assert t.device == "cuda"
    tg.manual_seed(1)
    a = cupy.asnumpy(T.RandomResizedCrop(9)(g))
    tg.manual_seed(1)
    np.testing.assert_array_equal(a, cupy.asnumpy(T.RandomResizedCrop(9)(g)))


# ----- hue: RGB <-> HSV and the hue jitter

def _hue_batch(n=5, h=6, w=7, seed=0, dtype=np.float32):
    """Random RGB images with a few exact grays and primaries mixed in (the formula's edge cases)."""
    x = np.random.default_rng(seed).random((n, 3, h, w)).astype(dtype)
    x[0, :, 0, :3] = 0.5                      # gray: h = s = 0
    x[0, :, 1, 0] = (1, 0, 0)
    x[0, :, 1, 1] = (0, 1, 0)
    x[0, :, 1, 2] = (0, 0, 1)
    x[0, :, 1, 3] = (1, 1, 0)                 # two channels tie for the max
    x[0, :, 2, 0] = 0.0                       # black: v = 0
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rgb_hsv_round_trip(dtype):
    x = _hue_batch(dtype=dtype)
    hsv = T.rgb_to_hsv(x)
    assert hsv.shape == x.shape and hsv.dtype == dtype
    assert hsv.min() >= 0 and hsv.max() <= 1
    np.testing.assert_allclose(T.hsv_to_rgb(hsv), x, rtol=0, atol=1e-6)
    np.testing.assert_allclose(T.adjust_hue(x, 0.0), x, rtol=0, atol=1e-6)      # a shift of 0 is the identity
    np.testing.assert_allclose(T.adjust_hue(x, np.zeros(len(x), dtype)), x, rtol=0, atol=1e-6)


def test_hsv_matches_python_colorsys_on_pixels():
    x = _hue_batch(n=2, h=3, w=5, dtype=np.float64)
    shifts = np.array([0.13, -0.41])
    hsv, shifted = T.rgb_to_hsv(x), T.adjust_hue(x, shifts)
    for n in range(2):
        for i in range(3):
            for j in range(5):
                ref = colorsys.rgb_to_hsv(*x[n, :, i, j])
                np.testing.assert_allclose(hsv[n, :, i, j], ref, atol=1e-12, err_msg=f"pixel {n, i, j}")
                want = colorsys.hsv_to_rgb((ref[0] + shifts[n]) % 1.0, ref[1], ref[2])
                np.testing.assert_allclose(shifted[n, :, i, j], want, atol=1e-12, err_msg=f"pixel {n, i, j}")


def test_hue_shift_turns_primaries():
    red = np.zeros((1, 3, 2, 2), np.float32)
    red[:, 0] = 1.0
    green, blue = np.zeros_like(red), np.zeros_like(red)
    green[:, 1], blue[:, 2] = 1.0, 1.0
    np.testing.assert_allclose(T.adjust_hue(red, 1 / 3), green, atol=1e-6)
    np.testing.assert_allclose(T.adjust_hue(red, -1 / 3), blue, atol=1e-6)
    np.testing.assert_allclose(T.ColorJitter(hue=(1 / 3, 1 / 3))(red), green, atol=1e-6)
    half = red * 0.5          # hue keeps saturation and value
    np.testing.assert_allclose(T.adjust_hue(half, 1 / 3), green * 0.5, atol=1e-6)


def test_color_jitter_hue_draws_one_shift_per_image():
    x = _batch(n=8, seed=3)          # random colours: every pixel has a hue
    hsv_in = T.rgb_to_hsv(x)
    tg.manual_seed(4)
    out = T.ColorJitter(hue=0.2)(x)
    hsv_out = T.rgb_to_hsv(out)
    np.testing.assert_allclose(hsv_out[:, 1:], hsv_in[:, 1:], atol=1e-5)     # saturation, value kept
    shift = (hsv_out[:, 0] - hsv_in[:, 0] + 0.5) % 1.0 - 0.5               # in (-0.5, 0.5]
    per_image = shift.reshape(len(x), -1)
    np.testing.assert_allclose(per_image, per_image[:, :1] * np.ones_like(per_image), atol=1e-4)
    assert np.all(np.abs(per_image[:, 0]) <= 0.2 + 1e-5) and np.ptp(per_image[:, 0]) > 0.05
    tg.manual_seed(4)
    np.testing.assert_array_equal(T.ColorJitter(hue=0.2)(x), out)
    tg.manual_seed(4)
    np.testing.assert_allclose(T.ColorJitter(hue=(-0.2, 0.2))(x), out, atol=1e-6)


def test_color_jitter_applies_hue_last_in_torchvision_order():
    x = _hue_batch(n=4, seed=5)
    tg.manual_seed(2)
    out = T.ColorJitter(brightness=(1.3, 1.3), saturation=(0.6, 0.6), hue=(0.25, 0.25))(x)
    bright = np.clip(1.3 * x, 0, 1)
    gray = (bright * np.array([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1)).sum(1, keepdims=True)
    saturated = np.clip(0.6 * bright + 0.4 * gray, 0, 1)
    np.testing.assert_allclose(out, np.clip(T.adjust_hue(saturated, 0.25), 0, 1), atol=1e-6)


def test_hue_errors():
    for bad in (0.6, -0.1, (-0.6, 0.1), (0.2, 0.7), (0.3, 0.1)):
        with pytest.raises(ValueError, match="ColorJitter: hue"):
            T.ColorJitter(hue=bad)
    two = _batch(c=2)
    with pytest.raises(ValueError, match=r"ColorJitter: hue needs RGB \(3-channel\) or grayscale \(1-channel\) "
                                         r"images, got shape \(6, 2, 9, 9\)"):
        T.ColorJitter(hue=0.1)(two)
    gray = _batch(c=1)
    for name, fn in (("rgb_to_hsv", T.rgb_to_hsv), ("hsv_to_rgb", T.hsv_to_rgb),
                     ("adjust_hue", lambda a: T.adjust_hue(a, 0.1))):
        with pytest.raises(ValueError, match=rf"{name}: expects a float \(N, 3, H, W\) array, got float32 of "
                                             r"shape \(6, 1, 9, 9\)"):
            fn(gray)
        with pytest.raises(ValueError, match=rf"{name}: expects a float \(N, 3, H, W\) array, got uint8"):
            fn((_hue_batch() * 255).astype(np.uint8))           # integer pixels would give wrong hues
        with pytest.raises(TypeError, match=rf"{name}: expects a float \(N, 3, H, W\) array or Tensor, got list"):
            fn(_hue_batch().tolist())
    with pytest.raises(ValueError, match=r"adjust_hue: shift must be one number or 5 \(one per image\), got 3"):
        T.adjust_hue(_hue_batch(), [0.1, 0.2, 0.3])


def test_color_jitter_leaves_grayscale_hue_alone_like_torchvision():
    gray = _batch(c=1, seed=2)
    tg.manual_seed(0)
    np.testing.assert_array_equal(T.ColorJitter(hue=0.4)(gray), gray)
    tg.manual_seed(3)
    with_hue = T.ColorJitter(brightness=0.5, contrast=0.5, hue=0.4)(gray)
    tg.manual_seed(3)
    np.testing.assert_array_equal(with_hue, T.ColorJitter(brightness=0.5, contrast=0.5)(gray))
    assert not np.array_equal(with_hue, gray)


def test_hue_functions_take_a_tensor_and_give_a_tensor_back():
    x = _hue_batch(dtype=np.float64)
    for fn in (T.rgb_to_hsv, T.hsv_to_rgb, lambda a: T.adjust_hue(a, np.linspace(-0.4, 0.4, 5))):
        out = fn(tg.Tensor(x, dtype="float64"))
        assert isinstance(out, tg.Tensor) and out.dtype == np.float64 and out.shape == x.shape
        np.testing.assert_array_equal(out.numpy(), fn(x))


# torchvision's _rgb2hsv, _hsv2rgb and adjust_hue (transforms/_functional_tensor.py), ported
# line by line to NumPy: indicator products instead of our where/take_along_axis selections.
def _tv_rgb2hsv(img):
    r, g, b = img[:, 0], img[:, 1], img[:, 2]
    maxc, minc = img.max(axis=1), img.min(axis=1)
    eqc = maxc == minc
    cr = maxc - minc
    ones = np.ones_like(maxc)
    s = cr / np.where(eqc, ones, maxc)
    cr_divisor = np.where(eqc, ones, cr)
    rc, gc, bc = (maxc - r) / cr_divisor, (maxc - g) / cr_divisor, (maxc - b) / cr_divisor
    hr = (maxc == r) * (bc - gc)
    hg = ((maxc == g) & (maxc != r)) * (2.0 + rc - bc)
    hb = ((maxc != g) & (maxc != r)) * (4.0 + gc - rc)
    h = np.fmod((hr + hg + hb) / 6.0 + 1.0, 1.0)
    return np.stack((h, s, maxc), axis=1)


def _tv_hsv2rgb(img):
    h, s, v = img[:, 0], img[:, 1], img[:, 2]
    i = np.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.astype(np.int32)
    p = np.clip(v * (1.0 - s), 0.0, 1.0)
    q = np.clip(v * (1.0 - s * f), 0.0, 1.0)
    t = np.clip(v * (1.0 - s * (1.0 - f)), 0.0, 1.0)
    i = i % 6
    mask = (i[:, None] == np.arange(6).reshape(-1, 1, 1)).astype(img.dtype)      # (N, 6, H, W)
    a4 = np.stack((np.stack((v, q, p, p, t, v), axis=1), np.stack((t, v, v, q, p, p), axis=1),
                   np.stack((p, p, t, v, v, q), axis=1)), axis=1)                  # (N, 3, 6, H, W)
    return np.einsum("nijk,nxijk->nxjk", mask, a4)


def _tv_adjust_hue(img, hue_factor):
    hsv = _tv_rgb2hsv(img)
    h = (hsv[:, 0] + hue_factor) % 1.0
    return _tv_hsv2rgb(np.stack((h, hsv[:, 1], hsv[:, 2]), axis=1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hue_matches_a_port_of_torchvisions_formulas(dtype):
    x = _hue_batch(n=3, dtype=dtype)
    tol = {"rtol": 0, "atol": 1e-6 if dtype == np.float32 else 1e-12}
    np.testing.assert_allclose(T.rgb_to_hsv(x), _tv_rgb2hsv(x), **tol)
    hsv = _tv_rgb2hsv(x)
    np.testing.assert_allclose(T.hsv_to_rgb(hsv), _tv_hsv2rgb(hsv), **tol)
    for shift in (-0.5, -0.27, 0.0, 0.1, 1 / 3, 0.5):
        np.testing.assert_allclose(T.adjust_hue(x, shift), _tv_adjust_hue(x, shift), **tol, err_msg=f"shift {shift}")


@pytest.mark.gpu
def test_hue_on_gpu_matches_cpu_and_stays_on_the_device():
    import cupy
    x = _hue_batch()
    g = cupy.asarray(x)
    for fn in (T.rgb_to_hsv, lambda a: T.hsv_to_rgb(T.rgb_to_hsv(a)), lambda a: T.adjust_hue(a, 0.3)):
        out = fn(g)
        assert isinstance(out, cupy.ndarray) and out.dtype == np.float32
        np.testing.assert_allclose(cupy.asnumpy(out), fn(x), atol=1e-6)
    jitter = T.ColorJitter(saturation=(0.5, 0.5), hue=(-0.2, -0.2))
    out = jitter(g)
    assert isinstance(out, cupy.ndarray)
    np.testing.assert_allclose(cupy.asnumpy(out), jitter(x), atol=1e-5)
