"""Weight penalties added to the training loss, as ``keras.regularizers``.

  L1(l1):        penalty(W) = l1 * sum |W|
  L2(l2):        penalty(W) = l2 * sum W^2          (Keras' L2 has no 1/2)
  L1L2(l1, l2):  penalty(W) = l1 * sum |W| + l2 * sum W^2

Layers with weights take ``kernel_regularizer=`` and ``bias_regularizer=`` (an
object, a name "l1" / "l2" / "l1_l2" meaning factor 0.01 as in Keras, or a saved
config dict; a Regularizer class is instantiated with its defaults, as Keras
does); ``fit`` and ``evaluate`` add every layer's penalties to the loss
they minimise and report. L2 on the kernel is the articles' "L2 regularisation";
the optimisers' ``weight_decay`` is the decoupled alternative.
"""
import math
from numbers import Real

from ..tensor import Tensor

__all__ = ["Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "get", "serialize"]


def _factor(name, value):
    """``value`` as a float, checked to be a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name}: the factor must be a number, got {value!r} ({type(value).__name__})")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name}: the factor must be a finite non-negative number, got {float(value)}")
    return float(value)


class Regularizer:
    """A callable ``penalty(weight) -> scalar Tensor``; subclasses give ``__call__`` and ``get_config``."""

    def __call__(self, weight):
        raise NotImplementedError

    def get_config(self):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in self.get_config().items())})"


class L1L2(Regularizer):
    """penalty(W) = l1 * sum |W| + l2 * sum W^2."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = _factor("L1L2 l1", l1), _factor("L1L2 l2", l2)

    def __call__(self, weight):
        penalty = Tensor(0.0, dtype=weight.dtype, device=weight.device)
        if self.l1:
            penalty = penalty + self.l1 * abs(weight).sum()
        if self.l2:
            penalty = penalty + self.l2 * (weight * weight).sum()
        return penalty

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """penalty(W) = l1 * sum |W|."""

    def __init__(self, l1=0.01):
        super().__init__(l1=_factor("L1", l1))

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """penalty(W) = l2 * sum W^2."""

    def __init__(self, l2=0.01):
        super().__init__(l2=_factor("L2", l2))

    def get_config(self):
        return {"l2": self.l2}


def l1(l1=0.01):
    return L1(l1)


def l2(l2=0.01):
    return L2(l2)


def l1_l2(l1=0.01, l2=0.01):
    return L1L2(l1, l2)


_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": lambda: L1L2(0.01, 0.01), "l1l2": lambda: L1L2(0.01, 0.01)}
_CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2}


def get(identifier):
    """A Regularizer from None, an instance or callable, a name, ``serialize``'s dict, or a
    Regularizer subclass (L1, L2, L1L2: instantiated with its default factors, as Keras does)."""
    if isinstance(identifier, type):
        if issubclass(identifier, Regularizer) and identifier is not Regularizer:
            return identifier()
        raise TypeError(f"regularizers.get: {identifier!r} is a class, not a regularizer; pass an instance "
                        f"such as L2(0.01), a name 'l1' / 'l2' / 'l1_l2' or a callable weight -> penalty")
    if identifier is None or isinstance(identifier, Regularizer) or callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    if isinstance(identifier, dict) and identifier.get("class_name") in _CLASSES:
        return _CLASSES[identifier["class_name"]](**identifier.get("config", {}))
    raise ValueError(f"regularizers.get: unknown regularizer {identifier!r}; use 'l1', 'l2', 'l1_l2', "
                     f"an L1/L2/L1L2 object or a callable")


def serialize(regularizer):
    """A JSON-ready dict for save_model (a plain callable cannot be saved)."""
    if regularizer is None:
        return None
    if not isinstance(regularizer, Regularizer):
        raise ValueError(f"regularizers.serialize: a custom callable regularizer {regularizer!r} cannot be "
                         f"saved; use L1, L2 or L1L2")
    return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}
