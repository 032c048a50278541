"""Layers (``tg.nn``): Module, Parameter and the PyTorch-style layer classes."""
from .module import Module, Parameter  # noqa: F401
from .containers import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .norm import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
from .attention import *  # noqa: F401,F403
from . import init, utils  # noqa: F401,E402
