"""Keras optimisers with Keras argument names, driving ``tg.optim`` underneath.

The model calls ``build(parameters)`` when it is compiled; ``learning_rate``
may be read and assigned at any time (callbacks do), and the new value goes to
every parameter group of the underlying optimiser.
"""
from .. import optim

__all__ = ["Optimizer", "SGD", "Adam", "RMSprop", "get", "serialize"]


class Optimizer:
    """Base class: subclasses build ``self.impl`` (a ``tg.optim`` optimiser) in ``_make``."""

    def __init__(self, learning_rate):
        self._learning_rate = float(learning_rate)
        self.impl = None

    def build(self, parameters):
        self.impl = self._make(list(parameters))
        return self

    @property
    def learning_rate(self):
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._learning_rate = float(value)
        if self.impl is not None:
            for group in self.impl.param_groups:
                group["lr"] = self._learning_rate

    lr = learning_rate

    def zero_grad(self):
        self.impl.zero_grad()

    def step(self):
        self.impl.step()

    def get_config(self):
        raise NotImplementedError


class SGD(Optimizer):
    """v <- momentum v - lr g;  w <- w + v (or the Nesterov look-ahead); plain w <- w - lr g
    without momentum. Keras' form equals PyTorch's for a constant learning rate."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None):
        super().__init__(learning_rate)
        self.momentum, self.nesterov, self.weight_decay = momentum, nesterov, weight_decay

    def _make(self, params):
        return optim.SGD(params, lr=self.learning_rate, momentum=self.momentum, nesterov=self.nesterov,
                         weight_decay=self.weight_decay or 0.0)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "momentum": self.momentum, "nesterov": self.nesterov,
                "weight_decay": self.weight_decay}


class Adam(Optimizer):
    """m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2;  w <- w - lr m^ / (sqrt(v^) + epsilon)
    with bias-corrected m^, v^."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 weight_decay=None):
        super().__init__(learning_rate)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.amsgrad, self.weight_decay = amsgrad, weight_decay

    def _make(self, params):
        return optim.Adam(params, lr=self.learning_rate, betas=(self.beta_1, self.beta_2), eps=self.epsilon,
                          weight_decay=self.weight_decay or 0.0, amsgrad=self.amsgrad)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad, "weight_decay": self.weight_decay}


class RMSprop(Optimizer):
    """v <- rho v + (1-rho) g^2;  w <- w - lr g / (sqrt(v) + epsilon) (with optional momentum)."""

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 weight_decay=None):
        super().__init__(learning_rate)
        self.rho, self.momentum, self.epsilon = rho, momentum, epsilon
        self.centered, self.weight_decay = centered, weight_decay

    def _make(self, params):
        return optim.RMSprop(params, lr=self.learning_rate, alpha=self.rho, eps=self.epsilon,
                             momentum=self.momentum, centered=self.centered,
                             weight_decay=self.weight_decay or 0.0)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered, "weight_decay": self.weight_decay}


_BY_NAME = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop}


def get(identifier, config=None):
    """An Optimizer from a name ("adam", "sgd", "rmsprop", any case) with optional config, or as given."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()](**(config or {}))
    raise ValueError(f"unknown optimizer {identifier!r}; use one of {sorted(_BY_NAME)} or an optimizer object")


def serialize(optimizer):
    """{"class_name": ..., "config": ...} for the saved model's metadata."""
    return {"class_name": type(optimizer).__name__.lower(), "config": optimizer.get_config()}
