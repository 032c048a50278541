"""Metrics that ``compile(metrics=[...])`` accepts, evaluated per batch where the outputs live.

Each metric maps (y_true, y_pred) to a batch mean; ``fit``/``evaluate`` average
the batch values weighted by batch size. The built-in metrics run on the raw
NumPy or CuPy arrays and return one Python float, so only that scalar leaves
the GPU; a custom callable gets NumPy copies.

With a fused softmax/sigmoid output (see ``training``) the model holds logits.
Metrics that read the values themselves (mse, mae, custom ones) are marked
``needs_probs`` and get the probabilities, computed from the logits without
a gradient. The accuracies take the logits as they are: arg-max and top-k are
unchanged by softmax, and a sigmoid probability exceeds 0.5 exactly when its
logit exceeds 0, so the model passes ``threshold=0`` in that case.
"""
from .. import backend
from ..metrics import to_numpy

__all__ = ["Metric", "get"]


class Metric:
    """A compiled metric: ``fn(y_true, y_pred, threshold) -> float`` logged as ``name``;
    ``needs_probs`` asks for probabilities rather than the logits of a fused output."""

    def __init__(self, name, fn, needs_probs):
        self.name, self.fn, self.needs_probs = name, fn, needs_probs

    def __call__(self, y_true, y_pred, threshold):
        return self.fn(y_true, y_pred, threshold)


def _sparse_accuracy(y_true, y_pred, threshold):
    return float((y_pred.argmax(axis=-1) == y_true.reshape(y_pred.shape[:-1])).mean())


def _categorical_accuracy(y_true, y_pred, threshold):
    return float((y_pred.argmax(axis=-1) == y_true.argmax(axis=-1)).mean())


def _binary_accuracy(y_true, y_pred, threshold):
    return float(((y_pred > threshold) == (y_true.reshape(y_pred.shape) > 0.5)).mean())


def _top5(y_true, y_pred, threshold):
    """Sample i is a hit when fewer than k = min(5, C) classes score strictly above its true
    class (ties count as hits, as in Keras' in_top_k)."""
    xp = backend.get_array_module(y_pred)
    scores = y_pred.reshape(-1, y_pred.shape[-1])
    labels = y_true.reshape(-1, 1).astype("int64")
    true_score = xp.take_along_axis(scores, labels, axis=1)
    return float(((scores > true_score).sum(axis=1) < min(5, scores.shape[1])).mean())


def _mse(y_true, y_pred, threshold):
    return float(((y_pred - y_true.reshape(y_pred.shape)) ** 2).mean())


def _mae(y_true, y_pred, threshold):
    return float(abs(y_pred - y_true.reshape(y_pred.shape)).mean())


_FIXED = {
    "sparse_categorical_accuracy": (_sparse_accuracy, False),
    "categorical_accuracy": (_categorical_accuracy, False),
    "binary_accuracy": (_binary_accuracy, False),
    "sparse_top_k_categorical_accuracy": (_top5, False),
    "mse": (_mse, True), "mean_squared_error": (_mse, True),
    "mae": (_mae, True), "mean_absolute_error": (_mae, True),
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


def _custom(fn):
    return lambda y_true, y_pred, threshold: float(fn(to_numpy(y_true), to_numpy(y_pred)))


def get(identifier, loss_name):
    """The Metric for a name ("accuracy", "mse", ...) or a callable ``fn(y_true, y_pred)``."""
    if identifier in ("accuracy", "acc"):
        return Metric(identifier, _auto_accuracy(loss_name), False)
    if isinstance(identifier, str):
        if identifier not in _FIXED:
            raise ValueError(f"unknown metric {identifier!r}; choose 'accuracy' or one of {sorted(_FIXED)}")
        return Metric(identifier, *_FIXED[identifier])
    if callable(identifier):
        return Metric(getattr(identifier, "__name__", "metric"), _custom(identifier), True)
    raise TypeError(f"metrics must be names or callables, got {type(identifier).__name__}")
