"""batch_norm (training and eval, running statistics) and layer_norm: gradcheck, PyTorch parity, errors."""
import numpy as np
import pytest

import tinygrad_img as tg
import tinygrad_img.functional as F
from array_spy import Spy, spy_tensor
from torch_parity import check_parity, requires_torch, torch


@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 5), (2, 3, 3, 4), (1, 2, 3, 3)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradcheck(shape, training):
    rng = np.random.default_rng(0)
    c = shape[1]
    x, w, b = (tg.Tensor(a, dtype="float64", requires_grad=True)
               for a in (rng.standard_normal(shape), rng.standard_normal(c), rng.standard_normal(c)))
    rm, rv = rng.standard_normal(c), rng.uniform(0.5, 2.0, c)
    assert tg.gradcheck(lambda x, w, b: F.batch_norm(x, rm.copy(), rv.copy(), w, b, training=training), [x, w, b])


def test_batch_norm_gradcheck_without_affine_params():
    x = tg.Tensor(np.random.default_rng(1).standard_normal((3, 2, 2, 2)), dtype="float64", requires_grad=True)
    assert tg.gradcheck(lambda x: F.batch_norm(x, None, None, training=True), [x])


@requires_torch
@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 6), (4, 3, 5, 5)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_torch_and_updates_running_stats(shape, training):
    rng = np.random.default_rng(2)
    c = shape[1]
    x = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
    w, b = rng.standard_normal(c, dtype=np.float32), rng.standard_normal(c, dtype=np.float32)
    rm0, rv0 = rng.standard_normal(c).astype(np.float32), rng.uniform(0.5, 2, c).astype(np.float32)
    ours_rm, ours_rv = tg.Tensor(rm0.copy()), tg.Tensor(rv0.copy())
    torch_rm, torch_rv = torch.tensor(rm0.copy()), torch.tensor(rv0.copy())
    check_parity(lambda x, w, b: F.batch_norm(x, ours_rm, ours_rv, w, b, training, 0.3, 1e-3),
                 lambda x, w, b: torch.nn.functional.batch_norm(x, torch_rm, torch_rv, w, b, training, 0.3, 1e-3),
                 [x, w, b])
    np.testing.assert_allclose(ours_rm.numpy(), torch_rm.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours_rv.numpy(), torch_rv.numpy(), rtol=1e-5, atol=1e-6)
    assert training or np.array_equal(ours_rm.numpy(), rm0)


def test_batch_norm_running_var_is_unbiased():
    x = np.array([[1.0], [2.0], [4.0]], dtype=np.float32)
    rm, rv = tg.zeros(1), tg.ones(1)
    y = F.batch_norm(tg.Tensor(x), rm, rv, training=True, momentum=1.0, eps=0.0)
    assert rm.numpy()[0] == pytest.approx(7 / 3)
    assert rv.numpy()[0] == pytest.approx(np.var(x, ddof=1))
    np.testing.assert_allclose(y.numpy(), (x - x.mean()) / x.std(), rtol=1e-5)


@pytest.mark.parametrize("shape, normalized", [((3, 5), 5), ((2, 3, 4), (3, 4)), ((2, 2, 3, 3), (3,))])
def test_layer_norm_gradcheck(shape, normalized):
    rng = np.random.default_rng(3)
    ns = (normalized,) if isinstance(normalized, int) else normalized
    x, w, b = (tg.Tensor(a, dtype="float64", requires_grad=True)
               for a in (rng.standard_normal(shape), rng.standard_normal(ns), rng.standard_normal(ns)))
    assert tg.gradcheck(lambda x, w, b: F.layer_norm(x, normalized, w, b), [x, w, b])
    assert tg.gradcheck(lambda x: F.layer_norm(x, normalized), [x])


@requires_torch
@pytest.mark.parametrize("shape, normalized", [((6, 8), (8,)), ((2, 3, 4, 5), (4, 5))])
def test_layer_norm_matches_torch(shape, normalized):
    rng = np.random.default_rng(4)
    x = (rng.standard_normal(shape) * 2 - 1).astype(np.float32)
    w, b = rng.standard_normal(normalized, dtype=np.float32), rng.standard_normal(normalized, dtype=np.float32)
    check_parity(lambda x, w, b: F.layer_norm(x, normalized, w, b, 1e-4),
                 lambda x, w, b: torch.nn.functional.layer_norm(x, normalized, w, b, 1e-4), [x, w, b])


def test_norm_outputs_keep_float32():
    x = tg.randn(4, 3, 2, 2)
    assert F.batch_norm(x, tg.zeros(3), tg.ones(3), training=True).dtype == np.float32
    assert F.layer_norm(x, (2, 2), tg.ones(2, 2), tg.zeros(2, 2)).dtype == np.float32


@pytest.mark.parametrize("call, message", [
    (lambda: F.batch_norm(tg.zeros(4, 3), tg.zeros(2), tg.ones(2), training=True),
     r"batch_norm: running_mean of shape \(2,\) does not match 3 channels"),
    (lambda: F.batch_norm(tg.zeros(1, 3), tg.zeros(3), tg.ones(3), training=True),
     "batch_norm: training needs more than one value per channel"),
    (lambda: F.batch_norm(tg.zeros(4, 3), None, None), "batch_norm: evaluation mode needs running_mean"),
    (lambda: F.batch_norm(tg.zeros(4), None, None, training=True), r"batch_norm: expected .* shape \(4,\)"),
    (lambda: F.layer_norm(tg.zeros(2, 3), (4,)), r"layer_norm: normalized_shape \(4,\) does not match"),
    (lambda: F.layer_norm(tg.zeros(2, 3), 3, tg.ones(2)), r"layer_norm: weight of shape \(2,\)"),
])
def test_norm_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("training", [True, False])
def test_normalize_centres_the_input_once(training):
    x = spy_tensor(np.random.default_rng(0).standard_normal((4, 3, 2)).astype(np.float32))
    rng = np.random.default_rng(1)
    weight, bias = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    if training:
        y = F.layer_norm(x, (3, 2), tg.Tensor(weight.astype(np.float32)), tg.Tensor(bias.astype(np.float32)))
    else:
        y = F.batch_norm(x, np.zeros(3, np.float32), np.ones(3, np.float32), training=False)
    full_subtracts = [e for e in Spy.log if e[0] == "subtract" and e[2] == (4, 3, 2)]
    assert len(full_subtracts) == 1, Spy.log
    plain = np.asarray(x.data).astype(np.float64)
    if training:
        mean, var = plain.mean(axis=(1, 2), keepdims=True), plain.var(axis=(1, 2), keepdims=True)
        ref = (plain - mean) / np.sqrt(var + 1e-5) * weight + bias
    else:
        ref = plain / np.sqrt(1 + 1e-5)
    np.testing.assert_allclose(np.asarray(y.data), ref, rtol=1e-5, atol=1e-5)
