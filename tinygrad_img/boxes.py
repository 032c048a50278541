"""Bounding-box operations for detection (R-CNN / YOLO post-processing), as ``torchvision.ops``.

Boxes are (N, 4) arrays of corners (x1, y1, x2, y2) with x1 <= x2 and y1 <= y2 (format "xyxy")
unless a function says otherwise; inputs may be NumPy or CuPy arrays, Tensors or lists, and
results come back as the input's kind (a Tensor input gives a Tensor on its device).
  area(b)     = (x2 - x1) (y2 - y1)
  IoU(a, b)   = |a n b| / |a u b| = inter / (area(a) + area(b) - inter),
  inter       = max(0, min(a.x2, b.x2) - max(a.x1, b.x1)) * max(0, min(a.y2, b.y2) - max(a.y1, b.y1)),
so boxes that only touch have IoU 0 and identical boxes IoU 1; where the union is 0 (two
zero-area boxes) IoU is 0, where torchvision gives NaN. Integer boxes are compared in float64.
Only ``box_convert`` and ``clip_boxes_to_image`` record gradients (for Tensor inputs).
"""
import math
from numbers import Real

import numpy as np

from .backend import get_array_module, stable_argsort
from .data.dataset import as_array
from .tensor import Tensor
from .tensor_functions import stack

__all__ = ["FORMATS", "batched_nms", "box_area", "box_convert", "box_iou", "clip_boxes_to_image", "nms"]

FORMATS = ("xyxy", "xywh", "cxcywh")


def _like(result, template):
    """``result`` as a Tensor when ``template`` is one, else the raw array."""
    return Tensor(result, dtype=result.dtype) if isinstance(template, Tensor) else result


def _boxes(x, fn, name="boxes"):
    """(N, 4) box array whose every box satisfies x1 <= x2 and y1 <= y2 (no NaN)."""
    b = as_array(x)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"{fn}: {name} must have shape (N, 4), got {tuple(b.shape)}")
    if len(b):
        bad = ~((b[:, 2] >= b[:, 0]) & (b[:, 3] >= b[:, 1]))
        if bool(bad.any()):
            first = int(get_array_module(bad).flatnonzero(bad)[0])
            raise ValueError(f"{fn}: {name} has {int(bad.sum())} degenerate box(es) with x2 < x1 or y2 < y1 "
                             f"(or NaN); the first is index {first}: {b[first].tolist()}")
    return b


def _float(b):
    return b if b.dtype.kind == "f" else b.astype(np.float64)


def _area(b):
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def box_area(boxes):
    """(N,) areas (x2 - x1) (y2 - y1) of (N, 4) xyxy boxes."""
    return _like(_area(_boxes(boxes, "box_area")), boxes)


def _iou(a, b):
    """(N, M) IoU of raw float xyxy arrays; 0 where the union is 0."""
    xp = get_array_module(a, b)
    lt = xp.maximum(a[:, None, :2], b[None, :, :2])
    rb = xp.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = xp.maximum(rb - lt, 0)
    inter = wh[..., 0] * wh[..., 1]
    union = _area(a)[:, None] + _area(b)[None, :] - inter
    return xp.where(union > 0, inter / xp.where(union > 0, union, 1), 0).astype(a.dtype)


def box_iou(boxes1, boxes2):
    """(N, M) matrix of IoU(boxes1[i], boxes2[j]) for (N, 4) and (M, 4) xyxy boxes."""
    a, b = _float(_boxes(boxes1, "box_iou", "boxes1")), _float(_boxes(boxes2, "box_iou", "boxes2"))
    if a.dtype != b.dtype:
        a, b = a.astype(np.float64), b.astype(np.float64)
    return _like(_iou(a, b), boxes1)


def box_convert(boxes, in_fmt, out_fmt):
    """Convert (..., 4) boxes between "xyxy" (corners), "xywh" (top-left corner, width, height) and
    "cxcywh" (centre, width, height): x2 = x1 + w, cx = (x1 + x2) / 2, x1 = cx - w / 2 (same for y)."""
    for fmt in (in_fmt, out_fmt):
        if fmt not in FORMATS:
            raise ValueError(f"box_convert: formats must be one of {FORMATS}, got {fmt!r}")
    b = boxes if isinstance(boxes, Tensor) else as_array(boxes)
    if b.ndim < 1 or b.shape[-1] != 4:
        raise ValueError(f"box_convert: boxes must have shape (..., 4), got {tuple(b.shape)}")
    if not isinstance(b, Tensor) and b.dtype.kind != "f":
        b = b.astype(np.float64)
    if in_fmt == out_fmt:
        return b * 1
    p, q, r, s = (b[..., i] for i in range(4))
    if in_fmt == "xywh":
        x1, y1, x2, y2 = p, q, p + r, q + s
    elif in_fmt == "cxcywh":
        x1, y1, x2, y2 = p - r * 0.5, q - s * 0.5, p + r * 0.5, q + s * 0.5
    else:
        x1, y1, x2, y2 = p, q, r, s
    if out_fmt == "xywh":
        parts = (x1, y1, x2 - x1, y2 - y1)
    elif out_fmt == "cxcywh":
        parts = ((x1 + x2) * 0.5, (y1 + y2) * 0.5, x2 - x1, y2 - y1)
    else:
        parts = (x1, y1, x2, y2)
    if isinstance(b, Tensor):
        return stack(parts, axis=-1)
    return get_array_module(b).stack(parts, axis=-1)


def clip_boxes_to_image(boxes, size):
    """Clamp (..., 4) xyxy boxes into an image of ``size`` = (height, width):
    x1, x2 to [0, width] and y1, y2 to [0, height]."""
    try:
        pair = tuple(size)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(_is_real(v) and math.isfinite(v) and v >= 0 for v in pair):
        raise ValueError(f"clip_boxes_to_image: size must be a (height, width) pair of finite numbers >= 0, "
                         f"got {size!r}")
    height, width = (float(v) for v in pair)
    b = boxes if isinstance(boxes, Tensor) else as_array(boxes)
    if b.ndim < 1 or b.shape[-1] != 4:
        raise ValueError(f"clip_boxes_to_image: boxes must have shape (..., 4), got {tuple(b.shape)}")
    parts = [b[..., i].clip(0.0, width if i % 2 == 0 else height) for i in range(4)]
    if isinstance(b, Tensor):
        return stack(parts, axis=-1)
    return get_array_module(b).stack(parts, axis=-1)


def _scores(scores, n, fn, name="scores"):
    s = as_array(scores)
    if s.shape != (n,):
        raise ValueError(f"{fn}: {name} must have shape ({n},) to match the {n} boxes, got {tuple(s.shape)}")
    if name != "scores":
        return s
    s = _float(s)
    if n and bool(get_array_module(s).isnan(s).any()):
        raise ValueError(f"{fn}: scores contain NaN")
    return s


def _is_real(v):
    return isinstance(v, Real) and not isinstance(v, bool)


def _threshold(iou_threshold, fn):
    if not (_is_real(iou_threshold) and math.isfinite(iou_threshold) and 0.0 <= iou_threshold <= 1.0):
        raise ValueError(f"{fn}: iou_threshold must be a number in [0, 1], got {iou_threshold!r}")
    return float(iou_threshold)


def _by_score(s, candidates):
    """``candidates`` (int64 indices) ordered by decreasing s, ties by increasing index."""
    candidates = get_array_module(s).sort(candidates)
    return candidates[stable_argsort(-s[candidates])]


def _nms(b, s, threshold):
    """Greedy NMS on raw arrays: int64 indices kept, by decreasing score."""
    xp = get_array_module(b, s)
    order = _by_score(s, xp.arange(len(b), dtype=np.int64))
    keep = []
    while len(order):
        i = order[:1]
        keep.append(i)
        rest = order[1:]
        order = rest[_iou(b[i], b[rest])[0] <= threshold]
    return xp.concatenate(keep) if keep else xp.zeros(0, dtype=np.int64)


def nms(boxes, scores, iou_threshold):
    """Non-maximum suppression: visit boxes by decreasing score (ties: lower index first), keep each
    box not yet suppressed and suppress every later box whose IoU with it is > ``iou_threshold``
    (strictly). Returns the kept indices (int64), by decreasing score."""
    b = _float(_boxes(boxes, "nms"))
    s = _scores(scores, len(b), "nms")
    return _like(_nms(b, s, _threshold(iou_threshold, "nms")), boxes)


def batched_nms(boxes, scores, idxs, iou_threshold):
    """NMS within each category: boxes with different ``idxs`` (int labels, shape (N,)) never suppress
    each other. Returns the union of the per-category kept indices, by decreasing score (ties: lower
    index first)."""
    b = _float(_boxes(boxes, "batched_nms"))
    s = _scores(scores, len(b), "batched_nms")
    labels = _scores(idxs, len(b), "batched_nms", "idxs")
    if labels.dtype.kind not in "iub":
        raise ValueError(f"batched_nms: idxs must hold integer category labels, got dtype {labels.dtype}")
    threshold = _threshold(iou_threshold, "batched_nms")
    xp = get_array_module(b, s)
    kept = []
    for label in xp.unique(labels).tolist():
        members = xp.flatnonzero(labels == label).astype(np.int64)
        kept.append(members[_nms(b[members], s[members], threshold)])
    keep = xp.concatenate(kept) if kept else xp.zeros(0, dtype=np.int64)
    return _like(_by_score(s, keep), boxes)
