"""Module helpers for gradchecks of layers."""
import functools


def with_tensors(module, **tensors):
    """The module with some parameters replaced by plain tensors (so gradcheck can perturb them)."""
    for dotted, t in tensors.items():
        owner, _, name = dotted.rpartition(".")
        setattr(functools.reduce(getattr, owner.split("."), module) if owner else module, name, t)
    return module

