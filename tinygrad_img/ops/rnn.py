"""Fused recurrences: a whole sequence (or one step) of an RNN, LSTM or GRU in one Function.

Gate blocks of W_ih (G*H, I) and W_hh (G*H, H) follow PyTorch's layout:
  rnn  (G=1):  h' = act(W_ih x + b_ih + W_hh h + b_hh),  act = tanh or relu
  lstm (G=4):  [i, f, g, o] = W_ih x + b_ih + W_hh h + b_hh;  i, f, o -> sigmoid, g -> tanh
               c' = f * c + i * g;  h' = o * tanh(c'),  or with a projection W_hr (P, H)
               (PyTorch's proj_size = P): h' = W_hr (o * tanh(c')), and W_hh is (4H, P)
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


class Recurrence(Function):
    """One layer, one direction, over a time-major sequence.

    forward(x (T, B, I), h0 (B, H), [c0 (B, H) for lstm], w_ih, w_hh, [w_hr], *biases (0 to 2))
      -> (out (T, B, H), h_n, [c_n]).  With ``proj`` (lstm only) w_hr (P, H) follows w_hh, and
    h0, out and h_n have P features instead of H.
    Inside, the LSTM's gate blocks are reordered to g, i, f, o: the sigmoid gates sit side by
    side (one tanh call on all four, sigmoid(a) = (1 + tanh(a/2)) / 2), and so do the three
    blocks whose gradient scales with dc.
    """
    def __init__(self, mode, reverse=False, lengths=None, proj=False):
        self.mode, self.reverse, self.lengths, self.proj = mode, reverse, lengths, proj

    def _order(self, T):
        return range(T - 1, -1, -1) if self.reverse else range(T)

    def _prev(self, states, init, t):
        """The state before time t (states[t] is the state after it)."""
        p = t + 1 if self.reverse else t - 1
        return init if p < 0 or p >= len(states) else states[p]

    def _times_prev(self, out, states, init):
        """out (T, B, H) *= the state before each time step, in place."""
        if self.reverse:
            out[:-1] *= states[1:]
            out[-1] *= init
        else:
            out[1:] *= states[:-1]
            out[0] *= init

    def _prev_gemm(self, d, states, init):
        """sum_t d[t]^T (state before step t): dW_hh without materialising the shifted states."""
        if self.reverse:
            head, tail, first = d[:-1], states[1:], d[-1]
        else:
            head, tail, first = d[1:], states[:-1], d[0]
        return head.reshape(-1, d.shape[2]).T @ tail.reshape(-1, states.shape[2]) + first.T @ init

    def forward(self, x, h0, *rest):
        xp = get_array_module(x)
        lstm = self.mode == "lstm"
        c0, rest = (rest[0], rest[1:]) if lstm else (None, rest)
        w_ih, w_hh, biases = rest[0], rest[1], rest[2:]
        self.w_hr = None
        if self.proj:
            self.w_hr, biases = biases[0], biases[1:]
        T, B, I = x.shape
        H = w_hh.shape[0] // GATES[self.mode]
        if lstm:
            self.perm = xp.concatenate([xp.arange(k * H, (k + 1) * H) for k in (2, 0, 1, 3)])
            w_ih, w_hh, biases = w_ih[self.perm], w_hh[self.perm], tuple(b[self.perm] for b in biases)
        gates = (x.reshape(T * B, I) @ w_ih.T).reshape(T, B, -1)
        if biases:
            gates += sum(biases[1:], biases[0])
        self.x, self.h0, self.c0, self.w_ih, self.w_hh, self.n_bias = x, h0, c0, w_ih, w_hh, len(biases)
        self.mask = None
        if self.lengths is not None:
            self.mask = xp.arange(T).reshape(T, 1, 1) < xp.asarray(self.lengths).reshape(1, B, 1)
            self.pad = ~self.mask
        self.hs = xp.empty((T, B, w_hh.shape[1]), dtype=x.dtype)  # the state after each step (carried over padding)
        getattr(self, "_forward_" + self.mode.split("_")[0])(xp, gates, h0, c0)
        self.gates = gates
        last = 0 if self.reverse else T - 1
        out = self.hs if self.mask is None else self.hs * self.mask
        h_n = self.hs[last].copy()
        return (out, h_n, self.cs[last].copy()) if lstm else (out, h_n)

    def _restore_padded(self, xp, t, buffer, old):
        """buffer holds the new state; with lengths, padded rows get the old state back."""
        if self.mask is not None:
            xp.copyto(buffer, old, where=self.pad[t])
        return buffer

    def _forward_lstm(self, xp, gates, h, c):
        # Every step writes into preallocated buffers (out=): fresh small arrays cost page faults.
        H = c.shape[1]
        sig = xp.ones(4 * H, dtype=gates.dtype)
        sig[H:] = 0.5
        gates *= sig  # halve the sigmoid pre-activations: one tanh then serves all four blocks
        w_hh_t = xp.ascontiguousarray((self.w_hh * sig[:, None]).T)
        self.cs, self.tcs = (xp.empty(gates.shape[:2] + (H,), dtype=gates.dtype) for _ in range(2))
        self.ms = xp.empty_like(self.cs) if self.proj else self.hs  # o * tanh(c), before W_hr
        w_hr_t = None if self.w_hr is None else xp.ascontiguousarray(self.w_hr.T)
        rec, ig = xp.empty_like(gates[0]), xp.empty_like(c)
        for t in self._order(len(gates)):
            a = gates[t]
            a += xp.matmul(h, w_hh_t, out=rec)
            xp.tanh(a, out=a)
            s = a[:, H:]
            s *= 0.5
            s += 0.5
            g, i, f, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
            c_new = xp.multiply(f, c, out=self.cs[t])
            c_new += xp.multiply(i, g, out=ig)
            xp.multiply(o, xp.tanh(c_new, out=self.tcs[t]), out=self.ms[t])
            if w_hr_t is not None:
                xp.matmul(self.ms[t], w_hr_t, out=self.hs[t])
            h = self._restore_padded(xp, t, self.hs[t], h)
            c = self._restore_padded(xp, t, c_new, c)

    def _forward_gru(self, xp, gates, h, c):
        H, w_hh = h.shape[1], self.w_hh
        self.rh = xp.empty_like(self.hs)
        for t in self._order(len(gates)):
            a = gates[t]
            a[:, :2 * H] += h @ w_hh[:2 * H].T
            _sigmoid_(a[:, :2 * H])
            rh = xp.multiply(a[:, :H], h, out=self.rh[t])
            n = a[:, 2 * H:]
            n += rh @ w_hh[2 * H:].T
            xp.tanh(n, out=n)
            new = xp.subtract(n, h, out=self.hs[t])
            new *= a[:, H:2 * H]
            new += h
            h = self._restore_padded(xp, t, new, h)

    def _forward_rnn(self, xp, gates, h, c):
        act = xp.tanh if self.mode == "rnn_tanh" else (lambda v, out: xp.maximum(v, 0, out=out))
        for t in self._order(len(gates)):
            a = gates[t]
            a += h @ self.w_hh.T
            h = self._restore_padded(xp, t, act(a, out=self.hs[t]), h)

    def backward(self, g_out, g_h, g_c=None):
        xp = get_array_module(g_h)
        dG = xp.empty_like(self.gates)
        step = getattr(self, "_backward_" + self.mode.split("_")[0])(xp, dG)
        mask = self.mask
        dh, dc = g_h.copy(), None if g_c is None else g_c.copy()  # owned: updated in place
        for t in reversed(self._order(len(dG))):
            if g_out is not None:
                dh += g_out[t] if mask is None else g_out[t] * mask[t]
            if mask is None:
                dh, dc = step(t, dh, dc)
                continue
            keep_h, keep_c = dh * self.pad[t], None if dc is None else dc * self.pad[t]
            dh *= mask[t]
            if dc is not None:
                dc *= mask[t]
            dh, dc = step(t, dh, dc)
            dh += keep_h
            if dc is not None:
                dc += keep_c
        return self._param_grads(xp, dG, dh, dc)

    def _backward_lstm(self, xp, dG):
        """Returns step(t, dh, dc) -> (dh_prev, dc_prev) (updated in place) filling dG[t].

        The per-step factors are precomputed for all T at once, dG = [dc, dc, dc, dm] * K, in
        dG itself (each step scales its own slice in place), dm = dh (dh W_hr with a projection,
        whose dh's are kept in self.dhs for dW_hr). Saved arrays stay untouched, so a retained
        graph can run backward again.
        """
        a, tcs, H = self.gates, self.tcs, self.cs.shape[2]
        g, i, f, o = a[..., :H], a[..., H:2 * H], a[..., 2 * H:3 * H], a[..., 3 * H:]
        kg, ksig = dG[..., :H], dG[..., H:]
        xp.multiply(g, g, out=kg)
        xp.subtract(1, kg, out=kg)
        kg *= i                                   # per dc: i (1 - g^2)
        xp.subtract(1, a[..., H:], out=ksig)
        ksig *= a[..., H:]                        # sigmoid' = s (1 - s) for i, f, o at once
        dG[..., H:2 * H] *= g                     # per dc: g i (1 - i)
        self._times_prev(dG[..., 2 * H:3 * H], self.cs, self.c0)  # per dc: c_prev f (1 - f)
        dG[..., 3 * H:] *= tcs                    # per dh: tanh(c) o (1 - o)
        o_dtc = xp.multiply(tcs, tcs)
        xp.subtract(1, o_dtc, out=o_dtc)
        o_dtc *= o                                # dc += dh o (1 - tanh(c)^2)
        T, B = a.shape[:2]
        dG4, w_hh, w_hr, tmp = dG.reshape(T, B, 4, H), self.w_hh, self.w_hr, xp.empty_like(self.c0)
        if w_hr is not None:
            self.dhs, dm_buf = xp.empty_like(self.hs), xp.empty_like(self.c0)

        def step(t, dh, dc):
            dm = dh
            if w_hr is not None:
                self.dhs[t] = dh
                dm = xp.matmul(dh, w_hr, out=dm_buf)
            dc += xp.multiply(dm, o_dtc[t], out=tmp)
            dG4[t, :, :3] *= dc[:, None, :]
            dG4[t, :, 3] *= dm
            dc *= f[t]
            return xp.matmul(dG[t], w_hh, out=dh), dc
        return step

    def _backward_gru(self, xp, dG):
        a, w_hh, H = self.gates, self.w_hh, self.hs.shape[2]

        def step(t, dh, dc):
            r, z, n, hp = a[t, :, :H], a[t, :, H:2 * H], a[t, :, 2 * H:], self._prev(self.hs, self.h0, t)
            d = dG[t]
            d[:, 2 * H:] = dh * z * (1 - n * n)
            d[:, H:2 * H] = dh * (n - hp) * z * (1 - z)
            drh = d[:, 2 * H:] @ w_hh[2 * H:]
            d[:, :H] = drh * hp * r * (1 - r)
            return dh * (1 - z) + drh * r + d[:, :2 * H] @ w_hh[:2 * H], None
        return step

    def _backward_rnn(self, xp, dG):
        hs = self.hs  # the activations (padded rows get dh = 0, so their stale values do not matter)

        def step(t, dh, dc):
            xp.multiply(dh, (1 - hs[t] * hs[t]) if self.mode == "rnn_tanh" else (hs[t] > 0), out=dG[t])
            return dG[t] @ self.w_hh, None
        return step

    def _param_grads(self, xp, dG, dh, dc):
        T, B, GH = dG.shape
        H = self.hs.shape[2]
        need = self.needs_grad
        lstm = self.mode == "lstm"
        k = 3 if lstm else 2  # index of w_ih among the inputs
        d2 = dG.reshape(T * B, GH)
        gx = (d2 @ self.w_ih).reshape(self.x.shape) if need[0] else None
        gw_ih = d2.T @ self.x.reshape(T * B, -1) if need[k] else None
        gw_hh = None
        if need[k + 1]:
            if self.mode == "gru":
                gw_hh = xp.concatenate([self._prev_gemm(dG[..., :2 * H], self.hs, self.h0),
                                        d2[:, 2 * H:].T @ self.rh.reshape(T * B, H)])
            else:
                gw_hh = self._prev_gemm(dG, self.hs, self.h0)
        proj = ()
        if self.proj:  # dW_hr = sum_t dh_t^T (o_t * tanh(c_t))
            proj = (self.dhs.reshape(T * B, -1).T @ self.ms.reshape(T * B, -1) if need[k + 2] else None,)
        gb = d2.sum(axis=0) if any(need[k + 2 + len(proj):]) else None
        if lstm:
            inv = xp.argsort(self.perm)
            gw_ih, gw_hh, gb = (None if w is None else w[inv] for w in (gw_ih, gw_hh, gb))
        states = (dh, dc) if lstm else (dh,)
        return (gx,) + states + (gw_ih, gw_hh) + proj + (gb,) * self.n_bias


class Cell(Recurrence):
    """One step (T = 1) returning only the new state: h' for rnn and gru, (h', c') for lstm."""
    def forward(self, x, *rest):
        outs = super().forward(x[None], *rest)
        return outs[1:] if self.mode == "lstm" else outs[1]

    def backward(self, g_h, g_c=None):
        grads = super().backward(None, g_h, g_c)
        return (None if grads[0] is None else grads[0][0],) + grads[1:]
