"""Batch transforms for image augmentation, on CPU (NumPy) or GPU (CuPy).

Every transform takes a whole NCHW floating-point batch (a NumPy array, a
CuPy array or a Tensor) and returns the same kind, shape and dtype (except
the crops, whose output size is their ``size``). Random transforms draw one
set of parameters per image from ``tinygrad_img.random.generator(device)``:
call ``tg.manual_seed(s)`` for reproducible augmentation.

    >>> from tinygrad_img.data import transforms as T
    >>> aug = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(),
    ...                  T.Normalize((0.49, 0.48, 0.45), (0.25, 0.24, 0.26))])
"""
from .transforms_base import Compose, Normalize, ToTensor, Transform
from .transforms_color import ColorJitter, GaussianNoise, adjust_hue, hsv_to_rgb, rgb_to_hsv
from .transforms_geometric import (RandomCrop, RandomHorizontalFlip, RandomResizedCrop, RandomRotation,
                                   RandomScale, RandomVerticalFlip)

__all__ = ["Transform", "Compose", "ToTensor", "Normalize", "RandomHorizontalFlip", "RandomVerticalFlip",
           "RandomCrop", "RandomRotation", "RandomScale", "RandomResizedCrop", "ColorJitter",
           "GaussianNoise", "rgb_to_hsv", "hsv_to_rgb", "adjust_hue"]
