"""Sequence ops: recurrent cells, whole-sequence recurrences and scaled dot-product attention.

Shapes and gate layouts are PyTorch's (``ops/rnn.py`` states every formula); the GRU is the
articles' variant, whose differences from PyTorch and Keras :func:`gru_cell` spells out.
"""
import math

import numpy as np

from .. import random
from ..ops.attention import ScaledDotProductAttention
from ..ops.rnn import GATES, Cell, Recurrence
from ..tensor import Tensor, as_tensor

__all__ = ["rnn_cell", "lstm_cell", "gru_cell", "recurrence", "scaled_dot_product_attention"]


def _check_weights(op, gates, x_features, w_ih, w_hh, b_ih, b_hh, w_hr=None):
    """Validate W_ih (G*H, I), W_hh (G*H, H) (or (G*H, P) with a projection W_hr (P, H)) and the
    biases; return H."""
    if w_hr is not None:
        if w_hr.ndim != 2 or w_hh.ndim != 2 or w_hh.shape != (gates * w_hr.shape[1], w_hr.shape[0]):
            raise ValueError(f"{op}: with w_hr of shape {w_hr.shape} (proj_size, H), w_hh must have shape "
                             f"({gates}*H, proj_size), got {w_hh.shape}")
    elif w_hh.ndim != 2 or w_hh.shape[0] != gates * w_hh.shape[1]:
        raise ValueError(f"{op}: w_hh must have shape ({gates}*H, H), got {w_hh.shape}")
    H = w_hh.shape[0] // gates
    if w_ih.ndim != 2 or w_ih.shape[0] != gates * H:
        raise ValueError(f"{op}: w_ih of shape {w_ih.shape} does not match hidden size {H} "
                         f"(expected ({gates * H}, input_size))")
    if w_ih.shape[1] != x_features:
        raise ValueError(f"{op}: input has {x_features} features but w_ih of shape {w_ih.shape} "
                         f"expects {w_ih.shape[1]}")
    for name, b in (("b_ih", b_ih), ("b_hh", b_hh)):
        if b is not None and b.shape != (gates * H,):
            raise ValueError(f"{op}: {name} has shape {b.shape}, expected ({gates * H},)")
    return H


def _check_state(op, name, s, batch, H):
    if s.shape != (batch, H):
        raise ValueError(f"{op}: {name} has shape {s.shape} but batch {batch} and hidden size {H} "
                         f"need ({batch}, {H})")


def _check_dtypes(op, named):
    """Every float input of one op must share a dtype (gradients come back in each input's dtype)."""
    dtypes = {name: t.dtype for name, t in named if t is not None}
    if len(set(dtypes.values())) > 1:
        listed = ", ".join(f"{n} {d}" for n, d in dtypes.items())
        raise ValueError(f"{op}: inputs must share one float dtype, got {listed}; convert with "
                         f".astype() or module.to(dtype=...)")


def _run(fn, op, mode, x, states, w_ih, w_hh, b_ih, b_hh):
    x, w_ih, w_hh, b_ih, b_hh = (as_tensor(t) for t in (x, w_ih, w_hh, b_ih, b_hh))
    states = [(name, as_tensor(s)) for name, s in states]
    if x.ndim != 2:
        raise ValueError(f"{op}: input must be (batch, features), got shape {x.shape}")
    H = _check_weights(op, GATES[mode], x.shape[1], w_ih, w_hh, b_ih, b_hh)
    for name, s in states:
        _check_state(op, name, s, x.shape[0], H)
    _check_dtypes(op, [("x", x)] + states + [("w_ih", w_ih), ("w_hh", w_hh), ("b_ih", b_ih), ("b_hh", b_hh)])
    biases = tuple(b for b in (b_ih, b_hh) if b is not None)
    return fn(x, *(s for _, s in states), w_ih, w_hh, *biases)


def rnn_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), act = tanh or relu (the articles'
    h_t = tanh(W [h_{t-1}, x_t] + b) with W split into W_ih and W_hh)."""
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"rnn_cell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    mode = "rnn_" + nonlinearity
    return _run(Cell(mode), "rnn_cell", mode, x, [("h", h)], w_ih, w_hh, b_ih, b_hh)


def lstm_cell(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
    """(h', c') with gates [i, f, g, o] = x W_ih^T + b_ih + h W_hh^T + b_hh (PyTorch's order),
    i, f, o = sigmoid, g = C~ = tanh;  c' = f * c + i * g;  h' = o * tanh(c')."""
    return _run(Cell("lstm"), "lstm_cell", "lstm", x, [("h", h), ("c", c)], w_ih, w_hh, b_ih, b_hh)


def gru_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """The articles' GRU, gate blocks r, z, n in w_ih (3H, I) and w_hh (3H, H):

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr),  z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)       reset applied BEFORE the matmul
        h' = (1 - z) * h + z * n                             z weights the NEW candidate

    PyTorch's nn.GRU (same r, z, n layout):
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn));  h' = (1 - z) * n + z * h
    Keras's GRU (kernel blocks z, r, h; default reset_after=True):
        hh = tanh(W_h x + b_h + r * (U_h h + b_rh));    h' = z * h + (1 - z) * hh
      and with reset_after=False: hh = tanh(W_h x + U_h (r * h) + b_h), the same update.
    So the reset placement matches Keras's reset_after=False, and both frameworks put z on the
    old state: weights copied from either do not reproduce their outputs here.
    """
    return _run(Cell("gru"), "gru_cell", "gru", x, [("h", h)], w_ih, w_hh, b_ih, b_hh)


def recurrence(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, c0=None, mode="lstm", reverse=False, lengths=None,
               w_hr=None):
    """Run one recurrent layer direction over a time-major sequence x (T, B, I).

    Returns (out (T, B, H), h_n) or, for mode "lstm", (out, h_n, c_n). ``mode`` is one of
    "rnn_tanh", "rnn_relu", "lstm", "gru"; ``reverse`` walks t = T-1 .. 0; ``lengths`` (B ints)
    marks padded steps t >= lengths[b], which keep the state and output zeros. ``w_hr``
    (P, H), lstm only, projects the state: h_t = W_hr (o_t * tanh(c_t)), so w_hh is (4H, P),
    h0, out and h_n have P features and c0, c_n keep H (PyTorch's proj_size).
    """
    if mode not in GATES:
        raise ValueError(f"recurrence: mode must be one of {sorted(GATES)}, got {mode!r}")
    if w_hr is not None and mode != "lstm":
        raise ValueError(f"recurrence: w_hr (a projection) needs mode 'lstm', got {mode!r}")
    x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr = (as_tensor(t) for t in (x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr))
    if x.ndim != 3:
        raise ValueError(f"recurrence: input must be (time, batch, features), got shape {x.shape}")
    T, B, _ = x.shape
    H = _check_weights("recurrence", GATES[mode], x.shape[2], w_ih, w_hh, b_ih, b_hh, w_hr)
    states = [h0] + ([c0] if mode == "lstm" else [])
    for name, s, size in zip(("h0", "c0"), states, (w_hh.shape[1], H)):
        if s is None:
            raise ValueError(f"recurrence: mode {mode!r} needs {name} (B, H) = ({B}, {size}), got None "
                             f"(pass zeros for a fresh state)")
        _check_state("recurrence", name, s, B, size)
    _check_dtypes("recurrence", [("x", x), ("h0", h0), ("c0", c0), ("w_ih", w_ih), ("w_hh", w_hh),
                                 ("w_hr", w_hr), ("b_ih", b_ih), ("b_hh", b_hh)])
    if lengths is not None:
        lengths = np.asarray(lengths.numpy() if isinstance(lengths, Tensor) else lengths).astype(np.int64)
        if lengths.shape != (B,) or (lengths < 1).any() or (lengths > T).any():
            raise ValueError(f"recurrence: lengths must be {B} integers in [1, {T}], got {lengths.tolist()}")
    weights = tuple(w for w in (w_ih, w_hh, w_hr, b_ih, b_hh) if w is not None)
    return Recurrence(mode, reverse, lengths, proj=w_hr is not None)(x, *states, *weights)


def _allowed_mask(attn_mask, is_causal, L, S, xp):
    """The boolean 'may attend' mask from a bool attn_mask and/or causality (None when neither)."""
    allowed = None
    if attn_mask is not None and attn_mask.dtype == np.bool_:
        allowed = attn_mask.data
    if is_causal:
        causal = xp.tril(xp.ones((L, S), dtype=bool))
        allowed = causal if allowed is None else allowed & causal
    return allowed


def scaled_dot_product_attention(q, k, v, attn_mask=None, is_causal=False, dropout_p=0.0, scale=None,
                                 return_weights=False):
    """softmax(Q K^T * scale + mask) V with scale = 1 / sqrt(E) by default.

    q (..., L, E), k (..., S, E), v (..., S, Ev) with broadcastable leading dims. ``attn_mask``
    broadcasts to (..., L, S): boolean (True = may attend) or float (added to the scores, may
    carry -inf and a gradient). ``is_causal`` lets query i see keys j <= i (combined with a mask
    when both are given). ``dropout_p`` drops attention weights with the seeded generator.
    A query with no allowed key gets zero output and finite (zero) gradients. With
    ``return_weights`` the result is (out, weights (..., L, S)).
    """
    q, k, v = as_tensor(q), as_tensor(k), as_tensor(v)
    op = "scaled_dot_product_attention"
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(f"{op}: q, k, v need at least 2 dims, got {q.shape}, {k.shape}, {v.shape}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"{op}: query dim {q.shape[-1]} != key dim {k.shape[-1]} "
                         f"(q {q.shape}, k {k.shape})")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{op}: key has {k.shape[-2]} positions but value has {v.shape[-2]} "
                         f"(k {k.shape}, v {v.shape})")
    _check_dtypes(op, [("q", q), ("k", k), ("v", v)])
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"{op}: dropout_p must be in [0, 1), got {dropout_p}")
    L, S = q.shape[-2], k.shape[-2]
    xp = q.xp
    try:
        lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
        if attn_mask is not None:
            attn_mask = as_tensor(attn_mask)
            np.broadcast_shapes(attn_mask.shape, lead + (L, S))
    except ValueError:
        shapes = f"q {q.shape}, k {k.shape}, v {v.shape}" + (
            f", attn_mask {attn_mask.shape}" if attn_mask is not None else "")
        raise ValueError(f"{op}: shapes do not broadcast ({shapes}; a mask must broadcast to "
                         f"(..., {L}, {S}))") from None
    if attn_mask is not None and attn_mask.dtype.kind != "f" and attn_mask.dtype != np.bool_:
        raise ValueError(f"{op}: attn_mask must be boolean or floating, got {attn_mask.dtype}")
    allowed = _allowed_mask(attn_mask, is_causal, L, S, xp)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    fn = ScaledDotProductAttention(scale, allowed, dropout_p, random.generator(q.device) if dropout_p else None,
                                   return_weights)
    if attn_mask is not None and attn_mask.dtype.kind == "f":
        return fn(q, k, v, attn_mask.astype(q.dtype))
    return fn(q, k, v)
