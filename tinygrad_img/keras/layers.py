"""``tinygrad_img.keras.layers``: every Keras layer class (channels-last images)."""
from .layer import Layer  # noqa: F401
from .layers_augment import *  # noqa: F401,F403
from .layers_conv import *  # noqa: F401,F403
from .layers_core import *  # noqa: F401,F403
from .layers_norm import *  # noqa: F401,F403
from .layers_rnn import *  # noqa: F401,F403
from . import layers_augment, layers_conv, layers_core, layers_norm, layers_rnn

__all__ = ["Layer"] + layers_core.__all__ + layers_norm.__all__ + layers_conv.__all__ + layers_rnn.__all__ \
    + layers_augment.__all__
