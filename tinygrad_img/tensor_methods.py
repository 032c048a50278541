"""Tensor operators and methods, attached to :class:`Tensor` (the free functions live in tensor_functions)."""
import numpy as np

from .ops import activation, elementwise as ew, reduce, shape as sh
from .tensor import Tensor
from .tensor_functions import add, div, matmul, maximum, minimum, mul, power, sub


def _reduce_axis(axis, dim):
    return axis if dim is None else dim


def _sum(self, axis=None, keepdims=False, dim=None, keepdim=None):
    """y = sum of x over ``axis`` (an int, a tuple, negative allowed; all axes when None);
    dx = g broadcast back over the reduced axes."""
    return reduce.Sum(_reduce_axis(axis, dim), keepdims if keepdim is None else keepdim)(self)


def _mean(self, axis=None, keepdims=False, dim=None, keepdim=None):
    """y = (1/n) sum of x over ``axis`` (n = number of reduced elements);  dx = g / n broadcast back."""
    return reduce.Mean(_reduce_axis(axis, dim), keepdims if keepdim is None else keepdim)(self)


def _max(self, axis=None, keepdims=False, dim=None, keepdim=None):
    """y = max of x over ``axis``;  dx = g / k at the k positions holding the max, 0 elsewhere."""
    return reduce.Max(_reduce_axis(axis, dim), keepdims if keepdim is None else keepdim, True)(self)


def _min(self, axis=None, keepdims=False, dim=None, keepdim=None):
    """y = min of x over ``axis``;  dx = g / k at the k positions holding the min, 0 elsewhere."""
    return reduce.Max(_reduce_axis(axis, dim), keepdims if keepdim is None else keepdim, False)(self)


def _var(self, axis=None, keepdims=False, ddof=0, dim=None, keepdim=None, unbiased=None, correction=None):
    """sum((x - mean(x))^2) / (n - ddof); NumPy's ddof=0 by default
    (``unbiased=True`` or ``correction=1`` give PyTorch's default). n - ddof <= 0 gives
    inf or nan, as NumPy and PyTorch do."""
    axis = _reduce_axis(axis, dim)
    keepdims = keepdims if keepdim is None else keepdim
    if unbiased is not None:
        ddof = int(unbiased)
    if correction is not None:
        ddof = correction
    axes = reduce.normalize_axis(axis, self.ndim, "var")
    n = int(np.prod([self.shape[a] for a in axes])) if axes else 1
    centred = self - self.mean(axis=axes, keepdims=True)
    squares = (centred * centred).sum(axis=axes, keepdims=keepdims)
    return squares / (n - ddof) if n != ddof else squares * float("inf")  # 0 * inf = nan, like 0 / 0


def _std(self, *args, **kwargs):
    """sqrt of ``var`` with the same arguments."""
    return _var(self, *args, **kwargs).sqrt()


def _argmax(self, axis=None, keepdims=False, dim=None, keepdim=None):
    """argmax_i x_i over ``axis`` (flattened when None): int64 indices, no gradient."""
    axis = _reduce_axis(axis, dim)
    keepdims = keepdims if keepdim is None else keepdim
    return Tensor._from_op(self.xp.argmax(self.data, axis=axis, keepdims=keepdims), None, 0)


def _argmin(self, axis=None, keepdims=False, dim=None, keepdim=None):
    """argmin_i x_i over ``axis`` (flattened when None): int64 indices, no gradient."""
    axis = _reduce_axis(axis, dim)
    keepdims = keepdims if keepdim is None else keepdim
    return Tensor._from_op(self.xp.argmin(self.data, axis=axis, keepdims=keepdims), None, 0)


def _shape_args(shape):
    """``f(2, 3)`` and ``f((2, 3))`` both mean the tuple (2, 3)."""
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


def _reshape(self, *shape):
    """y = the same elements, row-major, in a new shape (one -1 is inferred);  dx = g reshaped back."""
    shape = _shape_args(shape)
    return self if shape == self.shape else sh.Reshape(shape)(self)


def _transpose(self, *axes):
    """y = x with axes permuted;  dx = g with the inverse permutation.

    No axes reverses them all (NumPy); one full permutation applies it; two
    axes swap those two (PyTorch's ``transpose(dim0, dim1)``, also on 2-D,
    so ``m.transpose(0, 1)`` and ``m.transpose(-2, -1)`` are the matrix transpose).
    """
    axes = _shape_args(axes)
    if not axes:
        axes = None
    elif len(axes) == 2 and self.ndim >= 2:
        perm = list(range(self.ndim))
        (i,), (j,) = (reduce.normalize_axis(a, self.ndim, "transpose") for a in axes)
        perm[i], perm[j] = perm[j], perm[i]
        axes = tuple(perm)
    return sh.Transpose(axes)(self)


def _permute(self, *axes):
    """y = x with axes in the given order (``permute(2, 0, 1)``);  dx = g inversely permuted."""
    return sh.Transpose(_shape_args(axes))(self)


def _flatten(self, start_dim=0, end_dim=-1):
    """y = x reshaped with dims start_dim..end_dim merged into one (0-d becomes shape (1,))."""
    if self.ndim == 0:
        return self.reshape(1)
    (s,), (e,) = (reduce.normalize_axis(d, self.ndim, "flatten") for d in (start_dim, end_dim))
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {self.shape}")
    return self.reshape(self.shape[:s] + (-1,) + self.shape[e + 1:])


def _squeeze(self, axis=None, dim=None):
    """y = x reshaped without size-1 dims (all of them, or those of ``axis`` that have size 1)."""
    axis = _reduce_axis(axis, dim)
    if axis is None:
        shape = tuple(s for s in self.shape if s != 1)
    else:
        axes = reduce.normalize_axis(axis, self.ndim, "squeeze")
        shape = tuple(s for i, s in enumerate(self.shape) if not (i in axes and s == 1))
    return self.reshape(shape)


def _unsqueeze(self, axis=None, dim=None):
    """y = x reshaped with a size-1 dim inserted at ``axis`` (counted in the result's dims)."""
    axis = _reduce_axis(axis, dim)
    nd = self.ndim + 1
    if not -nd <= axis < nd:
        raise ValueError(f"unsqueeze: axis {axis} is out of range for a result with {nd} dims")
    axis %= nd
    return self.reshape(self.shape[:axis] + (1,) + self.shape[axis:])


def _expand(self, *shape):
    """y = x broadcast to ``shape`` (-1 keeps a dim);  dx = g summed over the broadcast axes."""
    shape = _shape_args(shape)
    lead = len(shape) - self.ndim
    if lead < 0 or any(s == -1 for s in shape[:lead]):
        raise ValueError(f"expand: cannot expand shape {self.shape} to {shape}")
    shape = tuple(self.shape[i - lead] if s == -1 else s for i, s in enumerate(shape))
    return self if shape == self.shape else sh.BroadcastTo(shape)(self)


def _index_data(index):
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


def _getitem(self, index):
    """y = x[index] (basic, integer-array and boolean indexing);  dx = zeros with g scattered
    back, repeated indices accumulating (np.add.at / cupyx.scatter_add)."""
    return sh.GetItem(_index_data(index))(self)


def _setitem(self, index, value):
    """In-place assignment into a tensor that is not part of a graph."""
    if self.requires_grad or self.creator is not None:
        from .autograd import is_grad_enabled
        if is_grad_enabled():
            raise RuntimeError("setitem: in-place assignment into a tensor that requires grad; "
                               "do it under tg.no_grad() or on a detached tensor")
    self.data[_index_data(index)] = value.data if isinstance(value, Tensor) else value


def _clip(self, min=None, max=None):
    """y = min(max(x, min), max);  dx = g where min <= x <= max, else 0."""
    if min is None and max is None:
        raise ValueError("clip: give at least one of min and max")
    min, max = (v.item() if isinstance(v, np.generic) else v for v in (min, max))  # NEP 50: no float64 promotion
    return ew.Clip(min, max)(self)


def _compare(fn, symbol):
    def op(self, other):
        other = other.data if isinstance(other, Tensor) else other
        return Tensor._from_op(fn(self.data, other), None, 0)
    op.__doc__ = f"Elementwise x {symbol} other with broadcasting: a bool tensor, no gradient."
    return op


def _softmax(self, axis=-1, dim=None):
    """y_i = e^{x_i - m} / sum_j e^{x_j - m} along ``axis`` (m = max);  dx = y (g - sum(g y))."""
    return activation.Softmax(_reduce_axis(axis, dim))(self)


def _log_softmax(self, axis=-1, dim=None):
    """y_i = x_i - m - log sum_j e^{x_j - m} along ``axis`` (log-sum-exp);  dx = g - softmax(x) sum(g)."""
    return activation.LogSoftmax(_reduce_axis(axis, dim))(self)


def _reflected(fn):
    def op(self, other):
        return fn(other, self)
    op.__doc__ = f"other {fn.__name__} self (the reflected operator). " + fn.__doc__
    return op


def _method(fn, doc):
    def m(self):
        return fn()(self)
    m.__doc__ = doc
    return m


_methods = dict(
    __add__=add, __radd__=_reflected(add), __sub__=sub, __rsub__=_reflected(sub),
    __mul__=mul, __rmul__=_reflected(mul), __truediv__=div, __rtruediv__=_reflected(div),
    __pow__=power, __rpow__=_reflected(power), __matmul__=matmul,
    __rmatmul__=_reflected(matmul), __neg__=_method(ew.Neg, "y = -x;  dx = -g."),
    __abs__=_method(ew.Abs, "y = |x|;  dx = g sign(x)."),
    __getitem__=_getitem, __setitem__=_setitem,
    __lt__=_compare(lambda a, b: a < b, "<"), __le__=_compare(lambda a, b: a <= b, "<="),
    __gt__=_compare(lambda a, b: a > b, ">"), __ge__=_compare(lambda a, b: a >= b, ">="),
    __eq__=_compare(lambda a, b: a == b, "=="), __ne__=_compare(lambda a, b: a != b, "!="),
    sum=_sum, mean=_mean, max=_max, min=_min, var=_var, std=_std, argmax=_argmax, argmin=_argmin,
    exp=_method(ew.Exp, "y = e^x;  dx = g y."), log=_method(ew.Log, "y = ln x;  dx = g / x."),
    sqrt=_method(ew.Sqrt, "y = sqrt(x);  dx = g / (2 y)."),
    abs=_method(ew.Abs, "y = |x|;  dx = g sign(x)."), neg=_method(ew.Neg, "y = -x;  dx = -g."),
    tanh=_method(activation.Tanh, "y = tanh x;  dx = g (1 - y^2)."),
    sigmoid=_method(activation.Sigmoid, "y = 1 / (1 + e^-x) (stable for large |x|);  dx = g y (1 - y)."),
    relu=_method(activation.ReLU, "y = max(0, x);  dx = g [x > 0]."), clip=_clip, clamp=_clip,
    reshape=_reshape, view=_reshape, flatten=_flatten, transpose=_transpose, permute=_permute,
    squeeze=_squeeze, unsqueeze=_unsqueeze, expand=_expand, broadcast_to=_expand,
    softmax=_softmax, log_softmax=_log_softmax,
    matmul=matmul, maximum=maximum, minimum=minimum, pow=power,
)
for _name, _fn in _methods.items():
    setattr(Tensor, _name, _fn)
Tensor.__hash__ = object.__hash__
Tensor.T = property(lambda self: self.transpose(), doc="x with all axes reversed (the matrix transpose on 2-D).")
