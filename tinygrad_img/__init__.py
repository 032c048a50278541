"""tinygrad_img: a small deep-learning engine for image models on NumPy (CPU) and CuPy (GPU)."""
import os as _os
import sys as _sys

import numpy as _np


def _map_checkout_kernels():
    """In a source checkout the top-level ``kernels/`` folder becomes ``tinygrad_img.kernels``,
    exactly as setup.py installs it, so both layouts import the same names."""
    here = _os.path.dirname(_os.path.abspath(__file__))
    src = _os.path.join(_os.path.dirname(here), "kernels")
    if _os.path.isdir(_os.path.join(here, "kernels")) or not _os.path.isfile(_os.path.join(src, "__init__.py")):
        return
    import importlib.util
    spec = importlib.util.spec_from_file_location("tinygrad_img.kernels", _os.path.join(src, "__init__.py"),
                                                  submodule_search_locations=[src])
    module = importlib.util.module_from_spec(spec)
    _sys.modules["tinygrad_img.kernels"] = module
    spec.loader.exec_module(module)


_map_checkout_kernels()

from .autograd import Function, enable_grad, is_grad_enabled, no_grad
from .backend import cuda_available, get_array_module, get_default_device, set_default_device
from .creation import (arange, eye, full, full_like, ones, ones_like, rand, randn, tensor, zeros,
                       zeros_like)
from .gradcheck import GradcheckError, gradcheck
from .random import manual_seed
from .tensor import Tensor
from . import functional, nn  # noqa: E402
from . import optim  # noqa: E402
from .io import load, save  # noqa: E402
from . import data  # noqa: E402
from . import compress, decomposition  # noqa: E402
from . import boxes, explain, models  # noqa: E402
from .tensor_functions import cat, concatenate, matmul, maximum, minimum, pad, stack, where

float16, float32, float64 = _np.float16, _np.float32, _np.float64
int32, int64, bool_ = _np.int32, _np.int64, _np.bool_

__version__ = "0.1.0"
