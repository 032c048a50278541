"""Losses whose numerics need a fused forward/backward.

Cross-entropy and NLL are written as one weighted sum: for every sample
``loss_i = -sum_c A_ic * logp_ic`` where the coefficient matrix ``A`` encodes
the target (one-hot of the class index or the given probabilities), label
smoothing and class weights. Then ``d loss_i / d logp = -A_i`` and, through the
log-softmax, ``d loss_i / d logits = softmax_i * sum_c A_ic - A_i``.
"""
import numpy as np

from ..autograd import Function
from ..backend import get_array_module
from .activation import softplus, stable_log_softmax, stable_sigmoid


def _class_last(x):
    """(N, C, d1, ...) -> (N, d1, ..., C) so the class axis is last."""
    return x if x.ndim <= 2 else get_array_module(x).moveaxis(x, 1, -1)


def _class_back(x, ndim):
    return x if ndim <= 2 else get_array_module(x).moveaxis(x, -1, 1)


def target_coefficients(op, scores, target, weight, ignore_index, label_smoothing, input_shape):
    """The matrix A (class axis last) and the divisor of the mean reduction.

    ``scores`` has its class axis last; ``target`` holds class indices of the
    leading shape, or probabilities of ``scores``' shape; ``input_shape`` is the
    caller's (class axis 1) shape, for messages.
    """
    xp = get_array_module(scores)
    n_classes = scores.shape[-1]
    dtype = scores.dtype
    if weight is not None and weight.shape != (n_classes,):
        raise ValueError(f"{op}: class weight of shape {weight.shape} does not match {n_classes} classes")
    w = xp.ones(n_classes, dtype=dtype) if weight is None else weight.astype(dtype, copy=False)
    eps = float(label_smoothing)
    if target.dtype.kind in "iu":
        if target.shape != scores.shape[:-1]:
            raise ValueError(f"{op}: target of shape {target.shape} does not match input of shape "
                             f"{tuple(input_shape)}: expected class indices of shape {scores.shape[:-1]}")
        valid = target != ignore_index
        safe = xp.where(valid, target, 0)
        if xp.__name__ == "numpy" and valid.any() and (int(safe.min()) < 0 or int(safe.max()) >= n_classes):
            raise ValueError(f"{op}: target holds class indices outside [0, {n_classes}) "
                             f"(min {int(safe.min())}, max {int(safe.max())})")
        a = (safe[..., None] == xp.arange(n_classes)).astype(dtype)  # one-hot (works on CuPy too)
        a *= 1.0 - eps
        if eps:
            a += eps / n_classes
        a *= w
        a *= valid[..., None]
        if xp.__name__ != "numpy":  # checking on the host would sync every step: bad targets give NaN instead
            a += xp.where((safe < 0) | (safe >= n_classes), dtype.type("nan"), dtype.type(0))[..., None]
        denom = (w[safe] * valid).sum()
        return a, denom
    if target.shape != scores.shape:
        raise ValueError(f"{op}: probability target of shape {target.shape} must match the input "
                         f"(class axis last: {scores.shape})")
    a = target.astype(dtype, copy=False)
    if eps:
        a = a * (1.0 - eps) + eps / n_classes
    if weight is not None:
        a = a * w
    return a, max(1, scores.size // n_classes)


def _reduce(per_sample, denom, reduction):
    if reduction == "none":
        return per_sample
    if reduction == "sum":
        return per_sample.sum()
    return (per_sample.sum() / denom).astype(per_sample.dtype)


class WeightedNLL(Function):
    """loss_i = -sum_c A_ic * s_ic where s = log_softmax(logits) (``fused=True``) or the given
    log-probabilities.  ds = -A (NLL) or softmax * sum_c A - A (fused cross-entropy)."""
    def __init__(self, target, weight, ignore_index, label_smoothing, reduction, fused, op):
        self.target, self.weight, self.ignore_index = target, weight, ignore_index
        self.label_smoothing, self.reduction, self.fused, self.op = label_smoothing, reduction, fused, op

    def forward(self, x):
        if self.reduction not in ("mean", "sum", "none"):
            raise ValueError(f"{self.op}: reduction must be 'mean', 'sum' or 'none', got {self.reduction!r}")
        if x.ndim < 1:
            raise ValueError(f"{self.op}: input must have a class axis, got shape {x.shape}")
        self.ndim = x.ndim
        scores = _class_last(x)
        if self.fused:
            scores = stable_log_softmax(scores, -1)
        self.logp = scores
        target = self.target if self.target.dtype.kind in "iu" else _class_last(self.target)
        self.a, self.denom = target_coefficients(self.op, scores, target, self.weight,
                                                 self.ignore_index, self.label_smoothing, x.shape)
        self.target = self.weight = None
        per_sample = -(self.a * scores).sum(axis=-1)
        return _reduce(per_sample, self.denom, self.reduction)

    def backward(self, g):
        xp = get_array_module(g)
        if self.reduction == "mean":
            g = g / self.denom
        if self.reduction != "none":
            g = xp.broadcast_to(g, self.a.shape[:-1])
        g = g.astype(self.a.dtype, copy=False)[..., None]
        if self.fused:
            gx = (xp.exp(self.logp) * self.a.sum(axis=-1, keepdims=True) - self.a) * g
        else:
            gx = -self.a * g
        return _class_back(gx, self.ndim)


class BCEWithLogits(Function):
    """l = (1 - t) x + c * softplus(-x),  c = 1 + (pos_weight - 1) t  (stable for any x);
    dl/dx = (1 - t) - c * sigmoid(-x);  dl/dt = -x + (pos_weight - 1) softplus(-x)."""
    def __init__(self, pos_weight):
        self.pos_weight = pos_weight

    def forward(self, x, t):
        if x.shape != t.shape:
            raise ValueError(f"binary_cross_entropy_with_logits: target shape {t.shape} "
                             f"differs from input shape {x.shape}")
        self.x, self.t = x, t
        self.softplus = softplus(-x)
        pw = 1 if self.pos_weight is None else self.pos_weight
        self.c = 1 + (pw - 1) * t
        return (1 - t) * x + self.c * self.softplus

    def backward(self, g):
        gx = g * ((1 - self.t) - self.c * stable_sigmoid(-self.x)) if self.needs_grad[0] else None
        gt = None
        if self.needs_grad[1]:
            pw = 1 if self.pos_weight is None else self.pos_weight
            gt = g * (-self.x + (pw - 1) * self.softplus)
        return gx, gt


class BinaryCrossEntropy(Function):
    """l = -(t max(log p, -100) + (1 - t) max(log(1 - p), -100)) (PyTorch's clamp, so p = 0 or 1
    stays finite);  dl/dp = (p - t) / max(p (1 - p), 1e-12);
    dl/dt = max(log(1 - p), -100) - max(log p, -100) (the derivative of this clamped loss: finite
    where PyTorch's unclamped target gradient is +-inf at p = 0 or 1)."""
    def forward(self, p, t):
        xp = get_array_module(p)
        with np.errstate(divide="ignore"):  # log 0 = -inf, clamped next (CuPy never warns)
            self.log_p = xp.maximum(xp.log(p), -100.0)
            self.log_q = xp.maximum(xp.log1p(-p), -100.0)
        self.p, self.t = p, t
        return -(t * self.log_p + (1 - t) * self.log_q)

    def backward(self, g):
        xp = get_array_module(g)
        p = self.p
        gp = g * (p - self.t) / xp.maximum(p * (1 - p), 1e-12) if self.needs_grad[0] else None
        gt = g * (self.log_q - self.log_p) if self.needs_grad[1] else None
        return gp, gt
