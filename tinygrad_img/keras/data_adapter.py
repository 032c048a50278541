"""Where ``fit``/``evaluate``/``predict`` get their batches, with Keras' epoch semantics.

The data may be arrays ``(x, y)`` (batched here with ``batch_size``), a
``tg.data.DataLoader`` (its batches as they come: the batch size is the
loader's), a ``tg.data.Dataset`` of samples (batched with ``batch_size`` by a
DataLoader), or any other iterable or generator of ``(x, y)`` batches.

An epoch is ``steps`` batches (``steps_per_epoch`` / ``steps``), else one full
pass. A re-iterable source starts a new pass when the current one ends, so
with ``steps`` set an epoch goes on where the previous one stopped (Keras 3).
A one-shot iterator (a generator) runs on across epochs; once it runs dry it
yields nothing more.
"""
import numpy as np

from .. import random as tg_random
from ..data.dataset import Dataset, as_array
from ..data.loader import DataLoader
from ..metrics import to_numpy
from ..tensor import Tensor

__all__ = ["EpochIterator", "is_batch_source", "as_arrays", "epoch_iterator", "split_batch"]


def is_batch_source(x):
    """Whether ``x`` yields whole batches (a DataLoader, Dataset, generator or other
    iterable) rather than being an array of samples (arrays, Tensors, lists, tuples)."""
    if isinstance(x, (DataLoader, Dataset)):
        return True
    if x is None or isinstance(x, (np.ndarray, Tensor, list, tuple, str, bytes, dict)) or hasattr(x, "shape"):
        return False
    return hasattr(x, "__iter__") or hasattr(x, "__next__")


def _source_kind(x):
    return type(x).__name__ if isinstance(x, (DataLoader, Dataset)) else "generator or iterable of batches"


class EpochIterator:
    """The batches of successive epochs over one source (see the module docstring).

    ``new_pass()`` returns an iterator over one pass; ``num_batches`` is the length of a pass
    (None when unknown); ``one_shot`` marks a source that can be iterated only once;
    ``sample`` is the first input sample (batch of one) when known in advance (arrays).
    """

    def __init__(self, new_pass, num_batches=None, steps=None, one_shot=False, sample=None):
        self._new_pass = new_pass
        self.sample = sample
        self.num_batches = num_batches
        self.steps = steps
        self.one_shot = one_shot
        self.exhausted = False
        self._it = None

    @property
    def steps_per_epoch(self):
        """Batches in an epoch (None when unknown: a generator without ``steps``)."""
        return self.steps if self.steps is not None else self.num_batches

    def epoch(self):
        """Yield the batches of the next epoch."""
        if self.steps is None and not self.one_shot:
            self._it = None
        step, fresh = 0, False
        while self.steps is None or step < self.steps:
            if self._it is None:
                if self.exhausted:
                    return
                self._it, fresh = iter(self._new_pass()), True
            try:
                batch = next(self._it)
            except StopIteration:
                self._it = None
                self.exhausted = self.one_shot
                if self.one_shot or self.steps is None or fresh:
                    return
                continue
            step, fresh = step + 1, False
            yield batch


def _check_steps(op, name, steps):
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1):
        raise ValueError(f"{op}: {name} must be a positive integer or None, got {steps!r}")
    return None if steps is None else int(steps)


def _check_batch_size(op, batch_size):
    """Keras' default of 32 for None; a positive integer otherwise."""
    batch_size = 32 if batch_size is None else int(batch_size)
    if batch_size <= 0:
        raise ValueError(f"{op}: batch_size must be positive, got {batch_size}")
    return batch_size


def _array_pass(x, y, batch_size, shuffle):
    """One pass over arrays: shuffled (a fresh permutation from tg's CPU generator) or in order."""
    order = tg_random.generator("cpu").permutation(len(x)) if shuffle else None
    for start in range(0, len(x), batch_size):
        idx = slice(start, start + batch_size) if order is None else order[start:start + batch_size]
        yield x[idx], (None if y is None else y[idx])


def as_arrays(op, x, y, needs_y=True):
    """(x, y) as NumPy arrays, checked: same length, not empty (y may be None without ``needs_y``)."""
    if x is None:
        raise ValueError(f"{op}: x is None")
    if needs_y and y is None:
        raise ValueError(f"{op}: y is None")
    x = to_numpy(x)
    y = None if y is None else to_numpy(y)
    if y is not None and len(x) != len(y):
        raise ValueError(f"{op}: x has {len(x)} samples but y has {len(y)}")
    if len(x) == 0:
        raise ValueError(f"{op}: no samples")
    return x, y


def epoch_iterator(op, x, y=None, batch_size=None, steps=None, shuffle=False, steps_name="steps",
                   needs_y=True):
    """An :class:`EpochIterator` over the data of ``op`` ("fit", "evaluate", ...), after
    checking the argument combinations Keras rejects."""
    steps = _check_steps(op, steps_name, steps)
    if not is_batch_source(x):
        x, y = as_arrays(op, x, y, needs_y)
        batch_size = _check_batch_size(op, batch_size)
        return EpochIterator(lambda: _array_pass(x, y, batch_size, shuffle), -(-len(x) // batch_size), steps,
                             sample=x[:1])
    kind = _source_kind(x)
    if y is not None:
        raise ValueError(f"{op}: y must be None when x is a {kind} (the batches carry the targets)")
    if isinstance(x, Dataset):
        x = DataLoader(x, batch_size=_check_batch_size(op, batch_size), shuffle=shuffle)
    elif batch_size is not None:
        raise ValueError(f"{op}: batch_size must be None when x is a {kind}: the batch size comes from "
                         f"the data (got batch_size={batch_size})")
    if hasattr(x, "__next__"):
        return EpochIterator(lambda: x, None, steps, one_shot=True)
    return EpochIterator(lambda: x, len(x) if hasattr(x, "__len__") else None, steps)


def split_batch(op, batch, needs_y=True):
    """(x, y) arrays of one batch: a pair (x, y); without ``needs_y`` also (x,) or a bare x
    (then y is None). Tensors give their arrays, which stay on their device."""
    if isinstance(batch, (tuple, list)) and (len(batch) == 2 or (not needs_y and len(batch) >= 1)):
        xb, yb = batch[0], (batch[1] if len(batch) > 1 and needs_y else None)
    elif not needs_y and not isinstance(batch, (tuple, list)):
        xb, yb = batch, None
    else:
        what = f"a {len(batch)}-tuple" if isinstance(batch, (tuple, list)) else f"a {type(batch).__name__}"
        raise ValueError(f"{op}: each batch must be a pair (x, y), got {what} (sample weights are not supported)")
    xb = as_array(xb)
    yb = None if yb is None else as_array(yb)
    if xb.ndim == 0 or len(xb) == 0:
        raise ValueError(f"{op}: got an empty batch of shape {xb.shape}")
    if yb is not None and (yb.ndim == 0 or len(yb) != len(xb)):
        raise ValueError(f"{op}: a batch has {len(xb)} inputs but targets of shape {yb.shape}")
    return xb, yb
