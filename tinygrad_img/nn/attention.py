"""Attention layers: MultiheadAttention, sinusoidal positional encoding, TransformerEncoder(Layer).

Parameter names, shapes, initialisation and mask conventions are PyTorch's, so its state dicts
load by name and give the same outputs; everything is batch-first by default.
"""
import copy
import math

import numpy as np

from .. import functional as F
from ..tensor import Tensor, as_tensor
from ..tensor_functions import cat, pad
from . import init
from .containers import ModuleList
from .layers import Dropout, Linear, new_parameter
from .module import Module
from .norm import LayerNorm

__all__ = ["MultiheadAttention", "sinusoidal_positional_encoding", "PositionalEncoding",
           "TransformerEncoderLayer", "TransformerEncoder"]


class MultiheadAttention(Module):
    """MultiHead(Q, K, V) = concat_h(softmax(Q W_q^h (K W_k^h)^T / sqrt(d) + mask) V W_v^h) W_o + b_o
    with d = embed_dim / num_heads heads of attention (F.scaled_dot_product_attention).

    Self-attention passes one sequence as query, key and value; cross-attention (the articles'
    cross-modal attention) takes key/value of other widths ``kdim``/``vdim``, which stores
    ``q_proj_weight``, ``k_proj_weight``, ``v_proj_weight`` instead of one ``in_proj_weight``
    (3E, E). Masks follow PyTorch's MultiheadAttention: a boolean ``attn_mask`` ((L, S) or
    (B * num_heads, L, S)) or ``key_padding_mask`` ((B, S)) is True where attention is NOT
    allowed (the opposite of F.scaled_dot_product_attention); float masks are added to the
    scores. A query with no allowed key outputs zeros (PyTorch gives NaN).

    ``add_bias_kv`` learns ``bias_k``, ``bias_v`` (1, 1, E), appended as one more key/value
    position after the projections; ``add_zero_attn`` then appends a zero key and value (zero in
    every head). Masks get an allowed (False / 0) column per appended position, as in PyTorch.
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, kdim=None, vdim=None, batch_first=True,
                 add_bias_kv=False, add_zero_attn=False):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim {embed_dim} must be divisible by num_heads {num_heads}")
        self.embed_dim, self.num_heads, self.head_dim = int(embed_dim), int(num_heads), embed_dim // num_heads
        self.kdim, self.vdim = int(kdim or embed_dim), int(vdim or embed_dim)
        self.dropout, self.batch_first = float(dropout), batch_first
        self._same_dims = self.kdim == embed_dim and self.vdim == embed_dim
        E = self.embed_dim
        if self._same_dims:
            self.in_proj_weight = new_parameter(3 * E, E)
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for name, dim in (("q", E), ("k", self.kdim), ("v", self.vdim)):
                setattr(self, f"{name}_proj_weight", new_parameter(E, dim))
                init.xavier_uniform_(getattr(self, f"{name}_proj_weight"))
        self.register_parameter("in_proj_bias", new_parameter(3 * E) if bias else None)
        self.out_proj = Linear(E, E, bias=bias)
        if bias:
            init.zeros_(self.out_proj.bias)
        for name in ("bias_k", "bias_v"):
            self.register_parameter(name, init.xavier_normal_(new_parameter(1, 1, E)) if add_bias_kv else None)
        self.add_zero_attn = bool(add_zero_attn)

    def _project(self, query, key, value):
        E, b = self.embed_dim, self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        if not self._same_dims:
            return (F.linear(query, self.q_proj_weight, bq), F.linear(key, self.k_proj_weight, bk),
                    F.linear(value, self.v_proj_weight, bv))
        w = self.in_proj_weight
        if query is key and key is value:
            qkv = F.linear(query, w, b)
            return qkv[..., :E], qkv[..., E:2 * E], qkv[..., 2 * E:]
        return F.linear(query, w[:E], bq), F.linear(key, w[E:2 * E], bk), F.linear(value, w[2 * E:], bv)

    def _extra_keys(self, k, v):
        """Projected k, v (B, S, E) with bias_k / bias_v and then a zero position appended."""
        B, E = k.shape[0], self.embed_dim
        if self.bias_k is not None:
            k = cat([k, self.bias_k.expand(B, 1, E)], axis=1)
            v = cat([v, self.bias_v.expand(B, 1, E)], axis=1)
        if self.add_zero_attn:
            k, v = pad(k, ((0, 0), (0, 1), (0, 0))), pad(v, ((0, 0), (0, 1), (0, 0)))
        return k, v

    def _mask(self, attn_mask, key_padding_mask, B, L, S, extra=0, is_causal=False):
        """One mask for F.scaled_dot_product_attention (True = may attend, or additive float);
        ``extra`` appended key positions get an allowed (False / 0) column, also past a causal
        mask (``is_causal``, which then joins the mask here instead of going to the attention)."""
        parts = []
        if is_causal and extra:
            parts.append(Tensor(np.triu(np.ones((L, S), dtype=bool), 1), device=self.out_proj.weight.device))
        if attn_mask is not None:
            attn_mask = as_tensor(attn_mask)
            if attn_mask.shape == (B * self.num_heads, L, S):
                attn_mask = attn_mask.reshape(B, self.num_heads, L, S)
            elif attn_mask.shape != (L, S):
                raise ValueError(f"MultiheadAttention: attn_mask has shape {attn_mask.shape}, expected "
                                 f"({L}, {S}) or ({B * self.num_heads}, {L}, {S})")
            parts.append(attn_mask)
        if key_padding_mask is not None:
            key_padding_mask = as_tensor(key_padding_mask)
            if key_padding_mask.shape != (B, S):
                raise ValueError(f"MultiheadAttention: key_padding_mask has shape {key_padding_mask.shape}, "
                                 f"expected ({B}, {S})")
            parts.append(key_padding_mask.reshape(B, 1, 1, S))
        if not parts:
            return None
        if extra:
            parts = [pad(p, ((0, 0),) * (p.ndim - 1) + ((0, extra),)) for p in parts]
        if all(p.dtype == np.bool_ for p in parts):
            masked = parts[0].data
            for p in parts[1:]:
                masked = masked | p.data
            return Tensor(~masked)
        total = None
        for p in parts:
            if p.dtype == np.bool_:
                p = Tensor(p.xp.where(p.data, -np.inf, 0.0).astype(np.float32), device=p.device)
            total = p if total is None else total + p
        return total

    def forward(self, query, key, value, attn_mask=None, key_padding_mask=None, need_weights=True,
                average_attn_weights=True, is_causal=False):
        """query (B, L, E), key (B, S, kdim), value (B, S, vdim) (or unbatched, or time-first when
        batch_first=False) -> (output (B, L, E), weights (B, L, S) averaged over heads, or
        (B, num_heads, L, S) when not ``average_attn_weights``, or None without ``need_weights``;
        S counts the appended bias_k / zero positions)."""
        query, key, value = as_tensor(query), as_tensor(key), as_tensor(value)
        single = query.ndim == 2
        if single:
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
        elif not self.batch_first:
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        for name, t, dim in (("query", query, self.embed_dim), ("key", key, self.kdim), ("value", value, self.vdim)):
            if t.ndim != 3 or t.shape[-1] != dim:
                raise ValueError(f"MultiheadAttention: {name} of shape {t.shape} must end in {dim} features")
        B, L, _ = query.shape
        S = key.shape[1]
        if key.shape[:2] != value.shape[:2] or key.shape[0] != B:
            raise ValueError(f"MultiheadAttention: query {query.shape}, key {key.shape} and value "
                             f"{value.shape} disagree on batch or key length")
        q, k, v = self._project(query, key, value)
        k, v = self._extra_keys(k, v)
        q, k, v = (t.reshape(B, -1, self.num_heads, self.head_dim).transpose(1, 2) for t in (q, k, v))
        extra = k.shape[2] - S
        mask = self._mask(attn_mask, key_padding_mask, B, L, S, extra, is_causal)
        res = F.scaled_dot_product_attention(q, k, v, mask, is_causal=is_causal and not extra,
                                             dropout_p=self.dropout if self.training else 0.0,
                                             return_weights=need_weights)
        out, weights = res if need_weights else (res, None)
        out = self.out_proj(out.transpose(1, 2).reshape(B, L, self.embed_dim))
        if weights is not None and average_attn_weights:
            weights = weights.mean(axis=1)
        if single:
            return out.squeeze(0), None if weights is None else weights.squeeze(0)
        if not self.batch_first:
            out = out.transpose(0, 1)
        return out, weights

    def extra_repr(self):
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, kdim={self.kdim}, vdim={self.vdim}, "
                f"add_bias_kv={self.bias_k is not None}, add_zero_attn={self.add_zero_attn}")


def sinusoidal_positional_encoding(length, dim, base=10000.0, dtype=np.float32, device=None):
    """PE[pos, 2i] = sin(pos / base^(2i/dim)), PE[pos, 2i+1] = cos(pos / base^(2i/dim)); (length, dim)."""
    pos = np.arange(length, dtype=np.float64)[:, None]
    freq = np.exp(-math.log(base) * np.arange(0, dim, 2, dtype=np.float64) / dim)
    pe = np.zeros((length, dim))
    pe[:, 0::2] = np.sin(pos * freq)
    pe[:, 1::2] = np.cos(pos * freq[: dim // 2])
    return Tensor(pe, dtype=dtype, device=device)


class PositionalEncoding(Module):
    """y = dropout(x + PE[:T]) for batch-first x (B, T, d_model), PE the sinusoidal table."""

    def __init__(self, d_model, max_len=5000, dropout=0.0):
        super().__init__()
        self.register_buffer("pe", sinusoidal_positional_encoding(max_len, d_model), persistent=False)
        self.dropout = Dropout(dropout)

    def forward(self, x):
        if x.shape[-2] > self.pe.shape[0] or x.shape[-1] != self.pe.shape[1]:
            raise ValueError(f"PositionalEncoding: input {x.shape} exceeds max_len {self.pe.shape[0]} "
                             f"or its feature size is not d_model {self.pe.shape[1]}")
        return self.dropout(x + self.pe[: x.shape[-2]])


class TransformerEncoderLayer(Module):
    """PyTorch's encoder layer: post-norm x = LN1(x + SA(x)); x = LN2(x + FF(x)), or with
    ``norm_first`` x = x + SA(LN1(x)); x = x + FF(LN2(x)); FF(x) = W2 dropout(act(W1 x)),
    SA = MultiheadAttention self-attention, each sub-block output passed through dropout.
    ``activation`` is "relu", "gelu" (exact, erf-based) or any callable (a function or Module)."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=True, norm_first=False, bias=True):
        super().__init__()
        if not callable(activation) and activation not in ("relu", "gelu"):
            raise ValueError(f"TransformerEncoderLayer: activation must be 'relu', 'gelu' or a callable, "
                             f"got {activation!r}")
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1, self.dropout2 = Dropout(dropout), Dropout(dropout)
        self.activation = activation if callable(activation) else F.relu if activation == "relu" else F.gelu

    def _sa(self, x, mask, padding, is_causal):
        return self.dropout1(self.self_attn(x, x, x, attn_mask=mask, key_padding_mask=padding,
                                            need_weights=False, is_causal=is_causal)[0])

    def _ff(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = as_tensor(src)
        if self.norm_first:
            x = x + self._sa(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff(self.norm2(x))
        x = self.norm1(x + self._sa(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._ff(x))


class TransformerEncoder(Module):
    """A stack of ``num_layers`` deep copies of ``encoder_layer`` (independent parameters, named
    ``layers.0.`` ...), then the optional ``norm``: x = norm(layer_N(... layer_1(src))), every
    layer getting the same ``mask``, ``src_key_padding_mask`` and ``is_causal`` (PyTorch's).

    PyTorch's ``enable_nested_tensor`` and ``mask_check`` are accepted, so its calls port as they
    are, and ignored: they steer its nested-tensor fast path for padded batches, which this
    library does not have (padding always goes through ``src_key_padding_mask``)."""

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True, mask_check=True):
        super().__init__()
        if not isinstance(encoder_layer, Module) or int(num_layers) < 1:
            raise ValueError(f"TransformerEncoder: needs a Module layer and num_layers >= 1, got "
                             f"{type(encoder_layer).__name__} and {num_layers}")
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(int(num_layers))])
        self.num_layers, self.norm = int(num_layers), norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=False):
        x = as_tensor(src)
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=is_causal)
        return x if self.norm is None else self.norm(x)
