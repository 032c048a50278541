"""Keras losses. Each maps (y_true, y_pred) to the batch mean L = (1/N) sum_i l(y_i, y^_i).

Cross-entropies on probabilities clip them to [1e-7, 1 - 1e-7] as Keras does.
``fused_activation`` names the output activation ("softmax" or "sigmoid")
whose logits the loss can take directly: the model then skips that
activation and calls ``from_logits_loss``, which is computed with
log-sum-exp and never overflows.
"""
import numpy as np

from .. import functional as F
from ..metrics import to_numpy
from ..tensor import Tensor

__all__ = ["Loss", "SparseCategoricalCrossentropy", "CategoricalCrossentropy", "BinaryCrossentropy",
           "MeanSquaredError", "MeanAbsoluteError", "get"]

_EPS = 1e-7


def _target(y_true, ref, dtype=None):
    data = y_true.data if isinstance(y_true, Tensor) else y_true
    return Tensor(data, dtype=dtype or ref.dtype, device=ref.device)


class Loss:
    """Base class; subclasses implement ``call(y_true, y_pred)``."""
    name = "loss"
    fused_activation = None

    def __init__(self, from_logits=False):
        self.from_logits = from_logits

    def __call__(self, y_true, y_pred):
        if not isinstance(y_pred, Tensor):  # called directly on arrays, as Keras allows
            y_pred = Tensor(y_pred)
        if self.from_logits:
            return self.from_logits_loss(y_true, y_pred)
        return self.call(y_true, y_pred)

    def from_logits_loss(self, y_true, logits):
        raise ValueError(f"{type(self).__name__} has no from_logits form")

    def get_config(self):
        return {"from_logits": self.from_logits}


def _class_last(y_pred, op):
    if y_pred.ndim < 2:
        raise ValueError(f"{op}: predictions need a class axis, got shape {y_pred.shape}")
    return y_pred.reshape(-1, y_pred.shape[-1])


class SparseCategoricalCrossentropy(Loss):
    """l_i = -log p_i[y_i] for integer labels y_i (shape (N,), (N, 1) or (N, T) for (N, T, C) outputs)."""
    name = "sparse_categorical_crossentropy"
    fused_activation = "softmax"

    def _labels(self, y_true, y_pred):
        labels = to_numpy(y_true).reshape(-1).astype(np.int64)
        rows = int(np.prod(y_pred.shape[:-1]))
        if labels.shape[0] != rows:
            raise ValueError(f"{self.name}: {labels.shape[0]} labels for predictions of shape {y_pred.shape}")
        return Tensor(labels, device=y_pred.device)

    def call(self, y_true, y_pred):
        probs = _class_last(y_pred, self.name).clip(_EPS, 1 - _EPS)
        return F.nll_loss(probs.log(), self._labels(y_true, y_pred))

    def from_logits_loss(self, y_true, logits):
        return F.cross_entropy(_class_last(logits, self.name), self._labels(y_true, logits))


class CategoricalCrossentropy(Loss):
    """l_i = -sum_c t_ic log p_ic with one-hot (or soft) targets t; ``label_smoothing`` eps
    replaces t by (1 - eps) t + eps / C."""
    name = "categorical_crossentropy"
    fused_activation = "softmax"

    def __init__(self, from_logits=False, label_smoothing=0.0):
        super().__init__(from_logits)
        self.label_smoothing = label_smoothing

    def _targets(self, y_true, y_pred):
        t = _target(y_true, y_pred)
        if t.shape != y_pred.shape:
            raise ValueError(f"{self.name}: targets of shape {t.shape} do not match predictions of shape "
                             f"{y_pred.shape} (use sparse_categorical_crossentropy for integer labels)")
        t = _class_last(t, self.name)
        if self.label_smoothing:
            t = t * (1 - self.label_smoothing) + self.label_smoothing / t.shape[-1]
        return t

    def call(self, y_true, y_pred):
        t = self._targets(y_true, y_pred)
        probs = _class_last(y_pred, self.name).clip(_EPS, 1 - _EPS)
        return -(t * probs.log()).sum(axis=-1).mean()

    def from_logits_loss(self, y_true, logits):
        return F.cross_entropy(_class_last(logits, self.name), self._targets(y_true, logits))

    def get_config(self):
        return {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing}


class BinaryCrossentropy(Loss):
    """l = -[t log p + (1 - t) log(1 - p)], averaged over every element."""
    name = "binary_crossentropy"
    fused_activation = "sigmoid"

    def _targets(self, y_true, y_pred):
        t = _target(y_true, y_pred)
        return t.reshape(*y_pred.shape) if t.size == y_pred.size else t

    def call(self, y_true, y_pred):
        return F.binary_cross_entropy(y_pred.clip(_EPS, 1 - _EPS), self._targets(y_true, y_pred))

    def from_logits_loss(self, y_true, logits):
        return F.binary_cross_entropy_with_logits(logits, self._targets(y_true, logits))


class MeanSquaredError(Loss):
    """l = (y - y^)^2, averaged over every element."""
    name = "mean_squared_error"

    def __init__(self):
        super().__init__(False)

    def call(self, y_true, y_pred):
        return F.mse_loss(y_pred, _target(y_true, y_pred).reshape(*y_pred.shape))

    def get_config(self):
        return {}


class MeanAbsoluteError(MeanSquaredError):
    """l = |y - y^|, averaged over every element."""
    name = "mean_absolute_error"

    def call(self, y_true, y_pred):
        return F.l1_loss(y_pred, _target(y_true, y_pred).reshape(*y_pred.shape))


_BY_NAME = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
}


class _Function(Loss):
    """A user callable ``fn(y_true, y_pred) -> Tensor`` used as a loss."""

    def __init__(self, fn):
        super().__init__(False)
        self.fn = fn
        self.name = getattr(fn, "__name__", "loss")

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred)


def get(identifier):
    """A Loss from a name ("sparse_categorical_crossentropy", "mse", ...), a Loss, or a callable."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(f"unknown loss {identifier!r}; choose one of {sorted(_BY_NAME)} or pass a callable")
        return _BY_NAME[identifier]()
    if callable(identifier):
        return _Function(identifier)
    raise TypeError(f"loss must be a name, a Loss or a callable, got {type(identifier).__name__}")
