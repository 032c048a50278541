"""Datasets: an indexable collection of samples, with a fast whole-batch path.

A dataset answers ``len(ds)`` and ``ds[i]`` (one sample, a tuple of arrays).
:meth:`Dataset.get_batch` returns a whole batch as a tuple of stacked arrays;
the base class stacks samples one by one, while :class:`TensorDataset` and
:class:`Subset` gather a batch with one fancy index per array, so the
:class:`~tinygrad_img.data.loader.DataLoader` never loops over samples in
Python for array-backed data.
"""
import math
import numbers

import numpy as np

from .. import backend, random
from ..tensor import Tensor


def as_array(a):
    """The numpy/cupy array behind a Tensor, array or array-like (a CuPy array stays on the GPU)."""
    if isinstance(a, Tensor):
        return a.data
    if type(a).__module__.startswith("cupy"):
        backend.cupy_module()  # lets backend recognise CuPy arrays even before any tensor used the GPU
    if isinstance(a, np.ndarray) or backend.is_cupy_array(a):
        return a
    return np.asarray(a)


class Dataset:
    """Base class: subclasses define ``__len__`` and ``__getitem__(i)`` returning one sample
    (an array or a tuple of arrays). ``get_batch(indices)`` stacks samples along a new axis 0."""

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def get_batch(self, indices):
        """Samples ``indices`` stacked field by field: a tuple of arrays with leading dim len(indices)."""
        samples = [self[int(i)] for i in indices]
        if not samples:
            raise ValueError(f"{type(self).__name__}.get_batch: empty index list")
        first = samples[0]
        if not isinstance(first, (tuple, list)):
            return (_stack(samples),)
        return tuple(_stack([s[k] for s in samples]) for k in range(len(first)))


def _stack(items):
    arrays = [as_array(a) for a in items]
    xp = backend.get_array_module(*arrays)
    return xp.stack([xp.asarray(a) for a in arrays])


class TensorDataset(Dataset):
    """Samples are rows of the given arrays or tensors: ``ds[i] == (a[i], b[i], ...)``.

    Every array must have the same length along axis 0. Batches are gathered
    with one fancy index per array (``a[indices]``).
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("TensorDataset: give at least one array")
        self.arrays = tuple(as_array(a) for a in arrays)
        for k, a in enumerate(self.arrays):
            if a.ndim == 0:
                raise ValueError(f"TensorDataset: array {k} is 0-d; every array needs a leading sample axis")
        lengths = [a.shape[0] for a in self.arrays]
        if len(set(lengths)) != 1:
            raise ValueError(f"TensorDataset: arrays differ in length along axis 0: {lengths} "
                             f"(shapes {[a.shape for a in self.arrays]})")

    def __len__(self):
        return self.arrays[0].shape[0]

    def __getitem__(self, index):
        return tuple(a[index] for a in self.arrays)

    def get_batch(self, indices):
        """One gather per array: ``tuple(a[indices] for a in arrays)``."""
        out = []
        for a in self.arrays:
            idx = indices if backend.device_of(a) == "cpu" else backend.to_device(indices, "cuda")
            out.append(a[idx])
        return tuple(out)


class Subset(Dataset):
    """The samples ``dataset[indices[i]]``; batches go through the parent's ``get_batch``."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, index):
        return self.dataset[int(self.indices[index])]

    def get_batch(self, indices):
        return self.dataset.get_batch(self.indices[np.asarray(indices, dtype=np.int64)])


def _split_counts(n, lengths):
    """Counts from ``lengths``: integers summing to n, or fractions summing to 1
    (floored, the remainder handed out one by one from the first split, as PyTorch does)."""
    lengths = list(lengths)
    if not lengths or any(not isinstance(v, numbers.Real) or v < 0 for v in lengths):
        raise ValueError(f"random_split: lengths must be non-negative numbers, got {lengths}")
    if all(isinstance(v, numbers.Integral) for v in lengths):
        if sum(lengths) != n:
            raise ValueError(f"random_split: lengths {lengths} sum to {sum(lengths)}, "
                             f"but the dataset has {n} samples")
        return [int(v) for v in lengths]
    if not math.isclose(sum(lengths), 1.0, abs_tol=1e-6):
        raise ValueError(f"random_split: fractions {lengths} sum to {sum(lengths)}, not 1")
    counts = [int(math.floor(n * f)) for f in lengths]
    for i in range(n - sum(counts)):
        counts[i % len(counts)] += 1
    return counts


def random_split(dataset, lengths, seed=None):
    """Split ``dataset`` into non-overlapping :class:`Subset` s of the given ``lengths``
    (counts summing to ``len(dataset)``, or fractions summing to 1).

    The assignment is a random permutation drawn from ``numpy.random.default_rng(seed)``,
    or from the generator seeded by ``tg.manual_seed`` when ``seed`` is None.
    """
    n = len(dataset)
    counts = _split_counts(n, lengths)
    rng = np.random.default_rng(seed) if seed is not None else random.generator("cpu")
    perm = rng.permutation(n)
    bounds = np.cumsum([0] + counts)
    return [Subset(dataset, perm[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:])]
