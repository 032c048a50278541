"""DataLoader: batches of a dataset as tensors on a device, optionally shuffled and augmented."""
import numpy as np

from .. import backend, random
from ..tensor import Tensor
from .dataset import Dataset, TensorDataset, as_array


class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size``.

    Each batch is a tuple of :class:`~tinygrad_img.Tensor` on ``device`` (the
    default device when None), one per field of the samples. Float64 fields
    become float32; otherwise the first field (the inputs) keeps its dtype, and
    integer fields after it (labels) become int64. ``transform`` (a callable on
    a whole batch, e.g. a :mod:`~tinygrad_img.data.transforms` pipeline) is
    applied to the first field (the images) after it is moved to ``device``,
    so augmentation runs where training does.

    With ``shuffle=True`` every epoch (each ``iter(loader)``) draws a new
    permutation: from ``numpy.random.default_rng(seed)`` created once with the
    loader when ``seed`` is given, else from the generator seeded by
    ``tg.manual_seed``. Either way a fixed seed replays the same sequence of
    epochs. ``drop_last`` drops a final batch smaller than ``batch_size``.
    ``sampler`` (an iterable of dataset indices with ``len``, e.g. a
    :class:`~tinygrad_img.data.sampler.WeightedRandomSampler` or an index array)
    replaces the order, as in PyTorch; it cannot be combined with ``shuffle=True``. It must
    yield integer indices (a float or boolean array is refused, not truncated or read as
    0/1); the batches cover exactly the indices it yields in an epoch, whatever its ``len``.
    A NumPy array or tensor passed as ``dataset`` is wrapped in a TensorDataset,
    a tuple of them likewise; a plain list of samples works like a Dataset.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, transform=None,
                 seed=None, device=None, sampler=None):
        if isinstance(dataset, tuple) and all(hasattr(a, "shape") for a in dataset):
            dataset = TensorDataset(*dataset)
        elif not isinstance(dataset, Dataset) and hasattr(dataset, "shape"):
            dataset = TensorDataset(dataset)
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError(f"DataLoader: dataset must support len() and indexing, got {type(dataset).__name__}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        if transform is not None and not callable(transform):
            raise TypeError(f"DataLoader: transform must be callable, got {type(transform).__name__}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler and shuffle=True are mutually exclusive "
                             "(the sampler decides the order; shuffle it inside the sampler)")
        if sampler is not None and not (hasattr(sampler, "__iter__") and hasattr(sampler, "__len__")):
            raise TypeError(f"DataLoader: sampler must be an iterable of indices with a length, "
                            f"got {type(sampler).__name__}")
        if sampler is not None and hasattr(sampler, "dtype"):
            _check_indices(np.dtype(sampler.dtype))
        self.sampler = sampler
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.transform = transform
        self.seed = seed
        self.device = backend.check_device(device)
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def __len__(self):
        """Number of batches per epoch."""
        return self._batches(len(self.dataset) if self.sampler is None else len(self.sampler))

    def _batches(self, n):
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self):
        n = len(self.dataset)
        if self.sampler is not None:
            s = self.sampler
            order = backend.to_device(as_array(s), "cpu") if hasattr(s, "dtype") else np.asarray(list(s))
            if order.size == 0:
                return np.zeros(0, dtype=np.int64)
            _check_indices(order.dtype)
            if order.ndim != 1:
                raise ValueError(f"DataLoader: the sampler must yield single indices, got an array of "
                                 f"shape {order.shape}")
            if (order.min() < 0 or order.max() >= n):
                raise IndexError(f"DataLoader: the sampler yielded an index outside [0, {n}) "
                                 f"(min {int(order.min())}, max {int(order.max())})")
            return order.astype(np.int64, copy=False)
        if not self.shuffle:
            return np.arange(n)
        rng = self._rng if self._rng is not None else random.generator("cpu")
        return rng.permutation(n)

    def _fetch(self, indices):
        if hasattr(self.dataset, "get_batch"):
            return self.dataset.get_batch(indices)
        return Dataset.get_batch(self.dataset, indices)

    def _to_tensors(self, fields):
        out = []
        for k, a in enumerate(fields):
            a = backend.to_device(a.data if isinstance(a, Tensor) else a, self.device)
            if k > 0 and a.dtype.kind in "iu":
                a = a.astype(np.int64, copy=False)
            if k == 0 and self.transform is not None:
                a = self.transform(a)
                a = a.data if isinstance(a, Tensor) else a
            out.append(Tensor(a))
        return tuple(out)

    def __iter__(self):
        order = self._order()
        for b in range(self._batches(len(order))):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield self._to_tensors(self._fetch(idx))

    def __repr__(self):
        return (f"DataLoader(n={len(self.dataset)}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, device={self.device!r})")


def _check_indices(dtype):
    """Refuse a sampler of non-integer dtype (floats would be truncated, booleans read as 0/1)."""
    if dtype.kind not in "iu":
        hint = "; for a boolean mask pass np.flatnonzero(mask)" if dtype.kind == "b" else ""
        raise TypeError(f"DataLoader: the sampler must yield integer dataset indices, got dtype {dtype}{hint}")
