"""Scaled dot-product attention as one fused Function.

  S = Q K^T * scale (+ float mask);  S = -inf where a boolean mask (or causality) forbids
  P = softmax(S) over keys, max-shifted; a row with no allowed key gives P = 0 (not NaN)
  P' = P * keep / (1 - p) with dropout (keep ~ Bernoulli(1 - p) from the seeded generator)
  O = P' V

Backward: dV = P'^T dO;  dP = (dO V^T) * keep / (1 - p) (+ the gradient of returned weights);
dS = P * (dP - sum_keys(dP * P)), where sum_keys(dP * P) = rowsum(dO * O) (+ the weights' share);
dQ = scale dS K;  dK = scale dS^T Q;  d(float mask) = dS.
Leading batch dims broadcast between Q, K, V and the mask; gradients are summed back.
"""
import numpy as np

from ..autograd import Function
from ..backend import get_array_module
from .broadcast import sum_to
from .linalg import _swap


class ScaledDotProductAttention(Function):
    """forward(q (..., L, E), k (..., S, E), v (..., S, Ev), [float_mask]) -> out (..., L, Ev),
    and also the attention weights P' (..., L, S) when ``return_weights``.

    ``allowed`` is a boolean array broadcastable to (..., L, S) (True = may attend) or None;
    a float mask, when given, is the fourth input and is added to the scores.
    """
    def __init__(self, scale, allowed=None, dropout_p=0.0, generator=None, return_weights=False):
        self.scale, self.allowed, self.dropout_p = float(scale), allowed, float(dropout_p)
        self.generator, self.return_weights = generator, return_weights

    def forward(self, q, k, v, float_mask=None):
        xp = get_array_module(q)
        s = xp.matmul(q * self.scale, _swap(k))
        masks = [mk for mk in (float_mask, self.allowed) if mk is not None]
        full = np.broadcast_shapes(s.shape, *(mk.shape for mk in masks))
        if full != s.shape:  # a mask with more leading dims than q, k and v
            s = xp.broadcast_to(s, full).copy()
        if float_mask is not None:
            s += float_mask
        if self.allowed is not None:
            xp.copyto(s, -xp.inf, where=~self.allowed)
        m = s.max(axis=-1, keepdims=True)
        m[~xp.isfinite(m)] = 0
        s -= m
        p = xp.exp(s, out=s)
        z = p.sum(axis=-1, keepdims=True)
        z[z == 0] = 1
        p /= z
        self.p = p
        if self.dropout_p > 0:
            keep = self.generator.random(p.shape, dtype=p.dtype) >= self.dropout_p
            self.keep = keep.astype(p.dtype)
            self.keep *= 1 / (1 - self.dropout_p)
            p = p * self.keep
        self.q, self.k, self.v, self.pd = q, k, v, p
        self.mask_shape = None if float_mask is None else float_mask.shape
        out = self.out = xp.matmul(p, v)
        return (out, p) if self.return_weights else out

    def backward(self, g, g_weights=None):
        xp = get_array_module(g)
        need = self.needs_grad
        gv = sum_to(xp.matmul(_swap(self.pd), g), self.v.shape) if need[2] else None
        if not (need[0] or need[1] or (len(need) > 3 and need[3])):
            return (None, None, gv) + ((None,) if len(need) > 3 else ())
        # sum_j dP_ij P_ij = dO_i . O_i (as in FlashAttention), plus the returned weights' share
        rowdot = (g * self.out).sum(axis=-1, keepdims=True)
        dp = xp.matmul(g, _swap(self.v))
        if g_weights is not None:
            dp += g_weights
            rowdot += (g_weights * self.pd).sum(axis=-1, keepdims=True)
        if self.dropout_p > 0:
            dp *= self.keep
        ds = dp
        ds -= rowdot
        ds *= self.p
        gmask = (sum_to(ds, self.mask_shape),) if len(need) > 3 else ()
        if gmask and not need[3]:
            gmask = (None,)
        gq = sum_to(xp.matmul(ds, self.k) * self.scale, self.q.shape) if need[0] else None
        gk = sum_to(xp.matmul(_swap(ds), self.q * self.scale), self.k.shape) if need[1] else None
        return (gq, gk, gv) + gmask
