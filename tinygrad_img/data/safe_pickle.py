"""A restricted unpickler for data files such as the CIFAR-10 python batches.

``pickle.load`` runs whatever callables a file names (``os.system`` included).
:class:`RestrictedUnpickler` resolves a global only when it is one of the few
NumPy array/dtype reconstructors that a pickled ``ndarray`` needs; every other
global is refused with :class:`pickle.UnpicklingError` BEFORE it can be
called. ``_codecs.encode``, which Python 3 protocol-2 pickles use for bytes, is
admitted only as a latin-1 encoder. Plain containers and scalars (dict, list,
tuple, bytes, str, int, float, bool, None) need no global and load normally.
"""
import importlib
import pickle

import numpy as np


def _numpy_attr(module, name):
    """``module.name``, reading ``numpy.core.*`` (NumPy 1 pickles) from ``numpy._core.*`` on NumPy 2."""
    if module.startswith("numpy.core"):
        try:
            return getattr(importlib.import_module("numpy._core" + module[len("numpy.core"):]), name)
        except ImportError:
            pass
    return getattr(importlib.import_module(module), name)


def _latin1_encode(text, encoding):
    """What Python 3 protocol-2 pickles call to rebuild bytes: ``_codecs.encode(text, "latin1")``,
    admitted only with that codec."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode is allowed only as (str, 'latin1'), got "
                                     f"({type(text).__name__}, {encoding!r})")
    return text.encode("latin1")


ALLOWED_GLOBALS = frozenset([
    ("_codecs", "encode"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
])


class RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler whose ``find_class`` admits only :data:`ALLOWED_GLOBALS`."""

    source = "pickle"

    def find_class(self, module, name):
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"{self.source}: refusing to load global '{module}.{name}': only dicts, lists, bytes, "
                f"str, numbers and NumPy arrays are allowed in this data file (it may be corrupt or "
                f"malicious)")
        if module == "_codecs":
            return _latin1_encode
        return _numpy_attr(module, name)

    def persistent_load(self, pid):
        raise pickle.UnpicklingError(f"{self.source}: persistent references are not allowed")


def _check_plain(obj, source, depth=0):
    """Reject anything but containers, scalars and non-object ndarrays in the loaded tree."""
    if depth > 20:
        raise pickle.UnpicklingError(f"{source}: data nested too deeply")
    if isinstance(obj, dict):
        for k, v in obj.items():
            _check_plain(k, source, depth + 1)
            _check_plain(v, source, depth + 1)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _check_plain(v, source, depth + 1)
    elif isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise pickle.UnpicklingError(f"{source}: object arrays are not allowed")
    elif not isinstance(obj, (bytes, bytearray, str, int, float, bool, np.generic, type(None))):
        raise pickle.UnpicklingError(f"{source}: unexpected object of type {type(obj).__name__}")


def safe_load(file, source="pickle", encoding="bytes"):
    """Unpickle ``file`` (a binary file object) with :class:`RestrictedUnpickler`.

    ``encoding="bytes"`` reads Python 2 pickles (the CIFAR batches) with bytes keys.
    """
    unpickler = RestrictedUnpickler(file, encoding=encoding)
    unpickler.source = source
    obj = unpickler.load()
    _check_plain(obj, source)
    return obj
