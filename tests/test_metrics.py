"""tinygrad_img.metrics against hand-computed values."""
import numpy as np
import pytest

import tinygrad_img as tg
from tinygrad_img import metrics

# 3 classes, 8 samples; confusion matrix by hand:
#            pred 0  1  2
#   true 0       2  1  0
#   true 1       0  2  1
#   true 2       1  0  1
Y_TRUE = np.array([0, 0, 0, 1, 1, 1, 2, 2])
Y_PRED = np.array([0, 0, 1, 1, 1, 2, 0, 2])


def test_confusion_matrix_by_hand():
    expected = np.array([[2, 1, 0], [0, 2, 1], [1, 0, 1]])
    np.testing.assert_array_equal(metrics.confusion_matrix(Y_TRUE, Y_PRED), expected)
    padded = metrics.confusion_matrix(Y_TRUE, Y_PRED, num_classes=4)
    assert padded.shape == (4, 4) and padded[3].sum() == 0 and padded[:3, :3].sum() == 8


def test_accuracy_from_labels_scores_and_tensors():
    assert metrics.accuracy(Y_TRUE, Y_PRED) == pytest.approx(5 / 8)
    scores = np.eye(3)[Y_PRED] * 2.0 + 0.1
    assert metrics.accuracy(Y_TRUE, scores) == pytest.approx(5 / 8)
    assert metrics.accuracy(tg.Tensor(Y_TRUE), tg.Tensor(scores)) == pytest.approx(5 / 8)


def test_precision_recall_f1_per_class_macro_micro():
    # precision = TP / column sum: 2/3, 2/3, 1/2 ; recall = TP / row sum: 2/3, 2/3, 1/2
    p = metrics.precision(Y_TRUE, Y_PRED, average=None)
    r = metrics.recall(Y_TRUE, Y_PRED, average=None)
    np.testing.assert_allclose(p, [2 / 3, 2 / 3, 1 / 2])
    np.testing.assert_allclose(r, [2 / 3, 2 / 3, 1 / 2])
    np.testing.assert_allclose(metrics.f1_score(Y_TRUE, Y_PRED, average=None), [2 / 3, 2 / 3, 1 / 2])
    assert metrics.precision(Y_TRUE, Y_PRED) == pytest.approx((2 / 3 + 2 / 3 + 1 / 2) / 3)
    # micro averaging pools the counts: equals accuracy for single-label data
    for fn in (metrics.precision, metrics.recall, metrics.f1_score):
        assert fn(Y_TRUE, Y_PRED, average="micro") == pytest.approx(5 / 8)


def test_f1_asymmetric_case():
    # class 0: TP=1, FP=0, FN=2 -> P=1, R=1/3, F1=0.5; class 1: TP=2, FP=2, FN=0 -> P=1/2, R=1, F1=2/3
    y_true, y_pred = np.array([0, 0, 0, 1, 1]), np.array([0, 1, 1, 1, 1])
    np.testing.assert_allclose(metrics.precision(y_true, y_pred, average=None), [1.0, 0.5])
    np.testing.assert_allclose(metrics.recall(y_true, y_pred, average=None), [1 / 3, 1.0])
    np.testing.assert_allclose(metrics.f1_score(y_true, y_pred, average=None), [0.5, 2 / 3])
    assert metrics.f1_score(y_true, y_pred) == pytest.approx((0.5 + 2 / 3) / 2)


def test_class_never_predicted_gives_zero_not_nan():
    p = metrics.precision([0, 1, 2], [0, 0, 0], average=None)
    np.testing.assert_allclose(p, [1 / 3, 0.0, 0.0])
    assert not np.isnan(metrics.f1_score([0, 1, 2], [0, 0, 0])).any()


def test_top_k_accuracy():
    scores = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.3, 0.4, 0.3], [0.6, 0.1, 0.3]])
    y = np.array([1, 2, 0, 1])
    assert metrics.top_k_accuracy(y, scores, k=1) == pytest.approx(1 / 4)
    assert metrics.top_k_accuracy(y, scores, k=2) == pytest.approx(3 / 4)
    assert metrics.top_k_accuracy(y, scores, k=3) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="k must be"):
        metrics.top_k_accuracy(y, scores, k=4)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="samples"):
        metrics.accuracy([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="average"):
        metrics.precision(Y_TRUE, Y_PRED, average="weighted-ish")
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        metrics.confusion_matrix([0, 1, 2], [0, 1, 1], num_classes=2)


def test_plot_confusion_matrix_writes_png(tmp_path):
    path = tmp_path / "cm.png"
    metrics.plot_confusion_matrix(metrics.confusion_matrix(Y_TRUE, Y_PRED), path, class_names=["a", "b", "c"])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_binary_probabilities_are_thresholded_at_one_half():
    y = [1, 0, 1, 1]
    assert metrics.accuracy(y, [[0.9], [0.1], [0.8], [0.7]]) == 1.0            # (N, 1): not an arg-max
    assert metrics.accuracy(y, np.array([0.9, 0.1, 0.8, 0.4])) == 0.75         # float (N,): not a cast
    assert metrics.accuracy(tg.Tensor(np.array(y)), tg.Tensor(np.array([[0.6], [0.5], [0.2], [1.0]]))) == 0.75
    np.testing.assert_array_equal(metrics.confusion_matrix(y, [0.9, 0.1, 0.3, 0.7]), [[1, 0], [1, 2]])
    assert metrics.accuracy([0, 2, 1], np.array([0.0, 2.0, 1.0])) == 1.0      # whole floats stay class indices


def test_non_integer_float_labels_name_the_function():
    with pytest.raises(ValueError, match=r"accuracy: y_true: class labels must be integers.*0\.5"):
        metrics.accuracy([0.5, 1.0], [0, 1])
    with pytest.raises(ValueError, match="precision: y_pred: class labels must be integers"):
        metrics.precision([0, 1], [1.5, 2.0])


def test_to_numpy_takes_tensors_arrays_and_lists():
    for value in (tg.Tensor(np.arange(3.0)), np.arange(3.0), [0.0, 1.0, 2.0]):
        out = metrics.to_numpy(value)
        assert type(out) is np.ndarray
        np.testing.assert_array_equal(out, [0.0, 1.0, 2.0])
