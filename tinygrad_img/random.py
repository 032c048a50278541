"""One seeded random generator per device, so init, dropout, shuffling and
augmentation are reproducible after ``tg.manual_seed(seed)``."""
import numpy as np

from . import backend

_seed = None
_generators = {}


def manual_seed(seed):
    """Reset every device's generator from ``seed``."""
    global _seed
    _seed = int(seed)
    _generators.clear()


def generator(device="cpu"):
    """The generator of ``device``: numpy.random.Generator on "cpu", cupy's on "cuda"."""
    gen = _generators.get(device)
    if gen is None:
        if device == "cuda":
            gen = backend.cupy_module().random.default_rng(_seed)
        else:
            gen = np.random.default_rng(_seed)
        _generators[device] = gen
    return gen
