"""Explainability: Grad-CAM (Selvaraju et al., 2017) heat maps of where a CNN looks.

For a class score y_c (the model's output before softmax) and the activations
A (N, K, h, w) of a convolutional ``target_layer``:
  alpha_k = 1/(h w) sum_{i,j} d y_c / d A_k(i, j)       (global-average-pooled gradients)
  cam     = relu(sum_k alpha_k A_k)                      (h, w)
which is upsampled bilinearly to the input's H x W and divided by its maximum, so each
image's map lies in [0, 1] (an all-zero map stays zero).
"""
import numpy as np

from . import functional as F
from .autograd import enable_grad, no_grad
from .backend import get_array_module
from .tensor import Tensor, as_tensor

__all__ = ["grad_cam", "overlay"]


def _class_indices(class_index, logits):
    n, classes = logits.shape
    if class_index is None:
        return np.asarray(logits.numpy().argmax(axis=1), dtype=np.int64)
    raw = np.asarray(class_index.numpy() if isinstance(class_index, Tensor) else class_index)
    if raw.dtype.kind not in "iu":   # refuses floats (1.7 is not class 1) and bools (True is not class 1)
        raise TypeError(f"grad_cam: class_index must be an int or a sequence of ints, got {class_index!r}")
    idx = np.broadcast_to(raw.astype(np.int64), (n,)) if raw.ndim == 0 else raw.astype(np.int64)
    if idx.shape != (n,) or idx.min() < 0 or idx.max() >= classes:
        raise ValueError(f"grad_cam: class_index must be an int or {n} ints in [0, {classes}), "
                         f"got {class_index!r}")
    return idx


def grad_cam(model, x, target_layer, class_index=None):
    """Grad-CAM heat maps (N, H, W) in [0, 1] for the images x (N, C, H, W) (see module docstring).

    ``class_index``: None (each image's arg-max class), an int, or one int per image; floats
    and bools are refused with a TypeError rather than truncated to a class.
    The model runs in eval mode; afterwards its train/eval modes, its parameters'
    ``requires_grad`` flags and ``.grad`` values are as before, and no hook is left on
    ``target_layer``. Only the target layer's output is differentiated (it becomes a fresh
    leaf), so nothing upstream of it records a graph.
    """
    if not any(m is target_layer for m in model.modules()):
        raise ValueError(f"grad_cam: target_layer {type(target_layer).__name__} is not a submodule of "
                         f"{type(model).__name__}")
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"grad_cam: expected images (N, C, H, W), got shape {x.shape}")
    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    captured = []

    def capture(module, inputs, output):
        if output.ndim != 4:
            raise ValueError(f"grad_cam: target_layer {type(module).__name__} must output a 4-D tensor "
                             f"(N, K, h, w), got shape {output.shape}")
        leaf = Tensor(output.data, requires_grad=True, dtype=output.dtype)
        captured.append(leaf)
        return leaf

    handle = target_layer.register_forward_hook(capture)
    try:
        model.eval()
        model.requires_grad_(False)
        with enable_grad():
            logits = model(Tensor(x.data, dtype=x.dtype))
        if logits.ndim != 2 or len(captured) != 1:
            raise ValueError(f"grad_cam: the model must return class scores (N, classes) and call "
                             f"target_layer once; got output shape {logits.shape} and {len(captured)} calls")
        idx = _class_indices(class_index, logits)
        onehot = np.zeros(logits.shape, dtype=logits.dtype)
        onehot[np.arange(len(idx)), idx] = 1
        (logits * Tensor(onehot, dtype=logits.dtype, device=logits.device)).sum().backward()
    finally:
        handle.remove()
        for p, flag in flags:
            p.requires_grad_(flag)
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
    acts = captured[0].data
    xp = get_array_module(acts)
    grads = xp.zeros_like(acts) if captured[0].grad is None else captured[0].grad.data
    with no_grad():
        weights = grads.mean(axis=(2, 3), keepdims=True)
        cam = Tensor((weights * acts).sum(axis=1, keepdims=True), dtype=acts.dtype).relu()
        cam = F.interpolate(cam, size=tuple(x.shape[2:]), mode="bilinear").data[:, 0]
    peak = cam.reshape(len(cam), -1).max(axis=1).reshape(-1, 1, 1)
    return Tensor(cam / xp.where(peak > 0, peak, 1).astype(cam.dtype), dtype=cam.dtype)


def overlay(image, heatmap, alpha=0.4, colormap="jet"):
    """Blend a heat map over an image: (1 - alpha) * image + alpha * colormap(heatmap).

    ``image``: (H, W), (H, W, 3) or (3, H, W), floats in [0, 1] or uint8; ``heatmap``: (H, W)
    in [0, 1] (a Tensor or array). Returns a float32 RGB array (H, W, 3) in [0, 1].
    """
    from matplotlib import colormaps

    img = np.asarray(image.numpy() if isinstance(image, Tensor) else image)
    heat = np.asarray(heatmap.numpy() if isinstance(heatmap, Tensor) else heatmap, dtype=np.float64)
    img = img / 255.0 if img.dtype == np.uint8 else img.astype(np.float64)
    if img.ndim == 3 and img.shape[0] == 3 and img.shape[-1] != 3:
        img = img.transpose(1, 2, 0)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] != 3 or heat.shape != img.shape[:2] or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"overlay: expected an (H, W[, 3]) image, an (H, W) heat map of the same size and "
                         f"alpha in [0, 1]; got image {np.shape(image)}, heat map {heat.shape}, alpha {alpha}")
    colored = colormaps[colormap](np.clip(heat, 0.0, 1.0))[..., :3]
    return np.clip((1.0 - alpha) * img + alpha * colored, 0.0, 1.0).astype(np.float32)
