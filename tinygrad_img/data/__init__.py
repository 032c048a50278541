"""tg.data: datasets, the DataLoader, batch transforms and the image data sets.

    >>> import tinygrad_img as tg
    >>> (x, y), (xt, yt) = tg.data.datasets.load_digits()
    >>> loader = tg.data.DataLoader(tg.data.TensorDataset(x, y), batch_size=64, shuffle=True, seed=0)
    >>> for xb, yb in loader: ...          # float32 (64, 1, 8, 8) and int64 (64,) tensors
"""
from . import datasets, transforms
from .dataset import Dataset, Subset, TensorDataset, random_split
from .loader import DataLoader
from . import sampler
from .sampler import (WeightedRandomSampler, class_weights, oversample_indices, sample_weights,
                      undersample_indices)

__all__ = ["Dataset", "TensorDataset", "Subset", "DataLoader", "random_split", "datasets", "transforms",
           "sampler", "WeightedRandomSampler", "class_weights", "sample_weights", "oversample_indices",
           "undersample_indices"]
