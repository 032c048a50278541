"""Gradient clipping (``tg.nn.utils``).

Both functions give each parameter a NEW gradient array instead of scaling the
old one in place: a gradient array may be shared with another tensor.
"""
import math

from .. import backend
from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _with_grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients by min(1, max_norm / (total_norm + 1e-6)), where total_norm is the
    ``norm_type``-norm of all gradients together (``inf`` for the max-abs norm).

    Returns the total norm (before clipping) as a Python float. Each parameter's norm is
    computed on its device in its grad's dtype; the norms are combined there too (in float64),
    so a GPU model syncs with the host once, not once per parameter.
    """
    params = _with_grads(parameters)
    if not params:
        return 0.0
    norm_type = float(norm_type)
    device = params[0].device
    xp = params[0].xp
    norms = []
    for p in params:
        g = abs(p.grad.data)
        if math.isinf(norm_type):
            n = g.max() if g.size else xp.zeros((), dtype=g.dtype)
        else:
            n = (g ** norm_type).sum() ** (1.0 / norm_type)
        norms.append(backend.to_device(n, device).astype("float64"))
    norms = xp.stack(norms)
    total = norms.max() if math.isinf(norm_type) else (norms ** norm_type).sum() ** (1.0 / norm_type)
    total = float(total)
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
