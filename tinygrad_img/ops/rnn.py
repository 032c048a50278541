"""Fused recurrences: a whole sequence (or one step) of an RNN, LSTM or GRU in one Function.

Gate blocks of W_ih (G*H, I) and W_hh (G*H, H) follow PyTorch's layout:
  rnn  (G=1):  h' = act(W_ih x + b_ih + W_hh h + b_hh),  act = tanh or relu
  lstm (G=4):  [i, f, g, o] = W_ih x + b_ih + W_hh h + b_hh;  i, f, o -> sigmoid, g -> tanh
               c' = f * c + i * g;  h' = o * tanh(c')
  gru  (G=3, the articles' form, reset gate applied to h BEFORE the recurrent matmul):
               r = sigmoid(W_ir x + b_ir + W_hr h + b_hr);  z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
               n = tanh(W_in x + b_in + W_hn (r * h) + b_hn);  h' = (1 - z) * h + z * n

The input part of every gate, x_t W_ih^T + b_ih + b_hh, is one GEMM over all T steps before
the loop; only the recurrent product stays inside it. Backward walks the steps in reverse
collecting the gate pre-activation gradients dG (T, B, G*H), then forms dx = dG W_ih,
dW_ih = dG^T X and dW_hh = dG^T H_prev as single GEMMs as well.

With ``lengths`` (one int per batch row), a step t >= lengths[b] leaves row b's state
unchanged and outputs zeros, so padded steps change nothing; in the reverse direction the
initial state passes the padding untouched and the recurrence starts at the last valid step.
"""
from ..autograd import Function
from ..backend import get_array_module

GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def _sigmoid_(a):
    """In place a <- sigmoid(a) = (1 + tanh(a / 2)) / 2, which never overflows."""
    a *= 0.5
    get_array_module(a).tanh(a, out=a)
    a *= 0.5
    a += 0.5
    return a


def _lstm_perm(xp, H):
    """Row order i, f, o, g: the three sigmoid gates side by side (the swap is its own inverse)."""
    return xp.concatenate([xp.arange(k * H, (k + 1) * H) for k in (0, 1, 3, 2)])


class Recurrence(Function):
    """One layer, one direction, over a time-major sequence.

    forward(x (T, B, I), h0 (B, H), [c0 (B, H) for lstm], w_ih, w_hh, *biases)
      -> (out (T, B, H), h_n, [c_n]);  ``bias`` says which of b_ih, b_hh are given.
    """
    def __init__(self, mode, reverse=False, lengths=None):
        self.mode, self.reverse, self.lengths = mode, reverse, lengths

    def _order(self, T):
        return range(T - 1, -1, -1) if self.reverse else range(T)

    def forward(self, x, h0, *rest):
        xp = get_array_module(x)
        lstm, gru = self.mode == "lstm", self.mode == "gru"
        c, rest = (rest[0], rest[1:]) if lstm else (None, rest)
        w_ih, w_hh, biases = rest[0], rest[1], rest[2:]
        T, B, I = x.shape
        H = w_hh.shape[1]
        if lstm:
            self.perm = _lstm_perm(xp, H)
            w_ih, w_hh, biases = w_ih[self.perm], w_hh[self.perm], tuple(b[self.perm] for b in biases)
        gates = (x.reshape(T * B, I) @ w_ih.T).reshape(T, B, -1)
        for b in biases:
            gates += b
        self.x, self.w_ih, self.w_hh, self.n_bias = x, w_ih, w_hh, len(biases)
        self.hprev = xp.empty((T, B, H), dtype=x.dtype)
        out = xp.empty((T, B, H), dtype=x.dtype)
        if lstm:
            self.cprev, self.tc = xp.empty_like(self.hprev), xp.empty_like(self.hprev)
        if gru:
            self.rh = xp.empty_like(self.hprev)
        mask = None
        if self.lengths is not None:
            lengths = xp.asarray(self.lengths).reshape(1, B, 1)
            mask = xp.arange(T).reshape(T, 1, 1) < lengths
        h = h0
        for t in self._order(T):
            self.hprev[t] = h
            a = gates[t]
            if lstm:
                a += h @ w_hh.T
                _sigmoid_(a[:, :3 * H])
                xp.tanh(a[:, 3 * H:], out=a[:, 3 * H:])
                self.cprev[t] = c
                c_new = a[:, H:2 * H] * c + a[:, :H] * a[:, 3 * H:]
                tc = xp.tanh(c_new, out=self.tc[t])
                h_new = a[:, 2 * H:3 * H] * tc
            elif gru:
                a[:, :2 * H] += h @ w_hh[:2 * H].T
                _sigmoid_(a[:, :2 * H])
                rh = xp.multiply(a[:, :H], h, out=self.rh[t])
                n = a[:, 2 * H:]
                n += rh @ w_hh[2 * H:].T
                xp.tanh(n, out=n)
                h_new = h + a[:, H:2 * H] * (n - h)
            else:
                a += h @ w_hh.T
                h_new = xp.tanh(a, out=a) if self.mode == "rnn_tanh" else xp.maximum(a, 0, out=a)
            if mask is None:
                out[t] = h_new
                h, c = out[t], (c_new if lstm else None)
            else:
                m = mask[t]
                xp.multiply(h_new, m, out=out[t])
                h = xp.where(m, h_new, h)
                c = xp.where(m, c_new, c) if lstm else None
        self.gates, self.mask = gates, mask
        h = h.copy()
        return (out, h, c) if lstm else (out, h)

    def backward(self, g_out, g_h, g_c=None):
        xp = get_array_module(g_h)
        lstm, gru = self.mode == "lstm", self.mode == "gru"
        gates, w_hh, hprev, mask = self.gates, self.w_hh, self.hprev, self.mask
        T, B, _ = gates.shape
        H = hprev.shape[2]
        dG = xp.empty_like(gates)
        dh, dc = g_h, g_c
        for t in reversed(self._order(T)):
            if g_out is not None:
                dh = dh + g_out[t] if mask is None else dh + g_out[t] * mask[t]
            if mask is not None:
                m = mask[t]
                dh, dh_keep = xp.where(m, dh, 0), xp.where(m, 0, dh)
                if lstm:
                    dc, dc_keep = xp.where(m, dc, 0), xp.where(m, 0, dc)
            a, d = gates[t], dG[t]
            if lstm:
                i, f, o, g = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
                tc = self.tc[t]
                dc = dc + dh * o * (1 - tc * tc)
                d[:, :H] = dc * g * i * (1 - i)
                d[:, H:2 * H] = dc * self.cprev[t] * f * (1 - f)
                d[:, 2 * H:3 * H] = dh * tc * o * (1 - o)
                d[:, 3 * H:] = dc * i * (1 - g * g)
                dc = dc * f
                dh = d @ w_hh
            elif gru:
                r, z, n, hp = a[:, :H], a[:, H:2 * H], a[:, 2 * H:], hprev[t]
                d[:, 2 * H:] = dh * z * (1 - n * n)
                d[:, H:2 * H] = dh * (n - hp) * z * (1 - z)
                drh = d[:, 2 * H:] @ w_hh[2 * H:]
                d[:, :H] = drh * hp * r * (1 - r)
                dh = dh * (1 - z) + drh * r + d[:, :2 * H] @ w_hh[:2 * H]
            else:
                xp.multiply(dh, (1 - a * a) if self.mode == "rnn_tanh" else (a > 0), out=d)
                dh = d @ w_hh
            if mask is not None:
                dh = dh + dh_keep
                if lstm:
                    dc = dc + dc_keep
        return self._param_grads(xp, dG, dh, dc)

    def _param_grads(self, xp, dG, dh, dc):
        T, B, GH = dG.shape
        H = self.hprev.shape[2]
        need = self.needs_grad
        lstm = self.mode == "lstm"
        k = 3 if lstm else 2  # index of w_ih among the inputs
        d2 = dG.reshape(T * B, GH)
        gx = (d2 @ self.w_ih).reshape(self.x.shape) if need[0] else None
        gw_ih = d2.T @ self.x.reshape(T * B, -1) if need[k] else None
        gw_hh = None
        if need[k + 1]:
            h2 = self.hprev.reshape(T * B, H)
            if self.mode == "gru":
                gw_hh = xp.concatenate([d2[:, :2 * H].T @ h2, d2[:, 2 * H:].T @ self.rh.reshape(T * B, H)])
            else:
                gw_hh = d2.T @ h2
        gb = d2.sum(axis=0) if any(need[k + 2:]) else None
        if lstm:
            gw_ih, gw_hh, gb = (None if w is None else w[self.perm] for w in (gw_ih, gw_hh, gb))
        states = (dh, dc) if lstm else (dh,)
        return (gx,) + states + (gw_ih, gw_hh) + (gb,) * self.n_bias


class Cell(Recurrence):
    """One step (T = 1) returning only the new state: h' for rnn and gru, (h', c') for lstm."""
    def forward(self, x, *rest):
        outs = super().forward(x[None], *rest)
        return outs[1:] if self.mode == "lstm" else outs[1]

    def backward(self, g_h, g_c=None):
        grads = super().backward(None, g_h, g_c)
        return (None if grads[0] is None else grads[0][0],) + grads[1:]
