"""Metrics that ``compile(metrics=[...])`` accepts, evaluated per batch on NumPy arrays.

Each metric maps (y_true, y_pred) to a batch mean; ``fit``/``evaluate`` average
the batch values weighted by batch size. ``y_pred`` may be the logits of a
fused softmax/sigmoid output: arg-max is unchanged by softmax, and a sigmoid
probability exceeds 0.5 exactly when its logit exceeds 0, so the model
passes ``threshold=0`` in that case.
"""
import numpy as np

from .. import metrics as _m

__all__ = ["get"]


def _sparse_accuracy(y_true, y_pred, threshold):
    return float((y_pred.argmax(axis=-1) == y_true.reshape(y_pred.shape[:-1])).mean())


def _categorical_accuracy(y_true, y_pred, threshold):
    return float((y_pred.argmax(axis=-1) == y_true.argmax(axis=-1)).mean())


def _binary_accuracy(y_true, y_pred, threshold):
    return float(((y_pred > threshold) == (y_true.reshape(y_pred.shape) > 0.5)).mean())


def _top5(y_true, y_pred, threshold):
    return _m.top_k_accuracy(y_true.reshape(-1), y_pred.reshape(-1, y_pred.shape[-1]), k=min(5, y_pred.shape[-1]))


def _mse(y_true, y_pred, threshold):
    return float(((y_pred - y_true.reshape(y_pred.shape)) ** 2).mean())


def _mae(y_true, y_pred, threshold):
    return float(np.abs(y_pred - y_true.reshape(y_pred.shape)).mean())


_FIXED = {
    "sparse_categorical_accuracy": _sparse_accuracy,
    "categorical_accuracy": _categorical_accuracy,
    "binary_accuracy": _binary_accuracy,
    "sparse_top_k_categorical_accuracy": _top5,
    "mse": _mse, "mean_squared_error": _mse,
    "mae": _mae, "mean_absolute_error": _mae,
}


def _auto_accuracy(loss_name):
    """Keras resolves "accuracy" by the loss: sparse, categorical (one-hot) or binary."""
    def accuracy(y_true, y_pred, threshold):
        if loss_name == "binary_crossentropy" or y_pred.shape[-1] == 1:
            return _binary_accuracy(y_true, y_pred, threshold)
        if loss_name == "categorical_crossentropy" or y_true.shape == y_pred.shape:
            return _categorical_accuracy(y_true, y_pred, threshold)
        return _sparse_accuracy(y_true, y_pred, threshold)
    return accuracy


def get(identifier, loss_name):
    """(log name, fn(y_true, y_pred, threshold) -> float) for a metric name or a callable."""
    if identifier in ("accuracy", "acc"):
        return identifier, _auto_accuracy(loss_name)
    if isinstance(identifier, str):
        if identifier not in _FIXED:
            raise ValueError(f"unknown metric {identifier!r}; choose 'accuracy' or one of {sorted(_FIXED)}")
        return identifier, _FIXED[identifier]
    if callable(identifier):
        return getattr(identifier, "__name__", "metric"), lambda t, p, threshold: float(identifier(t, p))
    raise TypeError(f"metrics must be names or callables, got {type(identifier).__name__}")
