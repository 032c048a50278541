"""interpolate (nearest, bilinear) and adaptive_avg_pool2d: gradcheck, PyTorch parity, errors."""
import numpy as np
import pytest

import tinygrad_img as tg
import tinygrad_img.functional as F
from tinygrad_img.ops.resample import device_matrix
from torch_parity import check_parity, requires_torch, torch

INTERP = [("nearest", 2, None, False), ("nearest", 3, None, False), ("nearest", 1.5, None, False),
          ("nearest", None, (5, 7), False), ("bilinear", 2, None, False), ("bilinear", 0.5, None, False),
          ("bilinear", 1.7, None, False), ("bilinear", None, (7, 4), True), ("bilinear", 3, None, True)]
IDS = [f"{m}-sf{s}-size{z}-ac{a}" for m, s, z, a in INTERP]


@pytest.mark.parametrize("mode, scale, size, align", INTERP, ids=IDS)
def test_interpolate_gradcheck(mode, scale, size, align):
    x = tg.Tensor(np.random.default_rng(0).standard_normal((2, 2, 4, 5)), dtype="float64", requires_grad=True)
    assert tg.gradcheck(lambda x: F.interpolate(x, scale, mode, size=size, align_corners=align), [x])


@requires_torch
@pytest.mark.parametrize("mode, scale, size, align", INTERP, ids=IDS)
def test_interpolate_matches_torch(mode, scale, size, align):
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 5), dtype=np.float32)
    kw = {"align_corners": align} if mode == "bilinear" else {}
    check_parity(lambda x: F.interpolate(x, scale, mode, size=size, align_corners=align),
                 lambda x: torch.nn.functional.interpolate(x, size=size, scale_factor=None if size else scale,
                                                           mode=mode, **kw), [x])


@pytest.mark.parametrize("out", [3, (2, 4), (None, 3), 1])
def test_adaptive_avg_pool2d_gradcheck(out):
    x = tg.Tensor(np.random.default_rng(2).standard_normal((2, 2, 7, 6)), dtype="float64", requires_grad=True)
    assert tg.gradcheck(lambda x: F.adaptive_avg_pool2d(x, out), [x])


@requires_torch
@pytest.mark.parametrize("out", [3, (2, 4), (None, 3), 1, (7, 6), (9, 10)])
def test_adaptive_avg_pool2d_matches_torch(out):
    x = np.random.default_rng(3).standard_normal((2, 3, 7, 6), dtype=np.float32)
    check_parity(lambda x: F.adaptive_avg_pool2d(x, out),
                 lambda x: torch.nn.functional.adaptive_avg_pool2d(x, out), [x])


def test_nearest_upsampling_repeats_pixels():
    x = tg.Tensor(np.arange(4, dtype=np.float32).reshape(1, 1, 2, 2))
    assert F.interpolate(x, 2).numpy()[0, 0].tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]


@pytest.mark.parametrize("call, message", [
    (lambda: F.interpolate(tg.zeros(1, 4, 4), 2), r"interpolate: expected a 4-D input .* \(1, 4, 4\)"),
    (lambda: F.interpolate(tg.zeros(1, 1, 4, 4), 2, "bicubic"), "interpolate: mode must be"),
    (lambda: F.interpolate(tg.zeros(1, 1, 4, 4), 0.1), r"interpolate: input of shape \(1, 1, 4, 4\) gives an empty"),
    (lambda: F.interpolate(tg.zeros(1, 1, 4, 4), -2), "interpolate: scale_factor must be positive"),
    (lambda: F.adaptive_avg_pool2d(tg.zeros(1, 1, 4, 4), 0), "adaptive_avg_pool2d: output_size must be positive"),
    (lambda: F.adaptive_avg_pool2d(tg.zeros(4, 4), 2), "adaptive_avg_pool2d: expected a 4-D input"),
])
def test_resample_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_resampling_matrices_are_built_once_per_shape_device_and_dtype():
    x = tg.Tensor(np.random.default_rng(0).standard_normal((1, 2, 7, 5)).astype(np.float32))
    first = F.interpolate(x, size=(11, 9), mode="bilinear").numpy()
    hits = device_matrix.cache_info().hits
    again = F.interpolate(x, size=(11, 9), mode="bilinear").numpy()
    assert device_matrix.cache_info().hits == hits + 2
    np.testing.assert_array_equal(first, again)
    pooled = F.adaptive_avg_pool2d(x, (3, 2))
    np.testing.assert_allclose(pooled.numpy()[..., 0, 0], x.numpy()[..., 0:3, 0:3].mean(axis=(-2, -1)), rtol=1e-6)
    assert device_matrix.cache_info().hits >= hits + 2


def test_adaptive_avg_pool2d_output_size_forms():
    x = tg.Tensor(np.arange(2 * 3 * 4 * 6, dtype=np.float32).reshape(2, 3, 4, 6))
    y = F.adaptive_avg_pool2d(x, np.int64(2))
    np.testing.assert_allclose(y.numpy(), x.numpy().reshape(2, 3, 2, 2, 2, 3).mean(axis=(3, 5)))
    assert F.adaptive_avg_pool2d(x, (None, 3)).shape == (2, 3, 4, 3)
    with pytest.raises(ValueError, match="adaptive_avg_pool2d: output_size must be an int or a pair"):
        F.adaptive_avg_pool2d(x, (1, 2, 3))
