"""Numerical gradient checking.

For a random upstream gradient G, the scalar L = sum_k <f_k(x), G_k> has
dL/dx = the vector-Jacobian product that backward computes. Each element of
every input that requires grad is nudged by +-eps and
(L(x + eps) - L(x - eps)) / (2 eps) is compared with the analytic value:
|analytic - numeric| <= atol + rtol * |numeric|. Everything runs in float64.
"""
import numpy as np

from .autograd import no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Analytic and numeric gradients disagree (the message names the input and element)."""


def _outputs(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _scalar(outs, weights):
    total = 0.0
    for o, w in zip(outs, weights):
        if w is not None:
            total = total + (o.astype(np.float64).numpy() * w).sum()
    return float(total)


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, seed=0):
    """Compare backward with central differences for every input with ``requires_grad``.

    ``fn(*inputs)`` returns a Tensor or a tuple of Tensors. Float inputs are
    converted to float64 copies first. Returns True on success; on failure
    raises :class:`GradcheckError` (or returns False when ``raise_exception``
    is False).
    """
    inputs = list(inputs) if isinstance(inputs, (tuple, list)) else [inputs]
    xs = []
    for t in inputs:
        if isinstance(t, Tensor) and t.dtype.kind == "f":
            xs.append(Tensor(np.array(t.numpy(), dtype=np.float64, order="C", copy=True), dtype=np.float64,
                             device=t.device, requires_grad=t.requires_grad))
        else:
            xs.append(t)
    checked = [i for i, t in enumerate(xs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")

    rng = np.random.default_rng(seed)
    outs = _outputs(fn(*xs))
    weights = [rng.standard_normal(o.shape) if o.requires_grad and o.dtype.kind == "f" else None
               for o in outs]
    if all(w is None for w in weights):
        raise ValueError("gradcheck: no output of fn requires grad")
    for o, w in zip(outs, weights):
        if w is not None:
            o.backward(Tensor(w, dtype=o.dtype), retain_graph=True)

    for i in checked:
        x = xs[i]
        analytic = np.zeros(x.shape) if x.grad is None else x.grad.numpy()
        if x.grad is not None and (x.grad.shape != x.shape or x.grad.dtype != x.dtype):
            return _fail(raise_exception, f"gradcheck: input {i} has grad of shape {x.grad.shape} and dtype "
                                          f"{x.grad.dtype}, expected {x.shape} and {x.dtype}")
        numeric = np.zeros(x.shape)
        flat = x.data.reshape(-1)  # a view: inputs were made contiguous above
        with no_grad():
            for k in range(x.size):
                orig = flat[k].item()
                flat[k] = orig + eps
                plus = _scalar(_outputs(fn(*xs)), weights)
                flat[k] = orig - eps
                minus = _scalar(_outputs(fn(*xs)), weights)
                flat[k] = orig
                numeric.reshape(-1)[k] = (plus - minus) / (2 * eps)
        err = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if (err > 0).any() or not np.isfinite(analytic).all():
            k = np.unravel_index(int(np.nanargmax(np.where(np.isfinite(err), err, np.inf))), x.shape)
            return _fail(raise_exception,
                         f"gradcheck: input {i} (shape {x.shape}) disagrees at element {tuple(int(v) for v in k)}: "
                         f"analytic {analytic[k]:.8g}, numeric {numeric[k]:.8g} "
                         f"(atol={atol}, rtol={rtol}, eps={eps})")
    return True


def _fail(raise_exception, message):
    if raise_exception:
        raise GradcheckError(message)
    return False
