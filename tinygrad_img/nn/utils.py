"""Gradient clipping (``tg.nn.utils``).

Both functions give each parameter a NEW gradient array instead of scaling the
old one in place: a gradient array may be shared with another tensor.
"""
import math

from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _with_grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients by min(1, max_norm / (total_norm + 1e-6)), where total_norm is the
    ``norm_type``-norm of all gradients together (``inf`` for the max-abs norm).

    Returns the total norm (before clipping) as a Python float.
    """
    params = _with_grads(parameters)
    if not params:
        return 0.0
    norm_type = float(norm_type)
    if math.isinf(norm_type):
        total = max(float(abs(p.grad.data).max()) if p.grad.size else 0.0 for p in params)
    else:
        total = sum(float((abs(p.grad.data.astype("float64")) ** norm_type).sum()) for p in params)
        total = total ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} is {total}; "
                           "pass error_if_nonfinite=False to clip anyway")
    coef = float(max_norm) / (total + 1e-6)
    if coef < 1.0:
        for p in params:
            p.grad = Tensor._from_op(p.grad.data * coef, None, 0)
    return total


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient element into [-clip_value, clip_value]."""
    c = float(clip_value)
    for p in _with_grads(parameters):
        p.grad = Tensor._from_op(p.xp.clip(p.grad.data, -c, c), None, 0)
