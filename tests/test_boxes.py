"""tg.boxes against a brute-force pure-Python oracle, hand-computed cases and error messages."""
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_img as tg
from tinygrad_img.boxes import batched_nms, box_area, box_convert, box_iou, clip_boxes_to_image, nms


def iou_oracle(a, b):
    """IoU of two (x1, y1, x2, y2) boxes in plain Python; 0 when the union is empty."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def nms_oracle(boxes, scores, threshold):
    """Greedy NMS by decreasing score (ties: lower index first), suppressing IoU > threshold."""
    order = sorted(range(len(boxes)), key=lambda i: (-scores[i], i))
    keep, suppressed = [], set()
    for pos, i in enumerate(order):
        if i in suppressed:
            continue
        keep.append(i)
        suppressed.update(j for j in order[pos + 1:] if iou_oracle(boxes[i], boxes[j]) > threshold)
    return keep


# integer corners make every IoU an exact ratio, so IoU == threshold cases really occur
box_st = st.tuples(st.integers(0, 12), st.integers(0, 12), st.integers(0, 6), st.integers(0, 6)).map(
    lambda t: [float(t[0]), float(t[1]), float(t[0] + t[2]), float(t[1] + t[3])])
boxes_st = st.lists(box_st, min_size=0, max_size=9)
threshold_st = st.sampled_from([0.0, 0.1, 0.2, 0.25, 1 / 3, 0.5, 0.7, 1.0])


def _as_array(boxes):
    return np.array(boxes, dtype=np.float64).reshape(-1, 4)


@settings(max_examples=60, deadline=None)
@given(boxes_st, boxes_st)
def test_box_iou_matches_oracle(a, b):
    got = box_iou(_as_array(a), _as_array(b))
    assert got.shape == (len(a), len(b)) and got.dtype == np.float64
    want = np.array([[iou_oracle(p, q) for q in b] for p in a]).reshape(len(a), len(b))
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)
    np.testing.assert_allclose(box_iou(_as_array(b), _as_array(a)), want.T, rtol=1e-15, atol=0)


@settings(max_examples=80, deadline=None)
@given(st.data(), boxes_st, threshold_st)
def test_nms_matches_oracle(data, boxes, threshold):
    scores = data.draw(st.lists(st.integers(0, 4), min_size=len(boxes), max_size=len(boxes)))
    got = nms(_as_array(boxes), np.array(scores, dtype=np.float64), threshold)
    assert got.dtype == np.int64
    assert got.tolist() == nms_oracle(boxes, scores, threshold)


@settings(max_examples=60, deadline=None)
@given(st.data(), boxes_st, threshold_st)
def test_batched_nms_is_the_per_class_union(data, boxes, threshold):
    n = len(boxes)
    scores = data.draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))
    labels = data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    got = batched_nms(_as_array(boxes), np.array(scores, dtype=np.float64), np.array(labels, dtype=np.int64),
                      threshold)
    union = []
    for c in set(labels):
        members = [i for i in range(n) if labels[i] == c]
        union += [members[k] for k in nms_oracle([boxes[i] for i in members], [scores[i] for i in members],
                                                 threshold)]
    assert got.tolist() == sorted(union, key=lambda i: (-scores[i], i))


def test_iou_hand_cases():
    boxes = np.array([[0, 0, 2, 2], [2, 0, 4, 2], [0, 0, 2, 2], [1, 1, 3, 3], [0, 0, 4, 4], [5, 5, 5, 5]],
                     dtype=np.float32)
    iou = box_iou(boxes, boxes)
    assert iou.dtype == np.float32
    assert iou[0, 1] == 0.0                        # touching along x = 2
    assert iou[0, 2] == 1.0                        # identical
    np.testing.assert_allclose(iou[0, 3], 1 / 7)   # overlap 1, union 4 + 4 - 1
    np.testing.assert_allclose(iou[0, 4], 4 / 16)  # contained
    assert iou[5, 5] == 0.0 and not np.isnan(iou).any()   # zero-area box: empty union gives 0
    np.testing.assert_array_equal(np.diag(iou)[:5], 1.0)
    np.testing.assert_array_equal(box_area(boxes), [4, 4, 4, 4, 16, 0])
    ints = box_iou(np.array([[0, 0, 2, 2]]), np.array([[1, 1, 3, 3]]))
    assert ints.dtype == np.float64 and ints[0, 0] == 1 / 7


def test_nms_ties_threshold_and_empty():
    same = np.array([[0, 0, 2, 2]] * 3, dtype=np.float32)
    assert nms(same, np.array([0.5, 0.5, 0.5]), 0.5).tolist() == [0]       # ties: lowest index wins
    assert nms(same, np.array([0.5, 0.9, 0.9]), 0.5).tolist() == [1]
    assert nms(same, np.array([0.5, 0.5, 0.5]), 1.0).tolist() == [0, 1, 2]  # IoU 1 is not > 1
    half = np.array([[0, 0, 2, 1], [0, 0, 1, 1]], dtype=np.float64)          # IoU exactly 0.5
    assert nms(half, np.array([0.2, 0.8]), 0.5).tolist() == [1, 0]          # not suppressed: strict >
    assert nms(half, np.array([0.2, 0.8]), 0.49).tolist() == [1]
    touching = np.array([[0, 0, 1, 1], [1, 0, 2, 1]], dtype=np.float64)
    assert nms(touching, np.array([1.0, 2.0]), 0.0).tolist() == [1, 0]       # IoU 0 is not > 0
    empty = np.zeros((0, 4), dtype=np.float32)
    for got in (nms(empty, np.zeros(0), 0.5), batched_nms(empty, np.zeros(0), np.zeros(0, dtype=np.int64), 0.5)):
        assert got.shape == (0,) and got.dtype == np.int64
    assert box_iou(empty, same).shape == (0, 3) and box_area(empty).shape == (0,)


def test_batched_nms_keeps_other_classes():
    boxes = np.array([[0, 0, 2, 2], [0, 0, 2, 2], [0, 0, 2, 2], [10, 10, 12, 12]], dtype=np.float32)
    scores = np.array([0.9, 0.8, 0.95, 0.1])
    assert batched_nms(boxes, scores, np.array([0, 0, 1, 0]), 0.5).tolist() == [2, 0, 3]
    assert nms(boxes, scores, 0.5).tolist() == [2, 3]


def test_box_convert_values_round_trips_and_gradient():
    xyxy = np.array([[1.0, 2.0, 5.0, 8.0], [0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(box_convert(xyxy, "xyxy", "xywh"), [[1, 2, 4, 6], [0, 0, 0, 0]])
    np.testing.assert_array_equal(box_convert(xyxy, "xyxy", "cxcywh"), [[3, 5, 4, 6], [0, 0, 0, 0]])
    rng = np.random.default_rng(0)
    b = np.concatenate([rng.uniform(0, 10, (5, 2)), rng.uniform(10, 20, (5, 2))], axis=1)
    fmts = ("xyxy", "xywh", "cxcywh")
    for src in fmts:
        for dst in fmts:
            there = box_convert(box_convert(b, "xyxy", src), src, dst)
            np.testing.assert_allclose(box_convert(there, dst, "xyxy"), b, rtol=1e-12, atol=1e-12)
    batched = box_convert(b.reshape(5, 1, 4), "xyxy", "cxcywh")
    assert batched.shape == (5, 1, 4)
    assert box_convert(np.array([[0, 0, 3, 3]]), "xyxy", "cxcywh").tolist() == [[1.5, 1.5, 3.0, 3.0]]
    t = tg.Tensor(b, dtype="float64", requires_grad=True)
    out = box_convert(t, "xywh", "cxcywh")
    assert isinstance(out, tg.Tensor) and out.shape == (5, 4)
    weights = tg.Tensor(rng.normal(size=4), dtype="float64")
    assert tg.gradcheck(lambda x: box_convert(x, "cxcywh", "xywh") * weights, [t])


def test_clip_boxes_to_image():
    boxes = np.array([[-3.0, -1.0, 5.0, 12.0], [2.0, 3.0, 4.0, 5.0]], dtype=np.float32)
    clipped = clip_boxes_to_image(boxes, (10, 4))   # (height, width)
    assert clipped.dtype == np.float32
    np.testing.assert_array_equal(clipped, [[0, 0, 4, 10], [2, 3, 4, 5]])
    t = clip_boxes_to_image(tg.Tensor(boxes), (10, 4))
    assert isinstance(t, tg.Tensor)
    np.testing.assert_array_equal(t.numpy(), clipped)


def test_tensor_inputs_give_tensors():
    boxes = tg.Tensor([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 3.0]])
    iou = box_iou(boxes, boxes)
    assert isinstance(iou, tg.Tensor) and iou.shape == (2, 2)
    kept = nms(boxes, tg.Tensor([0.3, 0.6]), 0.1)
    assert isinstance(kept, tg.Tensor) and kept.tolist() == [1]
    assert isinstance(box_area(boxes), tg.Tensor) and box_area(boxes).tolist() == [4.0, 4.0]
    assert tg.boxes.nms is nms


def test_errors_name_the_problem():
    good = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 2.0, 2.0]])
    with pytest.raises(ValueError, match=r"box_iou: boxes2 must have shape \(N, 4\), got \(2, 3\)"):
        box_iou(good, good[:, :3])
    with pytest.raises(ValueError, match=r"nms: boxes has 1 degenerate box.*index 1: \[3.0, 0.0, 2.0, 2.0\]"):
        nms(np.array([[0.0, 0.0, 1.0, 1.0], [3.0, 0.0, 2.0, 2.0]]), np.ones(2), 0.5)
    with pytest.raises(ValueError, match="box_area: boxes has 1 degenerate"):
        box_area(np.array([[0.0, 0.0, 1.0, np.nan]]))
    with pytest.raises(ValueError, match=r"nms: scores must have shape \(2,\)"):
        nms(good, np.ones(3), 0.5)
    with pytest.raises(ValueError, match="NaN"):
        nms(good, np.array([0.1, np.nan]), 0.5)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="iou_threshold must be a number in"):
            nms(good, np.ones(2), bad)
    with pytest.raises(ValueError, match=r"batched_nms: idxs must have shape \(2,\)"):
        batched_nms(good, np.ones(2), np.zeros(3, dtype=np.int64), 0.5)
    with pytest.raises(ValueError, match="integer category labels"):
        batched_nms(good, np.ones(2), np.zeros(2), 0.5)
    with pytest.raises(ValueError, match="formats must be one of"):
        box_convert(good, "xyxy", "yxyx")
    with pytest.raises(ValueError, match=r"box_convert: boxes must have shape \(\.\.\., 4\)"):
        box_convert(np.zeros((2, 5)), "xyxy", "xywh")
    with pytest.raises(ValueError, match="size must be"):
        clip_boxes_to_image(good, (10,))


@pytest.mark.parametrize("bad", [None, "a", "0.5", True, float("inf")])
def test_non_numeric_iou_threshold_is_refused_by_name(bad):
    good = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 2.0, 2.0]])
    got = re.escape(repr(bad))
    with pytest.raises(ValueError, match=rf"^nms: iou_threshold must be a number in \[0, 1\], got {got}$"):
        nms(good, np.ones(2), bad)
    with pytest.raises(ValueError, match=rf"^batched_nms: iou_threshold .*got {got}$"):
        batched_nms(good, np.ones(2), np.zeros(2, dtype=np.int64), bad)


@pytest.mark.parametrize("bad", [None, 5, "ab", (10, None), (10, "a"), (-1, 4), (10, float("nan"))])
def test_bad_image_size_is_refused_by_name(bad):
    with pytest.raises(ValueError, match=rf"^clip_boxes_to_image: size must be a \(height, width\) pair.*"
                                         rf"got {re.escape(repr(bad))}$"):
        clip_boxes_to_image(np.array([[0.0, 0.0, 1.0, 1.0]]), bad)


def test_image_size_may_be_any_pair_of_numbers():
    boxes = np.array([[-1.0, 2.0, 30.0, 40.0]])
    expected = [[0.0, 2.0, 10.0, 15.0]]
    for size in ((15, 10), [15.0, 10.0], np.array([15, 10])):
        np.testing.assert_array_equal(clip_boxes_to_image(boxes, size), expected)


@pytest.mark.gpu
def test_cuda_tensors_match_cpu():
    rng = np.random.default_rng(3)
    corners = rng.uniform(0, 20, (40, 2))
    boxes = np.concatenate([corners, corners + rng.uniform(0, 8, (40, 2))], axis=1).astype(np.float32)
    scores, labels = rng.uniform(size=40).astype(np.float32), rng.integers(0, 3, 40)
    gb, gs, gl = (tg.Tensor(a, dtype=a.dtype, device="cuda") for a in (boxes, scores, labels))
    np.testing.assert_allclose(box_iou(gb, gb).numpy(), box_iou(boxes, boxes), rtol=1e-6)
    assert nms(gb, gs, 0.3).device == "cuda"
    assert nms(gb, gs, 0.3).tolist() == nms(boxes, scores, 0.3).tolist()
    assert batched_nms(gb, gs, gl, 0.3).tolist() == batched_nms(boxes, scores, labels, 0.3).tolist()
    np.testing.assert_allclose(box_convert(gb, "xyxy", "cxcywh").numpy(), box_convert(boxes, "xyxy", "cxcywh"))
    np.testing.assert_array_equal(clip_boxes_to_image(gb, (15, 10)).numpy(), clip_boxes_to_image(boxes, (15, 10)))
