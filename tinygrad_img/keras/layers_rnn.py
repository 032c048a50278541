"""Recurrent Keras layers on (N, T, features) inputs: SimpleRNN, LSTM, GRU.

Weights keep Keras' shapes — kernel (in, k*units), recurrent_kernel
(units, k*units) — and the whole sequence runs in the core's fused ``F.recurrence`` with
W_ih = kernel^T, W_hh = recurrent_kernel^T:

  SimpleRNN  h_t = tanh(x_t W + h_{t-1} U + b) (or relu)
  LSTM       gates i, f, C~, o (Keras' and PyTorch's order), one bias of 4*units
             (forget-gate part initialised to 1, Keras' unit_forget_bias)
  GRU        the articles' form that ``F.gru_cell`` implements: gates r, z, n,
             n = tanh(x W_n + b_in + (r * h) U_n + b_hn), h_t = (1 - z) h_{t-1} + z n;
             bias (2, 3*units) holds the input and recurrent biases, so the
             parameter count equals Keras' default GRU (reset_after=True).
             Keras' own GRU puts z on the old state; trained weights are not
             interchangeable with Keras'.
"""
import numpy as np

from .. import functional as F
from ..nn import init
from ..nn.module import Parameter
from ..tensor import Tensor
from .layer import Layer, glorot_uniform, zeros

__all__ = ["SimpleRNN", "LSTM", "GRU"]


class _Recurrent(Layer):
    """Shared code; ``activations``/``recurrent_activations`` list what the fused engine implements.

    The cell activations are the layer's own: the base Layer applies no
    activation on top of the output h.
    """
    gates, mode = 1, None
    activations, recurrent_activations = ("tanh",), ("sigmoid",)

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", return_sequences=False,
                 **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        if int(units) <= 0:
            raise ValueError(f"{name}: units must be positive, got {units}")
        for what, value, allowed in (("activation", activation, self.activations),
                                     ("recurrent_activation", recurrent_activation, self.recurrent_activations)):
            if value not in allowed:
                raise ValueError(f"{name}: {what} must be one of {list(allowed)} (what the engine "
                                 f"implements), got {value!r}")
        self.units, self.return_sequences = int(units), bool(return_sequences)
        self.cell_activation, self.recurrent_activation = activation, recurrent_activation

    def _bias_shape(self):
        return (self.gates * self.units,)

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"{type(self).__name__}: expected inputs (timesteps, features) per sample, "
                             f"got {input_shape}")
        n, k = input_shape[-1], self.gates * self.units
        self.kernel = glorot_uniform((n, k), n, k)
        self.recurrent_kernel = Parameter(np.zeros((self.units, k), dtype=np.float32))
        init.orthogonal_(self.recurrent_kernel)
        self.bias = zeros(self._bias_shape())

    def output_shape_for(self, input_shape):
        return (input_shape[0], self.units) if self.return_sequences else (self.units,)

    def _biases(self):
        return self.bias, None

    def call(self, x):
        h0 = Tensor(x.xp.zeros((x.shape[0], self.units), dtype=x.dtype))
        c0 = Tensor(x.xp.zeros_like(h0.data)) if self.mode == "lstm" else None
        out = F.recurrence(x.transpose(1, 0, 2), h0, self.kernel.T, self.recurrent_kernel.T,
                           *self._biases(), c0=c0, mode=self.mode)
        return out[0].transpose(1, 0, 2) if self.return_sequences else out[1]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.cell_activation,
                "recurrent_activation": self.recurrent_activation, "return_sequences": self.return_sequences}


class SimpleRNN(_Recurrent):
    """h_t = activation(x_t W + h_{t-1} U + b), activation "tanh" (default) or "relu"."""
    activations, recurrent_activations = ("tanh", "relu"), (None,)

    def __init__(self, units, activation="tanh", return_sequences=False, **kwargs):
        super().__init__(units, activation, None, return_sequences, **kwargs)
        self.mode = "rnn_" + activation

    def get_config(self):
        cfg = super().get_config()
        del cfg["recurrent_activation"]
        return cfg


class LSTM(_Recurrent):
    """C_t = f C_{t-1} + i C~;  h_t = o tanh(C_t) with sigmoid gates i, f, o and C~ = tanh(...)."""
    gates, mode = 4, "lstm"

    def build(self, input_shape):
        super().build(input_shape)
        self.bias.data[self.units:2 * self.units] = 1.0


class GRU(_Recurrent):
    """The articles' GRU (see the module docstring): r, z sigmoid gates, n the tanh candidate."""
    gates, mode = 3, "gru"

    def _bias_shape(self):
        return (2, self.gates * self.units)

    def _biases(self):
        return self.bias[0], self.bias[1]
