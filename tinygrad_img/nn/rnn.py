"""Recurrent layers: RNNCell, LSTMCell, GRUCell and the multi-layer RNN, LSTM and GRU.

Parameters are named and shaped as PyTorch's (``weight_ih_l0`` (G*H, I), ``weight_hh_l0``
(G*H, H), ``bias_ih_l0``, ``bias_hh_l0``, a ``_reverse`` suffix for the backward direction;
cells use ``weight_ih`` ... without the layer suffix; an LSTM with ``proj_size`` P > 0 has
``weight_hh_l0`` (4H, P) and ``weight_hr_l0`` (P, H)), so a PyTorch RNN or LSTM state dict
loads by name and gives the same outputs. All start as U(-1/sqrt(H), 1/sqrt(H)), PyTorch's
default. The GRU follows the articles' formula (see ``functional/sequence.py``): a PyTorch
GRU state dict loads, but the outputs differ.
"""
import math

import numpy as np

from .. import functional as F
from ..creation import zeros
from ..ops.rnn import GATES
from ..tensor import Tensor
from ..tensor_functions import cat, stack
from . import init
from .layers import new_parameter
from .module import Module

__all__ = ["RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU"]


def _new_weights(module, suffix, gates, input_size, hidden_size, bias, proj_size=0):
    setattr(module, "weight_ih" + suffix, new_parameter(gates * hidden_size, input_size))
    setattr(module, "weight_hh" + suffix, new_parameter(gates * hidden_size, proj_size or hidden_size))
    for name in ("bias_ih", "bias_hh"):
        module.register_parameter(name + suffix, new_parameter(gates * hidden_size) if bias else None)
    if proj_size:
        setattr(module, "weight_hr" + suffix, new_parameter(proj_size, hidden_size))


def _reset(module):
    bound = 1.0 / math.sqrt(module.hidden_size)
    for p in module.parameters():
        init.uniform_(p, -bound, bound)


class _Cell(Module):
    mode = None

    def __init__(self, input_size, hidden_size, bias=True, mode=None):
        super().__init__()
        self.mode = mode or self.mode
        self.input_size, self.hidden_size, self.bias = int(input_size), int(hidden_size), bias
        _new_weights(self, "", GATES[self.mode], self.input_size, self.hidden_size, bias)
        _reset(self)

    def reset_parameters(self):
        _reset(self)

    def _batched(self, x, states):
        """Unbatched (I,) input and (H,) states become a batch of one; missing states become zeros."""
        name = type(self).__name__
        x = x if isinstance(x, Tensor) else Tensor(x)
        if x.ndim not in (1, 2):
            raise ValueError(f"{name}: input must be (batch, {self.input_size}) or ({self.input_size},), "
                             f"got shape {x.shape}")
        single = x.ndim == 1
        x = x.unsqueeze(0) if single else x
        out = []
        for s in states:
            if s is None:
                s = zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)
            elif single:
                s = s.unsqueeze(0)
            out.append(s)
        return single, x, out

    def _params(self):
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"


class RNNCell(_Cell):
    """h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), act = tanh (default) or relu."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh"):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, mode="rnn_" + nonlinearity)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        single, x, (h,) = self._batched(input, [hx])
        h = F.rnn_cell(x, h, *self._params(), nonlinearity=self.nonlinearity)
        return h.squeeze(0) if single else h


class LSTMCell(_Cell):
    """(h', c') from F.lstm_cell: gates i, f, g, o; c' = f c + i g; h' = o tanh(c')."""
    mode = "lstm"

    def forward(self, input, hx=None):
        single, x, (h, c) = self._batched(input, [None, None] if hx is None else list(hx))
        h, c = F.lstm_cell(x, h, c, *self._params())
        return (h.squeeze(0), c.squeeze(0)) if single else (h, c)


class GRUCell(_Cell):
    """The articles' GRU step: n = tanh(W_in x + b_in + W_hn (r h) + b_hn), h' = (1 - z) h + z n."""
    mode = "gru"

    def forward(self, input, hx=None):
        single, x, (h,) = self._batched(input, [hx])
        h = F.gru_cell(x, h, *self._params())
        return h.squeeze(0) if single else h


class _Recurrent(Module):
    mode = None

    # API.md's positional order: (input_size, hidden_size, num_layers, batch_first, bidirectional);
    # PyTorch's other options (whose positions differ there) are keyword-only here.
    def __init__(self, input_size, hidden_size, num_layers=1, batch_first=True, bidirectional=False, *,
                 bias=True, dropout=0.0, mode=None, proj_size=0):
        super().__init__()
        self.mode = mode or self.mode
        name = type(self).__name__
        for arg, value in (("batch_first", batch_first), ("bidirectional", bidirectional)):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{name}: {arg} must be a bool, got {value!r} (positional order: input_size, "
                                f"hidden_size, num_layers, batch_first, bidirectional; pass bias, dropout, "
                                f"nonlinearity and proj_size by keyword)")
        if int(num_layers) < 1 or int(hidden_size) < 1:
            raise ValueError(f"{name}: num_layers and hidden_size must be >= 1, got {num_layers}, {hidden_size}")
        if not 0 <= int(proj_size) < int(hidden_size):
            raise ValueError(f"{name}: proj_size must be in [0, hidden_size), got proj_size={proj_size} "
                             f"with hidden_size={hidden_size}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"{name}: dropout must be in [0, 1], got {dropout}")
        self.input_size, self.hidden_size, self.num_layers = int(input_size), int(hidden_size), int(num_layers)
        self.bias, self.batch_first, self.dropout = bias, bool(batch_first), float(dropout)
        self.bidirectional, self.proj_size = bool(bidirectional), int(proj_size)
        D = 2 if bidirectional else 1
        for layer in range(self.num_layers):
            for suffix in ("", "_reverse")[:D]:
                size = self.input_size if layer == 0 else (self.proj_size or self.hidden_size) * D
                _new_weights(self, f"_l{layer}{suffix}", GATES[self.mode], size, self.hidden_size, bias,
                             self.proj_size)
        _reset(self)

    def reset_parameters(self):
        _reset(self)

    def _layer_params(self, layer, reverse):
        sfx = f"_l{layer}" + ("_reverse" if reverse else "")
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh") + (("weight_hr",) if self.proj_size else ())
        params = tuple(getattr(self, n + sfx) for n in names)
        return params if self.proj_size else params + (None,)

    def _initial(self, hx, B, single, x, size_name):
        """The initial states as lists of (B, size) tensors, one per layer and direction; size_name
        is "hidden_size" or "proj_size" (the LSTM's h with a projection)."""
        name, D = type(self).__name__, 2 if self.bidirectional else 1
        size = getattr(self, size_name)
        want = (self.num_layers * D, B, size)
        if hx is None:
            return [zeros(B, size, dtype=x.dtype, device=x.device) for _ in range(want[0])]
        hx = hx if isinstance(hx, Tensor) else Tensor(hx)
        hx = hx.unsqueeze(1) if single and hx.ndim == 2 else hx
        if hx.shape != want:
            raise ValueError(f"{name}: initial state has shape {hx.shape}, expected {want} "
                             f"(num_layers * directions, batch, {size_name})")
        return [hx[i] for i in range(want[0])]

    def _run(self, input, states, lengths):
        name, D = type(self).__name__, 2 if self.bidirectional else 1
        x = input if isinstance(input, Tensor) else Tensor(input)
        if x.ndim not in (2, 3):
            raise ValueError(f"{name}: input must be 3-D (batch, time, features) or 2-D unbatched, got {x.shape}")
        single = x.ndim == 2
        x = x.unsqueeze(1) if single else x.transpose(0, 1) if self.batch_first else x
        T, B, I = x.shape
        if I != self.input_size:
            raise ValueError(f"{name}: input has {I} features but input_size is {self.input_size}")
        sizes = ("proj_size" if self.proj_size else "hidden_size", "hidden_size")
        init_states = [self._initial(s, B, single, x, size) for s, size in zip(states, sizes)]
        finals = [[] for _ in states]
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                idx = layer * D + d
                w_ih, w_hh, b_ih, b_hh, w_hr = self._layer_params(layer, d == 1)
                c0 = init_states[1][idx] if self.mode == "lstm" else None
                res = F.recurrence(x, init_states[0][idx], w_ih, w_hh, b_ih, b_hh, c0=c0, mode=self.mode,
                                   reverse=d == 1, lengths=lengths, w_hr=w_hr)
                outs.append(res[0])
                for k, f in enumerate(finals):
                    f.append(res[1 + k])
            x = outs[0] if D == 1 else cat(outs, axis=2)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        out = x.squeeze(1) if single else x.transpose(0, 1) if self.batch_first else x
        finals = [stack(f, axis=0) for f in finals]
        return out, [f.squeeze(1) if single else f for f in finals]

    def extra_repr(self):
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
                f"batch_first={self.batch_first}, bidirectional={self.bidirectional}"
                + (f", proj_size={self.proj_size}" if self.proj_size else ""))


class RNN(_Recurrent):
    """Elman RNN layers: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = tanh or relu.

    RNN(input_size, hidden_size, num_layers=1, batch_first=True, bidirectional=False, *,
    nonlinearity="tanh", bias=True, dropout=0.0) (LSTM and GRU take the same, LSTM also proj_size;
    the positional order is API.md's, so PyTorch's bias/dropout/nonlinearity go by keyword).
    forward(input, hx=None, lengths=None) -> (output, h_n): input (B, T, I) when batch_first
    (default True) else (T, B, I), or unbatched (T, I); hx (num_layers * D, B, H); output
    (B, T, D * H) with both directions' features concatenated; ``lengths`` (B ints) makes padded
    steps output zeros and h_n the state at each row's last valid step.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, batch_first=True, bidirectional=False, *,
                 nonlinearity="tanh", bias=True, dropout=0.0):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, num_layers, batch_first, bidirectional, bias=bias,
                         dropout=dropout, mode="rnn_" + nonlinearity)

    def forward(self, input, hx=None, lengths=None):
        out, (h_n,) = self._run(input, [hx], lengths)
        return out, h_n


class LSTM(_Recurrent):
    """LSTM layers (F.lstm_cell per step, fused over the sequence); forward(input, hx=None,
    lengths=None) -> (output, (h_n, c_n)) with hx = (h_0, c_0), shapes as in :class:`RNN`.

    ``proj_size`` P > 0 (PyTorch's LSTMP) projects each step's state, h_t = W_hr (o_t * tanh(c_t))
    with ``weight_hr_l{k}`` (P, H): h_0, h_n and the output have P features (D * P for the
    output and for the input of layers k > 0), c_0 and c_n keep hidden_size.
    """
    mode = "lstm"

    def __init__(self, input_size, hidden_size, num_layers=1, batch_first=True, bidirectional=False, *,
                 bias=True, dropout=0.0, proj_size=0):
        super().__init__(input_size, hidden_size, num_layers, batch_first, bidirectional, bias=bias,
                         dropout=dropout, proj_size=proj_size)

    def forward(self, input, hx=None, lengths=None):
        out, (h_n, c_n) = self._run(input, [None, None] if hx is None else list(hx), lengths)
        return out, (h_n, c_n)


class GRU(_Recurrent):
    """GRU layers with the articles' cell (F.gru_cell, where its differences from PyTorch's and
    Keras's GRU are written out): n = tanh(W_in x + b_in + W_hn (r * h) + b_hn),
    h' = (1 - z) * h + z * n.  forward(input, hx=None, lengths=None) -> (output, h_n), shapes as
    in :class:`RNN`."""
    mode = "gru"

    def forward(self, input, hx=None, lengths=None):
        out, (h_n,) = self._run(input, [hx], lengths)
        return out, h_n
