"""RMSprop, optionally centred and with momentum."""
from ..backend import get_array_module
from .optimizer import Optimizer

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """PyTorch's RMSprop, per parameter w with gradient g:

        g <- g + weight_decay * w
        s <- alpha * s + (1 - alpha) * g^2
        avg <- sqrt(s - a^2) + eps with a <- a + (1 - alpha) * (g - a)   (centered)
               sqrt(s) + eps                                              (otherwise)
        buf <- momentum * buf + g / avg;  w <- w - lr * buf               (momentum > 0)
        w <- w - lr * g / avg                                             (otherwise)
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        if not 0.0 <= alpha <= 1.0 or eps < 0 or weight_decay < 0 or momentum < 0:
            raise ValueError(f"RMSprop: need 0 <= alpha <= 1 and eps, weight_decay, momentum >= 0; got "
                             f"alpha={alpha}, eps={eps}, weight_decay={weight_decay}, momentum={momentum}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered))

    def _update(self, p, g, state, group):
        xp = get_array_module(p.data)
        lr, alpha, wd, momentum = group["lr"], group["alpha"], group["weight_decay"], group["momentum"]
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p.data)
            if momentum > 0:
                state["momentum_buffer"] = xp.zeros_like(p.data)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(p.data)
        state["step"] += 1
        if wd:
            g = g + wd * p.data
        s = state["square_avg"]
        s *= alpha
        s += (1 - alpha) * g * g
        if group["centered"]:
            a = state["grad_avg"]
            a += (g - a) * (1 - alpha)
            avg = xp.sqrt(s - a * a)
        else:
            avg = xp.sqrt(s)
        avg += group["eps"]
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += g / avg
            p.data += -lr * buf
        else:
            p.data += -lr * (g / avg)
