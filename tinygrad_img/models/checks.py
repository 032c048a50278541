"""Argument checks shared by the model builders.

Every check raises a TypeError for a value of the wrong type and a ValueError for one out
of range, with a message naming the model and the offending argument and value.
"""
import math
import numbers

__all__ = ["check_positive_ints", "check_positive_numbers", "check_sizes", "check_width_divisor"]


def check_positive_ints(name, **values):
    """Raise unless every keyword value is an integer >= 1 (bools are refused)."""
    for key, v in values.items():
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{name}: {key} must be a positive integer, got {v!r}")
        if v < 1:
            raise ValueError(f"{name}: {key} must be a positive integer, got {v}")


def check_positive_numbers(name, **values):
    """Raise unless every keyword value is a finite real number > 0 (bools are refused)."""
    for key, v in values.items():
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"{name}: {key} must be a positive number, got {v!r}")
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"{name}: {key} must be a positive finite number, got {v}")


def check_width_divisor(name, width_divisor, widths):
    """Raise unless ``width_divisor`` is a positive divisor of every channel count in ``widths``."""
    check_positive_ints(name, width_divisor=width_divisor)
    if any(w % width_divisor for w in widths):
        raise ValueError(f"{name}: width_divisor ({width_divisor}) must be a positive divisor of every "
                         f"channel count in {tuple(widths)}")


def check_sizes(name, num_classes, in_channels):
    """Raise unless ``num_classes`` and ``in_channels`` are positive integers."""
    check_positive_ints(name, num_classes=num_classes, in_channels=in_channels)
