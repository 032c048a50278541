"""Class imbalance: class re-weighting, weighted sampling, over- and under-sampling.

Three standard remedies when some classes are rare:

* re-weight the loss: ``F.cross_entropy(logits, y, weight=class_weights(y_train))``;
* sample rare classes more often: ``DataLoader(ds, sampler=WeightedRandomSampler(
  sample_weights(y_train), num_samples=len(y_train)))``;
* resample the data set once: ``Subset(ds, oversample_indices(y_train))`` (or
  ``undersample_indices``), which balances the class counts exactly.

Randomness comes from the generator seeded by ``tg.manual_seed`` unless a
``seed`` is given.
"""
import numpy as np

from .. import random
from ..metrics import _labels as _class_indices
from ..metrics import to_numpy

__all__ = ["WeightedRandomSampler", "class_weights", "sample_weights", "oversample_indices",
           "undersample_indices"]

_SCHEMES = ("balanced", "sqrt")


def _labels(fn, labels):
    """Class indices as int64 NumPy (metrics' conversion: Tensor/CuPy to host, whole floats
    accepted), non-empty and >= 0."""
    y = _class_indices(labels, f"{fn}: labels")
    if y.size == 0:
        raise ValueError(f"{fn}: labels is empty")
    if y.min() < 0:
        raise ValueError(f"{fn}: labels must be >= 0, got {int(y.min())}")
    return y


def _rng(seed):
    return random.generator("cpu") if seed is None else np.random.default_rng(seed)


class WeightedRandomSampler:
    """Draws ``num_samples`` indices i in [0, len(weights)) with P(i) = w_i / sum_j w_j.

    With ``replacement=False`` an index is drawn at most once (successive draws
    renormalise over the indices left), so ``num_samples`` must not exceed the number
    of positive weights. Each ``iter()`` (each epoch) draws afresh, from
    ``numpy.random.default_rng(seed)`` made once when ``seed`` is given, else from the
    generator seeded by ``tg.manual_seed``. Pass it to ``DataLoader(sampler=...)``.
    """

    def __init__(self, weights, num_samples, replacement=True, seed=None):
        fn = "WeightedRandomSampler"
        w = to_numpy(weights).astype(np.float64)
        if w.ndim != 1 or w.size == 0:
            raise ValueError(f"{fn}: weights must be a non-empty 1-D sequence, got shape {w.shape}")
        for bad, what in ((~np.isfinite(w), "finite"), (w < 0, ">= 0")):
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(f"{fn}: weights must be {what}, but weights[{i}] = {w[i]} "
                                 f"(shape {w.shape})")
        if not w.sum() > 0:
            raise ValueError(f"{fn}: weights must not all be zero (shape {w.shape}, sum {w.sum()})")
        if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
            raise ValueError(f"{fn}: num_samples must be a positive integer, got {num_samples!r}")
        if not replacement and num_samples > int((w > 0).sum()):
            raise ValueError(f"{fn}: num_samples={num_samples} exceeds the {int((w > 0).sum())} indices "
                             "with positive weight, which replacement=False cannot draw")
        self.weights, self.num_samples, self.replacement = w, int(num_samples), bool(replacement)
        self._rng = None if seed is None else np.random.default_rng(seed)

    def __iter__(self):
        rng = self._rng if self._rng is not None else random.generator("cpu")
        p = self.weights / self.weights.sum()
        return iter(rng.choice(len(p), size=self.num_samples, replace=self.replacement, p=p).tolist())

    def __len__(self):
        return self.num_samples

    def __repr__(self):
        return (f"WeightedRandomSampler(n={len(self.weights)}, num_samples={self.num_samples}, "
                f"replacement={self.replacement})")


def class_weights(labels, scheme="balanced", n_classes=None):
    """Per-class loss weights from the label counts n_c (n samples, C classes):

        "balanced": w_c = n / (C * n_c)       (scikit-learn's; every class then carries
                                               the same total weight n / C)
        "sqrt":     w_c = sqrt(n / (C * n_c))  (a milder correction)

    ``n_classes`` defaults to max(label) + 1; every class must occur. Returns float32 (C,).
    """
    fn = "class_weights"
    if scheme not in _SCHEMES:
        raise ValueError(f"{fn}: scheme must be one of {_SCHEMES}, got {scheme!r}")
    y = _labels(fn, labels)
    if n_classes is None:
        n_classes = int(y.max()) + 1
    elif isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise ValueError(f"{fn}: n_classes must be a positive int (or None), got {n_classes!r}")
    if y.max() >= n_classes:
        raise ValueError(f"{fn}: label {int(y.max())} is out of range for n_classes={n_classes}")
    counts = np.bincount(y, minlength=n_classes)
    if (counts == 0).any():
        raise ValueError(f"{fn}: classes {np.flatnonzero(counts == 0).tolist()} have no samples, "
                         "so their weight n / (C * n_c) is undefined")
    w = len(y) / (n_classes * counts)
    return (np.sqrt(w) if scheme == "sqrt" else w).astype(np.float32)


def sample_weights(labels, scheme="balanced"):
    """w_i = class_weights(labels)[y_i]: per-sample weights for WeightedRandomSampler, under
    which every class is drawn equally often ("balanced")."""
    y = _labels("sample_weights", labels)
    return class_weights(y, scheme)[y]


def oversample_indices(labels, seed=None):
    """Indices that balance the classes by repeating rare ones: every original index once,
    plus max_c n_c - n_c extra indices of each class c drawn uniformly with replacement.
    Every class then has max_c n_c entries. Returned sorted (int64)."""
    y = _labels("oversample_indices", labels)
    rng, classes = _rng(seed), np.unique(y)
    top = int(np.bincount(y).max())
    parts = [np.arange(len(y))]
    for c in classes:
        idx = np.flatnonzero(y == c)
        parts.append(rng.choice(idx, size=top - len(idx), replace=True))
    return np.sort(np.concatenate(parts)).astype(np.int64)


def undersample_indices(labels, seed=None):
    """Indices that balance the classes by dropping common ones: min_c n_c indices of each
    present class c, drawn uniformly without replacement. Returned sorted (int64)."""
    y = _labels("undersample_indices", labels)
    rng, classes = _rng(seed), np.unique(y)
    low = int(min((y == c).sum() for c in classes))
    parts = [rng.choice(np.flatnonzero(y == c), size=low, replace=False) for c in classes]
    return np.sort(np.concatenate(parts)).astype(np.int64)
