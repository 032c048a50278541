"""Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay."""
from .optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    """PyTorch's SGD, per parameter with gradient g:

        g <- g + weight_decay * w
        buf <- g (first step), else buf <- momentum * buf + (1 - dampening) * g
        g <- g + momentum * buf (nesterov) or buf (momentum > 0)
        w <- w - lr * g

    With momentum 0 this is the articles' update Delta w = -eta * dL/dw.
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
        if momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: momentum ({momentum}) and weight_decay ({weight_decay}) must be >= 0")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"SGD: nesterov needs momentum > 0 and dampening 0, got momentum={momentum}, "
                             f"dampening={dampening}")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                                      weight_decay=weight_decay))

    def _update(self, p, g, state, group):
        lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
        if wd:
            g = g + wd * p.data
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * g
            g = g + momentum * buf if group["nesterov"] else buf
        p.data += -lr * g
