"""The functional namespace ``F``: argument checking and composition over the ops.

One module per family; each lists its public names in ``__all__``.
"""
from .activation import *  # noqa: F401,F403
from .dense import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .image import *  # noqa: F401,F403
from .sequence import *  # noqa: F401,F403
