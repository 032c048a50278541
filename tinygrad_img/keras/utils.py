"""``keras.utils``: to_categorical (one-hot labels)."""
import numpy as np

__all__ = ["to_categorical"]


def to_categorical(y, num_classes=None, dtype="float32"):
    """One-hot rows: out[i, y_i] = 1. Labels of shape (N,) or (N, 1) give (N, num_classes)."""
    y = np.asarray(y, dtype=np.int64)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    num_classes = int(y.max()) + 1 if num_classes is None else int(num_classes)
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"to_categorical: labels must lie in [0, {num_classes}), got {y.min()}..{y.max()}")
    out = np.zeros((*y.shape, num_classes), dtype=dtype)
    np.put_along_axis(out, y[..., None], 1, axis=-1)
    return out
