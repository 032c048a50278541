"""Model compression (``tg.compress``): pruning, 8-bit quantisation and low-rank factorisation.

    >>> import tinygrad_img as tg
    >>> tg.compress.l1_unstructured(model.fc, "weight", amount=0.5)   # mask half the weights
    >>> tg.compress.ln_structured(model.conv, "weight", 0.25, n=2, dim=0)  # drop output channels
    >>> q = tg.compress.quantize_dynamic(model)                     # int8 Linear weights
    >>> tg.compress.low_rank_linear(model.fc, rank=16)              # truncated-SVD factorisation
"""
from .low_rank import low_rank_linear, parameter_count, singular_values
from .prune import (global_unstructured, is_pruned, l1_unstructured, ln_structured, random_unstructured,
                    remove, sparsity)
from .quantize import (QuantizedConv2d, QuantizedLinear, QuantizedTensor, model_size_bytes, quantize_dynamic,
                       quantize_per_channel, quantize_per_tensor)

__all__ = ["l1_unstructured", "random_unstructured", "ln_structured", "global_unstructured", "remove",
           "is_pruned", "sparsity", "QuantizedTensor", "quantize_per_tensor", "quantize_per_channel",
           "QuantizedLinear", "QuantizedConv2d", "quantize_dynamic", "model_size_bytes", "low_rank_linear",
           "singular_values", "parameter_count"]
