"""max_pool2d and avg_pool2d: float64 gradcheck and PyTorch parity over a grid, and errors."""
import numpy as np
import pytest

import tinygrad_img as tg
import tinygrad_img.functional as F
from torch_parity import check_parity, requires_torch, torch

# (N, C, H, W, kernel, stride, padding): kernel == stride, overlapping windows (kernel > stride),
# gaps (kernel < stride), rectangular, padding up to half the kernel, floor-dropped pixels.
GRID = [
    (2, 2, 6, 6, 2, None, 0),
    (1, 3, 7, 7, 3, 2, 1),
    (2, 2, 7, 6, (3, 2), (2, 1), (1, 1)),
    (1, 2, 9, 8, 2, 3, 0),
    (2, 1, 8, 9, 4, 2, 2),
    (1, 2, 5, 7, (1, 3), 1, (0, 1)),
]
IDS = [f"k{g[4]}-s{g[5]}-p{g[6]}" for g in GRID]


def _distinct(shape, rng, dtype=np.float64):
    """Well-separated values, so no max sits on a tie (a kink)."""
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1 - 1.0).astype(dtype)


@pytest.mark.parametrize("case", GRID, ids=IDS)
def test_max_pool2d_gradcheck(case):
    x = tg.Tensor(_distinct(case[:4], np.random.default_rng(0)), dtype="float64", requires_grad=True)
    assert tg.gradcheck(lambda x: F.max_pool2d(x, *case[4:]), [x])


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("case", GRID, ids=IDS)
def test_avg_pool2d_gradcheck(case, count_include_pad):
    x = tg.Tensor(np.random.default_rng(1).standard_normal(case[:4]), dtype="float64", requires_grad=True)
    assert tg.gradcheck(lambda x: F.avg_pool2d(x, *case[4:], count_include_pad=count_include_pad), [x])


def test_max_pool2d_gradcheck_non_contiguous():
    x = tg.Tensor(_distinct((6, 7, 2, 3), np.random.default_rng(2)), dtype="float64", requires_grad=True)
    assert tg.gradcheck(lambda x: F.max_pool2d(x.transpose(2, 3, 0, 1), 3, 2, 1), [x])


@requires_torch
@pytest.mark.parametrize("case", GRID, ids=IDS)
def test_max_pool2d_matches_torch(case):
    x = _distinct(case[:4], np.random.default_rng(3), np.float32)
    k, s, p = case[4:]
    check_parity(lambda x: F.max_pool2d(x, k, s, p),
                 lambda x: torch.nn.functional.max_pool2d(x, k, s, p), [x])


@requires_torch
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("case", GRID, ids=IDS)
def test_avg_pool2d_matches_torch(case, count_include_pad):
    x = np.random.default_rng(4).standard_normal(case[:4], dtype=np.float32)
    k, s, p = case[4:]
    check_parity(lambda x: F.avg_pool2d(x, k, s, p, count_include_pad),
                 lambda x: torch.nn.functional.avg_pool2d(x, k, s, p, count_include_pad=count_include_pad), [x])


def test_max_pool2d_ties_and_padding_follow_torch_rules():
    x = tg.Tensor(np.array([[[[1.0, 1.0], [-np.inf, 0.0]]]], dtype=np.float32), requires_grad=True)
    y = F.max_pool2d(x, 2, 1, 1)  # every window holds padding; the first maximum wins a tie
    assert y.numpy().tolist() == [[[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [-np.inf, 0.0, 0.0]]]]
    y.backward(tg.ones(*y.shape))
    assert x.grad.numpy().tolist() == [[[[4.0, 2.0], [1.0, 2.0]]]]


@pytest.mark.parametrize("call, message", [
    (lambda: F.max_pool2d(tg.zeros(1, 1, 4, 4), 3, 1, 2), r"max_pool2d: padding \(2, 2\) must be between 0 and half"),
    (lambda: F.avg_pool2d(tg.zeros(1, 1, 4, 4), 2, 1, -1), r"avg_pool2d: padding \(-1, -1\)"),
    (lambda: F.max_pool2d(tg.zeros(1, 1, 3, 3), 5), r"max_pool2d: kernel \(5, 5\) is larger than the padded input"),
    (lambda: F.max_pool2d(tg.zeros(4, 4), 2), r"max_pool2d: expected a 4-D input .* \(4, 4\)"),
    (lambda: F.avg_pool2d(tg.zeros(1, 1, 4, 4), 2, 0), r"avg_pool2d: stride must be positive, got \(0, 0\)"),
    (lambda: F.max_pool2d(tg.zeros(1, 1, 4, 4), (2, 0)), r"max_pool2d: kernel_size must be positive"),
])
def test_pool_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
