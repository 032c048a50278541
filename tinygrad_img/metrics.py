"""Classification metrics on NumPy arrays (or Tensors, or CuPy arrays): accuracy, top-k
accuracy, precision, recall, F1 and the confusion matrix, plus a plot of the latter.

Labels are integer class indices; predictions may be indices (N,), scores
(N, C) whose arg-max is the predicted class, or binary probabilities, shape
(N, 1) or float (N,) in [0, 1], thresholded at 0.5 (class 1 when p > 0.5); other
float predictions must be whole numbers (class indices).
"""
import numpy as np

from . import backend
from .data.dataset import as_array

__all__ = ["accuracy", "top_k_accuracy", "confusion_matrix", "precision", "recall", "f1_score",
           "plot_confusion_matrix", "to_numpy"]


def to_numpy(x):
    """``x`` as a NumPy array: a Tensor's data or a CuPy array copied to the host, anything else
    through ``np.asarray``."""
    return backend.to_device(as_array(x), "cpu")


def _labels(a, name):
    arr = to_numpy(a)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-d array of class indices, got shape {arr.shape}")
    if arr.dtype.kind == "f" and not np.array_equal(arr, np.round(arr)):
        raise ValueError(f"{name}: class labels must be integers, got non-integer floats such as "
                         f"{arr[arr != np.round(arr)][0]}")
    return arr.astype(np.int64)


def _pair(y_true, y_pred, op):
    """(true indices, predicted indices): score matrices (N, C) become their arg-max, binary
    probabilities (N, 1) or float (N,) in [0, 1] become p > 0.5."""
    y_pred = to_numpy(y_pred)
    if y_pred.ndim == 2 and y_pred.shape[1] == 1:
        y_pred = y_pred[:, 0] > 0.5
    elif y_pred.ndim == 2:
        y_pred = y_pred.argmax(axis=1)
    elif y_pred.ndim == 1 and y_pred.dtype.kind == "f" and y_pred.size and 0 <= y_pred.min() <= y_pred.max() <= 1:
        y_pred = y_pred > 0.5
    t, p = _labels(y_true, f"{op}: y_true"), _labels(y_pred, f"{op}: y_pred")
    if t.shape != p.shape:
        raise ValueError(f"{op}: y_true has {t.shape[0]} samples but y_pred has {p.shape[0]}")
    return t, p


def accuracy(y_true, y_pred):
    """acc = (1/N) sum_i [y^_i == y_i]."""
    t, p = _pair(y_true, y_pred, "accuracy")
    return float((t == p).mean()) if t.size else 0.0


def top_k_accuracy(y_true, scores, k=5):
    """(1/N) sum_i [y_i is among the k highest scores of sample i]."""
    scores = to_numpy(scores)
    t = _labels(y_true, "top_k_accuracy: y_true")
    if scores.ndim != 2 or scores.shape[0] != t.shape[0]:
        raise ValueError(f"top_k_accuracy: scores must be (N, C) with N = {t.shape[0]}, got {scores.shape}")
    if not 1 <= k <= scores.shape[1]:
        raise ValueError(f"top_k_accuracy: k must be in [1, {scores.shape[1]}], got {k}")
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return float((top == t[:, None]).any(axis=1).mean()) if t.size else 0.0


def confusion_matrix(y_true, y_pred, num_classes=None):
    """M[i, j] = number of samples of true class i predicted as class j."""
    t, p = _pair(y_true, y_pred, "confusion_matrix")
    n = num_classes if num_classes is not None else int(max(t.max(initial=-1), p.max(initial=-1)) + 1)
    if t.size and (min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= n):
        raise ValueError(f"confusion_matrix: labels must lie in [0, {n}), got values "
                         f"{min(t.min(), p.min())}..{max(t.max(), p.max())}")
    m = np.zeros((n, n), dtype=np.int64)
    np.add.at(m, (t, p), 1)
    return m


def _safe_div(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.zeros_like(a), where=b != 0)


def _counts(y_true, y_pred, num_classes, op):
    m = confusion_matrix(*_pair(y_true, y_pred, op), num_classes=num_classes)
    tp = np.diag(m)
    return tp, m.sum(axis=0) - tp, m.sum(axis=1) - tp   # tp, fp, fn per class


def _average(per_class, tp, denom, average, op):
    """macro: unweighted mean over classes; micro: pooled counts; None: one value per class."""
    if average is None:
        return per_class
    if average == "macro":
        return float(per_class.mean()) if per_class.size else 0.0
    if average == "micro":
        return float(_safe_div(tp.sum(), denom.sum()))
    raise ValueError(f"{op}: average must be 'macro', 'micro' or None, got {average!r}")


def precision(y_true, y_pred, average="macro", num_classes=None):
    """P_c = TP_c / (TP_c + FP_c) (0 where a class is never predicted)."""
    tp, fp, _ = _counts(y_true, y_pred, num_classes, "precision")
    return _average(_safe_div(tp, tp + fp), tp, tp + fp, average, "precision")


def recall(y_true, y_pred, average="macro", num_classes=None):
    """R_c = TP_c / (TP_c + FN_c) (0 where a class never occurs)."""
    tp, _, fn = _counts(y_true, y_pred, num_classes, "recall")
    return _average(_safe_div(tp, tp + fn), tp, tp + fn, average, "recall")


def f1_score(y_true, y_pred, average="macro", num_classes=None):
    """F1_c = 2 P_c R_c / (P_c + R_c) = 2 TP_c / (2 TP_c + FP_c + FN_c); micro-F1 pools the counts."""
    tp, fp, fn = _counts(y_true, y_pred, num_classes, "f1_score")
    return _average(_safe_div(2 * tp, 2 * tp + fp + fn), 2 * tp, 2 * tp + fp + fn, average, "f1_score")


def plot_confusion_matrix(matrix, path, class_names=None, title="Confusion matrix", normalize=False):
    """Write the confusion matrix as a PNG heat map with the counts (or row fractions) in each cell."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"plot_confusion_matrix: expected a square matrix, got shape {m.shape}")
    shown = _safe_div(m, m.sum(axis=1, keepdims=True)) if normalize else m
    names = class_names if class_names is not None else [str(i) for i in range(m.shape[0])]
    size = max(4.0, 0.5 * m.shape[0] + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(shown, cmap="Blues")
    ax.set(xticks=range(m.shape[0]), yticks=range(m.shape[0]), xticklabels=names, yticklabels=names,
           xlabel="predicted", ylabel="true", title=title)
    top = shown.max() if shown.size else 0
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            text = f"{shown[i, j]:.2f}" if normalize else str(int(m[i, j]))
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if shown[i, j] > top / 2 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
