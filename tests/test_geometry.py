"""Sliding-window arithmetic shared by kernels, ops and layers."""
import numpy as np
import pytest

from tinygrad_img.kernels.geometry import out_size, pair


@pytest.mark.parametrize("size,k,s,p,d,expected", [
    (28, 3, 1, 0, 1, 26), (56, 3, 2, 1, 1, 28), (7, 2, 2, 0, 1, 3),  # floor drops the last pixel
    (11, 3, 1, 2, 2, 11), (5, 5, 1, 0, 1, 1)])
def test_out_size(size, k, s, p, d, expected):
    assert out_size(size, k, s, p, d) == expected


def test_pair_accepts_python_and_numpy_ints():
    assert pair(3, "stride", "op") == (3, 3)
    assert pair((np.int64(2), 1), "stride", "op") == (2, 1)
    assert all(type(v) is int for v in pair(np.int32(4), "stride", "op"))


def test_pair_errors_name_the_op_and_argument():
    with pytest.raises(TypeError, match="conv2d: stride must be an int or a pair of ints, got 'two'"):
        pair("two", "stride", "conv2d")
    with pytest.raises(TypeError, match="conv2d: stride must be an int or a pair"):
        pair(2.0, "stride", "conv2d")
    with pytest.raises(ValueError, match=r"pool: padding must be an int or a pair of ints, got \(1, 2, 3\)"):
        pair((1, 2, 3), "padding", "pool")
    with pytest.raises(ValueError, match="conv2d: dilation must be >= 1, got 0"):
        pair(0, "dilation", "conv2d", minimum=1)
