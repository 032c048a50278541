"""Class imbalance: WeightedRandomSampler, class weights, over/under-sampling, DataLoader(sampler=)."""
import numpy as np
import pytest

import tinygrad_img as tg
import tinygrad_img.functional as F
from tinygrad_img import nn
from tinygrad_img.data import DataLoader, Subset, TensorDataset
from tinygrad_img.data.sampler import (WeightedRandomSampler, class_weights, oversample_indices, sample_weights,
                                       undersample_indices)

_Y = np.array([0] * 12 + [1] * 3 + [2] * 5)


def test_weighted_sampler_frequencies_follow_weights():
    w = np.array([1.0, 2.0, 0.0, 5.0])
    draws = np.array(list(WeightedRandomSampler(w, 20000)))
    freq = np.bincount(draws, minlength=4) / len(draws)
    # 4 standard errors of a binomial proportion with n = 20000 is at most 0.015
    np.testing.assert_allclose(freq, w / w.sum(), atol=0.015)
    assert freq[2] == 0


def test_weighted_sampler_is_seeded_and_redraws_each_epoch():
    w = np.arange(1, 11, dtype=float)
    tg.manual_seed(5)
    a = WeightedRandomSampler(w, 30)
    first, second = list(a), list(a)
    tg.manual_seed(5)
    again = WeightedRandomSampler(w, 30)
    assert list(again) == first and list(again) == second and first != second
    own = WeightedRandomSampler(w, 30, seed=1)
    assert list(own) == list(WeightedRandomSampler(w, 30, seed=1)) and len(own) == 30


def test_weighted_sampler_without_replacement_draws_distinct_indices():
    s = WeightedRandomSampler([1.0, 1.0, 0.0, 3.0, 1.0], 4, replacement=False)
    assert sorted(s) == [0, 1, 3, 4]
    with pytest.raises(ValueError, match="WeightedRandomSampler: num_samples=5 exceeds the 4 indices"):
        WeightedRandomSampler([1.0, 1.0, 0.0, 3.0, 1.0], 5, replacement=False)
    with pytest.raises(ValueError, match=r"WeightedRandomSampler: weights must be >= 0, but weights\[1\] = -1.0 "
                                         r"\(shape \(2,\)\)"):
        WeightedRandomSampler([1.0, -1.0], 2)
    with pytest.raises(ValueError, match="WeightedRandomSampler: num_samples must be a positive integer, got 0"):
        WeightedRandomSampler([1.0], 0)


def test_balanced_class_weights_formula():
    w = class_weights(_Y)
    np.testing.assert_allclose(w, [20 / (3 * 12), 20 / (3 * 3), 20 / (3 * 5)], rtol=1e-6)
    assert w.dtype == np.float32
    counts = np.bincount(_Y)
    np.testing.assert_allclose(w * counts, [20 / 3] * 3, rtol=1e-6)     # every class carries n / C
    np.testing.assert_allclose(class_weights(tg.Tensor(_Y), "sqrt"), np.sqrt(w), rtol=1e-6)
    np.testing.assert_allclose(sample_weights(_Y), w[_Y])
    with pytest.raises(ValueError, match=r"class_weights: classes \[3\] have no samples"):
        class_weights(_Y, n_classes=4)
    with pytest.raises(ValueError, match="class_weights: scheme must be one of"):
        class_weights(_Y, scheme="inverse")
    with pytest.raises(ValueError, match="class_weights: labels: class labels must be integers, .* 0.5"):
        class_weights(np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="class_weights: labels is empty"):
        class_weights(np.array([], dtype=np.int64))
    np.testing.assert_array_equal(class_weights(_Y.astype(np.float32)), w)   # whole floats, as metrics
    for bad in ("3", 3.0, 0, True):
        with pytest.raises(ValueError, match=rf"^class_weights: n_classes must be a positive int \(or None\), "
                                             rf"got {bad!r}$"):
            class_weights(_Y, n_classes=bad)
    np.testing.assert_array_equal(class_weights(_Y, n_classes=np.int64(_Y.max() + 1)), w)


def test_weighted_sampler_errors_name_the_check_not_the_array():
    big = np.ones(10_000)
    big[7] = np.nan
    with pytest.raises(ValueError) as e:
        WeightedRandomSampler(big, 5)
    msg = str(e.value)
    assert "weights must be finite, but weights[7] = nan (shape (10000,))" in msg and len(msg) < 200
    big[7] = 1.0
    big[9_000] = -2.5
    with pytest.raises(ValueError, match=r"must be >= 0, but weights\[9000\] = -2.5 \(shape \(10000,\)\)"):
        WeightedRandomSampler(big, 5)
    with pytest.raises(ValueError, match=r"weights must not all be zero \(shape \(3,\), sum 0.0\)"):
        WeightedRandomSampler(np.zeros(3), 2)


def test_balanced_sampling_through_the_dataloader():
    x = np.arange(len(_Y), dtype=np.float32)[:, None]
    sampler = WeightedRandomSampler(sample_weights(_Y), num_samples=3000)
    loader = DataLoader(TensorDataset(x, _Y), batch_size=100, sampler=sampler)
    assert len(loader) == 30
    batches = list(loader)                             # one epoch (each epoch draws afresh)
    labels = np.concatenate([yb.numpy() for _, yb in batches])
    ids = np.concatenate([xb.numpy()[:, 0] for xb, _ in batches]).astype(int)
    np.testing.assert_array_equal(labels, _Y[ids])
    np.testing.assert_allclose(np.bincount(labels) / len(labels), [1 / 3] * 3, atol=0.03)


def test_dataloader_sampler_order_and_errors():
    x = np.arange(5, dtype=np.float32)[:, None]
    loader = DataLoader(x, batch_size=2, sampler=[4, 0, 4])
    assert [xb.numpy()[:, 0].tolist() for (xb,) in loader] == [[4.0, 0.0], [4.0]]
    with pytest.raises(ValueError, match="DataLoader: sampler and shuffle=True are mutually exclusive"):
        DataLoader(x, sampler=[0, 1], shuffle=True)
    with pytest.raises(TypeError, match="DataLoader: sampler must be an iterable of indices with a length"):
        DataLoader(x, sampler=iter([0, 1]))
    with pytest.raises(IndexError, match=r"outside \[0, 5\)"):
        list(DataLoader(x, sampler=[0, 5]))


def test_oversampling_equalises_counts_and_keeps_every_index():
    idx = oversample_indices(_Y)
    assert np.bincount(_Y[idx]).tolist() == [12, 12, 12]
    assert set(idx.tolist()) == set(range(len(_Y))) and idx.dtype == np.int64
    assert np.all(np.diff(idx) >= 0)
    tg.manual_seed(3)
    a = oversample_indices(_Y)
    tg.manual_seed(3)
    np.testing.assert_array_equal(a, oversample_indices(_Y))
    np.testing.assert_array_equal(oversample_indices(_Y, seed=1), oversample_indices(_Y, seed=1))


def test_undersampling_equalises_counts_without_repeats():
    idx = undersample_indices(_Y, seed=0)
    assert np.bincount(_Y[idx]).tolist() == [3, 3, 3]
    assert len(set(idx.tolist())) == 9
    assert set(idx[_Y[idx] == 1].tolist()) == {12, 13, 14}     # the rarest class is kept whole
    with pytest.raises(ValueError, match="undersample_indices: labels must be >= 0, got -1"):
        undersample_indices(np.array([0, -1]))


def _imbalanced_blobs():
    rng = np.random.default_rng(0)
    counts = [300, 20]
    x = np.concatenate([rng.normal(m, 1.0, (n, 2)) for m, n in zip([0.0, 1.6], counts)]).astype(np.float32)
    y = np.repeat([0, 1], counts)
    return x, y


def _minority_recall(weight, epochs=60):
    x, y = _imbalanced_blobs()
    model = nn.Linear(2, 2)
    opt = tg.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(epochs):
        opt.zero_grad()
        F.cross_entropy(model(tg.Tensor(x)), tg.Tensor(y), weight=weight).backward()
        opt.step()
    pred = model(tg.Tensor(x)).numpy().argmax(1)
    return float((pred[y == 1] == 1).mean())


def test_cross_entropy_with_class_weights_end_to_end():
    x, y = _imbalanced_blobs()
    w = class_weights(y)
    logits = tg.Tensor(np.random.randn(len(y), 2).astype(np.float32), requires_grad=True)
    loss = F.cross_entropy(logits, tg.Tensor(y), weight=tg.Tensor(w))
    lp = logits.numpy() - np.log(np.exp(logits.numpy()).sum(1, keepdims=True))
    expect = -(w[y] * lp[np.arange(len(y)), y]).sum() / w[y].sum()
    np.testing.assert_allclose(loss.item(), expect, rtol=1e-5)
    loss.backward()
    assert logits.grad.shape == logits.shape
    plain, weighted = _minority_recall(None), _minority_recall(w)
    assert weighted >= 0.75 and weighted >= plain + 0.25, (plain, weighted)   # 0.8 vs 0.5 here


def test_oversampled_subset_trains_like_reweighting():
    x, y = _imbalanced_blobs()
    idx = oversample_indices(y, seed=0)
    ds = Subset(TensorDataset(x, y), idx)
    assert len(ds) == 600
    model = nn.Linear(2, 2)
    opt = tg.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(60):
        opt.zero_grad()
        xb, yb = next(iter(DataLoader(ds, batch_size=600)))
        F.cross_entropy(model(xb), yb).backward()
        opt.step()
    pred = model(tg.Tensor(x)).numpy().argmax(1)
    assert (pred[y == 1] == 1).mean() >= 0.7
