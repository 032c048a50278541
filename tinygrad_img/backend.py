"""Devices: "cpu" runs on NumPy, "cuda" on CuPy.

Every op is written once against ``xp`` (the array module of its inputs), so
the same code runs on either device. Nothing in here copies silently: moving
data between devices happens only in :func:`to_device`, which ``Tensor.to``
calls when the user asks for it.
"""
import os

import numpy as np

DEVICES = ("cpu", "cuda")

_cupy = None
_cupy_error = None
_cupy_checked = False
_default_device = None


def _load_cupy():
    """Import CuPy once and check that a GPU answers; remember why not."""
    global _cupy, _cupy_error, _cupy_checked
    if _cupy_checked:
        return _cupy
    _cupy_checked = True
    try:
        import cupy
    except Exception as e:  # ImportError, or a broken CUDA install raising anything
        _cupy_error = (f"CuPy is not installed or failed to import ({e}); install it with "
                       "`pip install tinygrad_img[cuda12]` (or [cuda13]) to match your CUDA driver, "
                       "or use device='cpu'")
        return None
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no CUDA device found")
    except Exception as e:
        _cupy_error = (f"CuPy is installed but no usable GPU was found ({e}); "
                       "use device='cpu' or run on a machine with an NVIDIA GPU")
        return None
    _cupy = cupy
    return cupy


def cuda_available():
    """True when CuPy imports and at least one GPU answers."""
    return _load_cupy() is not None


def cupy_module():
    """The cupy module; raises a RuntimeError explaining what is missing."""
    cp = _load_cupy()
    if cp is None:
        raise RuntimeError(f"device 'cuda' requested but unavailable: {_cupy_error}")
    return cp


def check_device(device):
    """Normalise a device name ("cpu", "cuda", "cuda:0") and check it can be used."""
    if device is None:
        return get_default_device()
    name = str(device).lower()
    if name.startswith("cuda"):
        cupy_module()
        return "cuda"
    if name != "cpu":
        raise ValueError(f"unknown device {device!r}; expected one of {DEVICES}")
    return "cpu"


def set_default_device(device):
    """Device used by tensor factories when no ``device=`` is given ("cpu" or "cuda");
    raises if "cuda" is asked for without CuPy and a GPU."""
    global _default_device
    _default_device = check_device(device)


def get_default_device():
    """The default device: set_default_device's, else $TINYGRAD_IMG_DEVICE, else "cpu"."""
    global _default_device
    if _default_device is None:
        name = os.environ.get("TINYGRAD_IMG_DEVICE", "cpu") or "cpu"
        try:
            _default_device = check_device(name)
        except (RuntimeError, ValueError) as e:
            raise type(e)(f"{e} (from the environment variable TINYGRAD_IMG_DEVICE={name!r}; "
                          "unset it or set it to 'cpu')") from None
    return _default_device


def is_cupy_array(a):
    """True for a cupy.ndarray (never imports CuPy)."""
    return _cupy is not None and isinstance(a, _cupy.ndarray)


def device_of(array):
    """"cuda" for a CuPy array, else "cpu"."""
    return "cuda" if is_cupy_array(array) else "cpu"


def xp_of_device(device):
    """The array module of a checked device name: numpy for "cpu", cupy for "cuda"."""
    return cupy_module() if device == "cuda" else np


def get_array_module(*arrays):
    """numpy, or cupy when any argument is a CuPy array."""
    if _cupy is not None:
        for a in arrays:
            if isinstance(a, _cupy.ndarray):
                return _cupy
    return np


def stable_argsort(a):
    """Indices that sort the 1-D array ``a`` ascending, equal values kept in index order
    (NumPy needs kind="stable"; CuPy's argsort is always stable)."""
    xp = get_array_module(a)
    return np.argsort(a, kind="stable") if xp is np else xp.argsort(a)


def to_device(array, device):
    """Copy ``array`` to ``device`` (no copy when it is already there)."""
    device = check_device(device)
    if device == "cuda":
        return cupy_module().asarray(array)
    if is_cupy_array(array):
        return array.get()
    return np.asarray(array)


def check_same_device(op_name, arrays):
    """Raise when arrays of one op live on different devices."""
    if _cupy is None:
        return
    devices = {device_of(a) for a in arrays}
    if len(devices) > 1:
        raise RuntimeError(f"{op_name}: inputs are on different devices (cpu and cuda); "
                           "move them to one device first with .to('cuda') or .to('cpu')")
