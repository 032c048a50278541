"""dropout (inverted scaling, reproducible under tg.manual_seed) and embedding."""
import numpy as np
import pytest

import tinygrad_img as tg
import tinygrad_img.functional as F
from tinygrad_img.ops.shape import scatter_add
from torch_parity import check_parity, requires_torch, torch


def test_dropout_scales_kept_elements_and_drops_about_p():
    x = tg.ones(200, 100, requires_grad=True)
    y = F.dropout(x, 0.3)
    vals = np.unique(y.numpy())
    assert np.allclose(vals, [0.0, 1 / 0.7])
    assert abs((y.numpy() == 0).mean() - 0.3) < 0.02
    y.backward(tg.full((200, 100), 2.0))
    np.testing.assert_allclose(x.grad.numpy(), 2 * y.numpy())
    assert y.dtype == np.float32 and x.grad.dtype == np.float32


def test_dropout_is_reproducible_under_manual_seed():
    x = tg.randn(50, 40)
    tg.manual_seed(123)
    a = F.dropout(x, 0.5).numpy()
    b = F.dropout(x, 0.5).numpy()
    tg.manual_seed(123)
    assert np.array_equal(F.dropout(x, 0.5).numpy(), a)
    assert not np.array_equal(a, b)


def test_dropout_identity_cases():
    x = tg.randn(5, 6)
    assert F.dropout(x, 0.5, training=False) is x and F.dropout(x, 0.0) is x
    assert not F.dropout(x, 1.0).numpy().any()
    with pytest.raises(ValueError, match="dropout: p must be in"):
        F.dropout(x, 1.5)


def test_dropout_gradcheck():
    x = tg.Tensor(np.random.default_rng(0).standard_normal((4, 5)), dtype="float64", requires_grad=True)
    tg.manual_seed(7)
    mask = F.dropout(tg.ones(4, 5, dtype="float64"), 0.4).numpy()

    def fn(x):
        tg.manual_seed(7)  # same mask on every call
        return F.dropout(x, 0.4)
    assert tg.gradcheck(fn, [x])
    tg.manual_seed(7)
    np.testing.assert_allclose(F.dropout(x, 0.4).numpy(), x.numpy() * mask)


def test_embedding_gradcheck_with_repeated_indices():
    w = tg.Tensor(np.random.default_rng(1).standard_normal((6, 3)), dtype="float64", requires_grad=True)
    idx = tg.Tensor(np.array([[0, 2, 2], [5, 0, 2]]))
    assert tg.gradcheck(lambda w: F.embedding(idx, w), [w])


@requires_torch
def test_embedding_matches_torch():
    idx = np.array([[1, 3, 3, 0], [2, 9, 1, 1]])
    w = np.random.default_rng(2).standard_normal((10, 4), dtype=np.float32)
    check_parity(lambda w: F.embedding(idx, w), lambda w: torch.nn.functional.embedding(torch.tensor(idx), w), [w])


def test_embedding_errors():
    w = tg.zeros(5, 2)
    with pytest.raises(ValueError, match="embedding: index 5 is out of range for 5 embeddings"):
        F.embedding([0, 5], w)
    with pytest.raises(ValueError, match="embedding: index -1 is out of range"):
        F.embedding([-1], w)
    with pytest.raises(TypeError, match="embedding: indices must be integers"):
        F.embedding(np.array([0.5]), w)


def test_scatter_add_helper_accumulates_repeated_indices():
    out = np.zeros((3, 2), np.float32)
    scatter_add(out, np.array([0, 2, 0, 0]), np.ones((4, 2), np.float32))
    np.testing.assert_array_equal(out, [[3, 3], [0, 0], [1, 1]])
    w = tg.Tensor(np.arange(6, dtype=np.float32).reshape(3, 2), requires_grad=True)
    F.embedding(np.array([[0, 2], [0, 0]]), w).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[3, 3], [0, 0], [1, 1]])
