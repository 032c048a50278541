"""``keras.datasets``: ``digits.load_data()`` (bundled), ``mnist.load_data(path)`` and
``cifar10.load_data(path)`` (local files; nothing is downloaded).

As in Keras each returns ``(x_train, y_train), (x_test, y_test)`` with uint8
pixels 0..255 (so the articles' ``x / 255.0`` applies), images channels-last:
MNIST and digits (N, 28, 28), CIFAR-10 (N, 32, 32, 3); labels int64, shaped
(N,) for MNIST/digits and (N, 1) for CIFAR-10.
"""
from types import SimpleNamespace

from ..data import datasets as _ds

__all__ = ["digits", "mnist", "cifar10"]


def _keras_layout(splits, gray, label_column):
    out = []
    for x, y in splits:
        out.append((x[..., 0] if gray else x, y[:, None] if label_column else y))
    return tuple(out)


def _digits(size=28):
    """The bundled UCI handwritten digits (1,442 train / 355 test), resampled to size x size."""
    return _keras_layout(_ds.load_digits(size=size, channels_last=True, dtype="uint8"), True, False)


def _mnist(path):
    """MNIST from the local IDX files in the folder ``path`` (plain or .gz)."""
    return _keras_layout(_ds.load_mnist(path, channels_last=True, dtype="uint8"), True, False)


def _cifar10(path):
    """CIFAR-10 from the local python batches in ``path`` (cifar-10-batches-py or its parent)."""
    return _keras_layout(_ds.load_cifar10(path, channels_last=True, dtype="uint8"), False, True)


digits = SimpleNamespace(load_data=_digits)
mnist = SimpleNamespace(load_data=_mnist)
cifar10 = SimpleNamespace(load_data=_cifar10)
