"""8-bit quantisation: x ≈ (q - zero_point) * scale with q an integer in [qmin, qmax].

    q = clamp(round(x * (1 / scale) + zero_point), qmin, qmax)     (round half to even)

bit for bit as PyTorch's CPU kernels compute it: x is taken in float32, the
reciprocal 1 / scale is a float32, and the zero point is added BEFORE the single
rounding. Per tensor, x * inv + zero_point is one fused multiply-add (rounded
once to float32, as FBGEMM's vector loop); per channel the product and the sum
are each rounded to float32 (FBGEMM's scalar ``Quantize``). Parameters come from
the range of x, widened to contain 0 (so 0 is exact), in float32 arithmetic as
``torch.ao.quantization.MinMaxObserver`` computes them:

    affine:    scale = (max - min) / (qmax - qmin),  zero_point = qmin - round(min / scale)
    symmetric: scale = max(|min|, |max|) / ((qmax - qmin) / 2),  zero_point = 0 (int8) or 128 (uint8)

(scale is at least float32's eps).

Inside the range every value is reconstructed to within scale / 2.
``quantize_dynamic`` stores the weights of Linear (and Conv2d) layers as int8
plus per-output-channel scales and dequantises them in each forward
(weight-only "fake" quantisation: 4x smaller weights, float arithmetic).
"""
import copy

import numpy as np

from .. import backend
from .. import functional as F
from ..data.dataset import as_array
from ..nn.conv import Conv2d
from ..nn.layers import Linear
from ..nn.module import Module
from ..tensor import Tensor

__all__ = ["QuantizedTensor", "quantize_per_tensor", "quantize_per_channel", "QuantizedLinear",
           "QuantizedConv2d", "quantize_dynamic", "model_size_bytes"]

_DTYPES = {"int8": np.int8, "uint8": np.uint8}


def _qrange(fn, dtype):
    name = np.dtype(dtype).name if dtype in (np.int8, np.uint8) else dtype
    if not isinstance(name, str) or name not in _DTYPES:
        raise ValueError(f"{fn}: dtype must be 'int8' or 'uint8', got {dtype!r}")
    info = np.iinfo(_DTYPES[name])
    return _DTYPES[name], int(info.min), int(info.max)


class QuantizedTensor:
    """Integer values ``int_repr`` with ``scale`` and ``zero_point`` (float32 -- float64 in a
    quantised layer cast by ``.double()`` -- and int64 arrays: 0-d per tensor, or one per slice
    along ``axis``); x ≈ (int_repr - zero_point) * scale."""

    def __init__(self, int_repr, scale, zero_point, axis=None):
        self.int_repr, self.scale, self.zero_point, self.axis = int_repr, scale, zero_point, axis

    def _bcast(self, a):
        if self.axis is None:
            return a
        shape = [1] * self.int_repr.ndim
        shape[self.axis] = -1
        return a.reshape(shape)

    def dequantize(self):
        """x^ = (q - zero_point) * scale as a Tensor of the scale's dtype (float32, or float64
        once a quantised layer's buffers were cast by ``Module.double()``)."""
        dtype = self.scale.dtype
        q = self.int_repr.astype(dtype) - self._bcast(self.zero_point).astype(dtype)
        return Tensor(q * self._bcast(self.scale), dtype=dtype)

    @property
    def shape(self):
        return tuple(self.int_repr.shape)

    @property
    def dtype(self):
        return self.int_repr.dtype

    @property
    def nbytes(self):
        """Bytes of the integer values, scales and zero points."""
        return int(self.int_repr.nbytes + self.scale.nbytes + self.zero_point.nbytes)

    def __repr__(self):
        axis = "per tensor" if self.axis is None else f"per channel along axis {self.axis}"
        return f"QuantizedTensor(shape={self.shape}, dtype={self.dtype}, {axis})"


def _qparams(xmin, xmax, qmin, qmax, symmetric):
    """scale (float32) and zero_point (int64) from the range, widened to include 0, every step
    in float32 as MinMaxObserver does (so the scales equal PyTorch's bit for bit)."""
    xp, f32 = backend.get_array_module(xmin), np.float32
    lo, hi = xp.minimum(xp.asarray(xmin, dtype=f32), f32(0)), xp.maximum(xp.asarray(xmax, dtype=f32), f32(0))
    eps = f32(np.finfo(f32).eps)
    if symmetric:
        scale = xp.maximum(xp.maximum(-lo, hi) / f32((qmax - qmin) / 2), eps)
        zp = xp.full(scale.shape, 0 if qmin < 0 else (qmin + qmax + 1) // 2, dtype=np.int64)
    else:
        scale = xp.maximum((hi - lo) / f32(qmax - qmin), eps)
        zp = xp.clip(qmin - xp.rint(lo / scale), qmin, qmax).astype(np.int64)
    return scale, zp


def _check_qparams(fn, x, scale, zero_point, shape, qmin, qmax):
    """scale / zero_point as float32 / int64 arrays on x's device, checked."""
    xp = backend.get_array_module(x)
    scale = xp.asarray(backend.to_device(as_array(scale), backend.device_of(x)), dtype=np.float32)
    zero_point = xp.asarray(backend.to_device(as_array(zero_point), backend.device_of(x)), dtype=np.int64)
    if scale.shape != shape or zero_point.shape != shape:
        raise ValueError(f"{fn}: scale {scale.shape} and zero_point {zero_point.shape} must have shape {shape}")
    bad = ~(xp.isfinite(scale) & (scale > 0))
    if bad.any():
        raise ValueError(f"{fn}: scale must be positive and finite, got {float(scale[bad].ravel()[0])}")
    bad = (zero_point < qmin) | (zero_point > qmax)
    if bad.any():
        raise ValueError(f"{fn}: zero_point {int(zero_point[bad].ravel()[0])} is outside [{qmin}, {qmax}]")
    return scale, zero_point


def _check_values(fn, x, derive):
    """Refuse NaN in x (it has no integer value), and also +-inf when the scale and zero point
    are to be derived from x's range."""
    xp = backend.get_array_module(x)
    bad = (~xp.isfinite(x) if derive else xp.isnan(x)).ravel()
    if bad.any():
        i = int(xp.flatnonzero(bad)[0])
        why = "the scale and zero point cannot be derived from its range" if derive else "NaN has no integer value"
        raise ValueError(f"{fn}: x has {int(bad.sum())} non-finite value(s), the first x.ravel()[{i}] = "
                         f"{float(x.ravel()[i])} (shape {tuple(x.shape)}); {why}")


def _quantize(x, scale, zp, qdtype, qmin, qmax, fused):
    """clamp(round(x * inv + zp)) in float32 with inv = float32(1 / scale): one fused
    multiply-add (exact in float64, then rounded to float32) when ``fused``, else the product and
    the sum each rounded to float32."""
    xp, f32 = backend.get_array_module(x), np.float32
    x, inv = x.astype(f32), f32(1) / scale
    if fused:
        t = (x.astype(np.float64) * inv.astype(np.float64) + zp).astype(f32)
    else:
        t = x * inv + zp.astype(f32)
    return xp.clip(xp.rint(t), qmin, qmax).astype(qdtype)


def quantize_per_tensor(x, scale=None, zero_point=None, dtype="int8", symmetric=False):
    """One scale and zero point for the whole tensor:
    q = clamp(round(x / scale + zero_point), qmin, qmax). Without ``scale``/``zero_point``
    they come from x's range (affine, or symmetric with zero_point 0 for int8, 128 for uint8).
    Returns a QuantizedTensor."""
    fn = "quantize_per_tensor"
    qdtype, qmin, qmax = _qrange(fn, dtype)
    x = as_array(x)
    if (scale is None) != (zero_point is None):
        raise ValueError(f"{fn}: give both scale and zero_point, or neither (got scale={scale}, "
                         f"zero_point={zero_point})")
    _check_values(fn, x, scale is None)
    if scale is None:
        if x.size == 0:
            raise ValueError(f"{fn}: cannot derive scale and zero_point from an empty tensor")
        scale, zero_point = _qparams(x.min(), x.max(), qmin, qmax, symmetric)
    scale, zero_point = _check_qparams(fn, x, scale, zero_point, (), qmin, qmax)
    return QuantizedTensor(_quantize(x, scale, zero_point, qdtype, qmin, qmax, True), scale, zero_point)


def quantize_per_channel(x, axis=0, scales=None, zero_points=None, dtype="int8", symmetric=False):
    """One scale and zero point per slice along ``axis`` (e.g. per output channel of a weight):
    q[..., c, ...] = clamp(round(x[..., c, ...] / scale[c] + zero_point[c]), qmin, qmax).
    Returns a QuantizedTensor."""
    fn = "quantize_per_channel"
    qdtype, qmin, qmax = _qrange(fn, dtype)
    x = as_array(x)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or x.ndim == 0 or \
            not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{fn}: axis={axis!r} must be an int in [{-x.ndim}, {x.ndim}) for a tensor of shape "
                         f"{x.shape}")
    axis %= x.ndim
    if (scales is None) != (zero_points is None):
        given = {k: None if v is None else f"shape {np.shape(as_array(v))}"
                 for k, v in (("scales", scales), ("zero_points", zero_points))}
        raise ValueError(f"{fn}: give both scales and zero_points, or neither (got scales: {given['scales']}, "
                         f"zero_points: {given['zero_points']})")
    _check_values(fn, x, scales is None)
    if scales is None:
        if x.size == 0:
            raise ValueError(f"{fn}: cannot derive scales and zero_points from an empty tensor")
        others = tuple(a for a in range(x.ndim) if a != axis)
        scales, zero_points = _qparams(x.min(axis=others), x.max(axis=others), qmin, qmax, symmetric)
    scales, zero_points = _check_qparams(fn, x, scales, zero_points, (x.shape[axis],), qmin, qmax)
    shape = [1] * x.ndim
    shape[axis] = -1
    q = _quantize(x, scales.reshape(shape), zero_points.reshape(shape), qdtype, qmin, qmax, False)
    return QuantizedTensor(q, scales, zero_points, axis)


class _QuantizedLayer(Module):
    """Holds ``weight_int`` (int8), ``weight_scale`` (in the float layer's dtype) and
    ``weight_zero_point`` (per output channel) as buffers; ``weight`` is their dequantisation,
    recomputed on each access, in the scale's dtype (so ``.double()`` before or after works)."""

    def _store(self, layer, symmetric):
        qt = quantize_per_channel(layer.weight.detach(), axis=0, symmetric=symmetric)
        self.register_buffer("weight_int", qt.int_repr)
        self.register_buffer("weight_scale", Tensor(qt.scale, dtype=layer.weight.dtype))   # float64 stays
        self.register_buffer("weight_zero_point", qt.zero_point)
        self.bias = layer.bias

    @property
    def weight_quantized(self):
        return QuantizedTensor(self.weight_int.data, self.weight_scale.data, self.weight_zero_point.data, 0)

    @property
    def weight(self):
        return self.weight_quantized.dequantize()


class QuantizedLinear(_QuantizedLayer):
    """y = x dequant(W_q)^T + b with W_q int8 per output feature, built from a float nn.Linear."""

    def __init__(self, linear, symmetric=True):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self._store(linear, symmetric)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 weight"


class QuantizedConv2d(_QuantizedLayer):
    """conv2d(x, dequant(W_q), b) with W_q int8 per output channel and the float layer's
    stride, padding, dilation and groups."""

    def __init__(self, conv, symmetric=True):
        super().__init__()
        for k in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups"):
            setattr(self, k, getattr(conv, k))
        self._store(conv, symmetric)

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self):
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, int8 weight"


_QUANTIZED = {Linear: QuantizedLinear, Conv2d: QuantizedConv2d}


def quantize_dynamic(model, types=(Linear,), symmetric=True, inplace=False):
    """Replace every layer of ``types`` (Linear, Conv2d) inside ``model`` by its int8 version
    (per-output-channel weights; bias kept in float). Returns the quantised model: a deep
    copy unless ``inplace``. A bare Linear/Conv2d model is returned converted."""
    types = tuple(types)
    bad = [t for t in types if t not in _QUANTIZED]
    if not types or bad:
        raise ValueError(f"quantize_dynamic: types must be among (Linear, Conv2d), got {types}")
    if not isinstance(model, Module):
        raise TypeError(f"quantize_dynamic: expected a Module, got {type(model).__name__}")
    model = model if inplace else copy.deepcopy(model)
    if type(model) in types:
        return _QUANTIZED[type(model)](model, symmetric)
    for m in list(model.modules()):
        for name, child in list(m._modules.items()):
            if type(child) in types:
                m._modules[name] = _QUANTIZED[type(child)](child, symmetric)
    return model


def model_size_bytes(model):
    """Bytes of every parameter and persistent buffer in ``model.state_dict()``."""
    return int(sum(t.data.nbytes for t in model.state_dict().values()))
