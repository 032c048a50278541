"""Adam (with AMSGrad and L2 weight decay) and AdamW (decoupled weight decay)."""
import math

from ..backend import get_array_module
from .optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """PyTorch's Adam, per parameter w with gradient g at step t:

        g <- g + weight_decay * w                          (L2; Adam only)
        m <- m + (1 - beta1) * (g - m)
        v <- beta2 * v + (1 - beta2) * g^2
        v_max <- max(v_max, v)                             (amsgrad; then used for v)
        w <- w - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """
    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        name = type(self).__name__
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"{name}: betas must be in [0, 1), got {betas}")
        if eps < 0 or weight_decay < 0:
            raise ValueError(f"{name}: eps ({eps}) and weight_decay ({weight_decay}) must be >= 0")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad))

    def _update(self, p, g, state, group):
        xp = get_array_module(p.data)
        lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p.data)
            state["exp_avg_sq"] = xp.zeros_like(p.data)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(p.data)
        state["step"] += 1
        t = state["step"]
        if wd and self._decoupled:
            p.data *= 1 - lr * wd
        elif wd:
            g = g + wd * p.data
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m += (g - m) * (1 - beta1)
        v *= beta2
        v += (1 - beta2) * g * g
        if group["amsgrad"]:
            v = xp.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        denom = xp.sqrt(v)
        denom /= math.sqrt(1 - beta2 ** t)
        denom += group["eps"]
        step_size = lr / (1 - beta1 ** t)
        p.data += -step_size * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay: w <- w * (1 - lr * weight_decay) before the Adam step
    (no L2 term in the gradient)."""
    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
