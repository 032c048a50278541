"""Argument checks shared by the model builders."""

__all__ = ["check_width_divisor", "check_sizes"]


def check_width_divisor(name, width_divisor, widths):
    """Raise unless ``width_divisor`` is a positive divisor of every channel count in ``widths``."""
    if width_divisor < 1 or any(w % width_divisor for w in widths):
        raise ValueError(f"{name}: width_divisor ({width_divisor}) must be a positive divisor of every "
                         f"channel count in {tuple(widths)}")


def check_sizes(name, num_classes, in_channels):
    """Raise unless ``num_classes`` and ``in_channels`` are positive."""
    if num_classes < 1 or in_channels < 1:
        raise ValueError(f"{name}: num_classes ({num_classes}) and in_channels ({in_channels}) must be positive")
