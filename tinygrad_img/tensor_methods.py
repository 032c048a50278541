"""Tensor operators, methods and the free functions built on the same ops."""
import numpy as np

from .backend import get_array_module
from .ops import activation, elementwise as ew, linalg, reduce, shape as sh
from .tensor import Tensor, _wrap_scalar


def _binary(fn, name):
    def op(a, b):
        a = _wrap_scalar(a, b) if not isinstance(a, Tensor) else a
        b = _wrap_scalar(b, a)
        try:
            return fn()(a, b)
        except ValueError as e:
            if "broadcast" in str(e):
                raise ValueError(f"{name}: shapes {a.shape} and {b.shape} cannot be broadcast together") from None
            raise
    op.__name__ = name
    return op


add = _binary(ew.Add, "add")
sub = _binary(ew.Sub, "sub")
mul = _binary(ew.Mul, "mul")
div = _binary(ew.Div, "div")
power = _binary(ew.Pow, "pow")
maximum = _binary(ew.Maximum, "maximum")
minimum = _binary(ew.Minimum, "minimum")


def matmul(a, b):
    """a @ b with NumPy's rules: 1-D operands are promoted to matrices and the added dim removed."""
    a = a if isinstance(a, Tensor) else _wrap_scalar(a, b)
    b = _wrap_scalar(b, a)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least one dim, got shapes {a.shape} and {b.shape}")
    a2 = a.reshape(1, -1) if a.ndim == 1 else a
    b2 = b.reshape(-1, 1) if b.ndim == 1 else b
    try:
        y = linalg.MatMul()(a2, b2)
    except ValueError:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned") from None
    if a.ndim == 1:
        y = y.squeeze(-2)
    if b.ndim == 1:
        y = y.squeeze(-1)
    return y


def where(cond, a, b):
    """a where cond else b, broadcasting all three."""
    ref = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else None
    if ref is None:
        ref = Tensor(a)
    a, b = _wrap_scalar(a, ref), _wrap_scalar(b, ref)
    c = cond.data if isinstance(cond, Tensor) else get_array_module(a.data).asarray(cond)
    return ew.Where(c.astype(bool, copy=False))(a, b)


def concatenate(tensors, axis=0, dim=None):
    """Join tensors along an existing axis (alias ``cat``)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concatenate: needs at least one tensor")
    tensors = [_wrap_scalar(t, tensors[0]) if not isinstance(t, Tensor) else t for t in tensors]
    return sh.Concatenate(axis if dim is None else dim)(*tensors)


cat = concatenate


def stack(tensors, axis=0, dim=None):
    """Join tensors along a new axis."""
    axis = axis if dim is None else dim
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: needs at least one tensor")
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    return concatenate([t.unsqueeze(axis) for t in tensors], axis=axis)


def pad(x, pad_width, value=0.0):
    """Constant padding with NumPy's ``pad_width`` (an int, a pair, or one pair per axis)."""
    return sh.Pad(pad_width, value)(x)


# ----- methods
def _reduce_axis(axis, dim):
    return axis if dim is None else dim


def _sum(self, axis=None, keepdims=False, dim=None, keepdim=None):
    """sum over ``axis`` (all by default)."""
    return reduce.Sum(_reduce_axis(axis, dim), keepdims if keepdim is None else keepdim)(self)


def _mean(self, axis=None, keepdims=False, dim=None, keepdim=None):
    """(1/n) sum over ``axis``."""
    return reduce.Mean(_reduce_axis(axis, dim), keepdims if keepdim is None else keepdim)(self)


def _max(self, axis=None, keepdims=False, dim=None, keepdim=None):
    """max over ``axis``; ties share the gradient."""
    return reduce.Max(_reduce_axis(axis, dim), keepdims if keepdim is None else keepdim, True)(self)


def _min(self, axis=None, keepdims=False, dim=None, keepdim=None):
    """min over ``axis``; ties share the gradient."""
    return reduce.Max(_reduce_axis(axis, dim), keepdims if keepdim is None else keepdim, False)(self)


def _var(self, axis=None, keepdims=False, ddof=0, dim=None, keepdim=None, unbiased=None, correction=None):
    """mean((x - mean(x))^2) * n / (n - ddof); NumPy's ddof=0 by default
    (``unbiased=True`` or ``correction=1`` give PyTorch's default)."""
    axis = _reduce_axis(axis, dim)
    keepdims = keepdims if keepdim is None else keepdim
    if unbiased is not None:
        ddof = int(unbiased)
    if correction is not None:
        ddof = correction
    axes = reduce.normalize_axis(axis, self.ndim, "var")
    n = int(np.prod([self.shape[a] for a in axes])) if axes else 1
    centred = self - self.mean(axis=axes, keepdims=True)
    return (centred * centred).sum(axis=axes, keepdims=keepdims) / max(n - ddof, 1)


def _std(self, *args, **kwargs):
    """sqrt of ``var`` with the same arguments."""
    return _var(self, *args, **kwargs).sqrt()


def _argmax(self, axis=None, keepdims=False, dim=None, keepdim=None):
    """Index of the max (no gradient)."""
    axis = _reduce_axis(axis, dim)
    keepdims = keepdims if keepdim is None else keepdim
    return Tensor._from_op(self.xp.argmax(self.data, axis=axis, keepdims=keepdims), None, 0)


def _argmin(self, axis=None, keepdims=False, dim=None, keepdim=None):
    """Index of the min (no gradient)."""
    axis = _reduce_axis(axis, dim)
    keepdims = keepdims if keepdim is None else keepdim
    return Tensor._from_op(self.xp.argmin(self.data, axis=axis, keepdims=keepdims), None, 0)


def _shape_args(shape):
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


def _reshape(self, *shape):
    """The same elements in a new shape (-1 is inferred)."""
    shape = _shape_args(shape)
    return self if shape == self.shape else sh.Reshape(shape)(self)


def _transpose(self, *axes):
    """Permute axes (reversed when none are given); ``transpose(a, b)`` on a tensor
    of more than 2 dims swaps those two, as PyTorch does."""
    axes = _shape_args(axes)
    if not axes:
        axes = None
    elif len(axes) == 2 and self.ndim != 2:
        perm = list(range(self.ndim))
        i, j = axes[0] % self.ndim, axes[1] % self.ndim
        perm[i], perm[j] = perm[j], perm[i]
        axes = tuple(perm)
    return sh.Transpose(axes)(self)


def _permute(self, *axes):
    """Permute axes in the given order."""
    return sh.Transpose(_shape_args(axes))(self)


def _flatten(self, start_dim=0, end_dim=-1):
    """Merge dims start_dim..end_dim into one."""
    if self.ndim == 0:
        return self.reshape(1)
    s, e = start_dim % self.ndim, end_dim % self.ndim
    return self.reshape(self.shape[:s] + (-1,) + self.shape[e + 1:])


def _squeeze(self, axis=None, dim=None):
    """Remove size-1 dims (all, or the given one)."""
    axis = _reduce_axis(axis, dim)
    if axis is None:
        shape = tuple(s for s in self.shape if s != 1)
    else:
        axes = reduce.normalize_axis(axis, self.ndim, "squeeze")
        shape = tuple(s for i, s in enumerate(self.shape) if not (i in axes and s == 1))
    return self.reshape(shape)


def _unsqueeze(self, axis=None, dim=None):
    """Insert a size-1 dim at ``axis``."""
    axis = _reduce_axis(axis, dim)
    nd = self.ndim + 1
    if not -nd <= axis < nd:
        raise ValueError(f"unsqueeze: axis {axis} is out of range for a result with {nd} dims")
    axis %= nd
    return self.reshape(self.shape[:axis] + (1,) + self.shape[axis:])


def _expand(self, *shape):
    """Broadcast to ``shape`` (-1 keeps a dim)."""
    shape = _shape_args(shape)
    lead = len(shape) - self.ndim
    shape = tuple(self.shape[i - lead] if s == -1 else s for i, s in enumerate(shape))
    return self if shape == self.shape else sh.BroadcastTo(shape)(self)


def _index_data(index):
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


def _getitem(self, index):
    """Basic and integer-array indexing; backward scatters with accumulation."""
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
    """min(max(x, min), max); the gradient passes where min <= x <= max."""
    if min is None and max is None:
        raise ValueError("clip: give at least one of min and max")
    return ew.Clip(min, max)(self)


def _compare(fn):
    def op(self, other):
        other = other.data if isinstance(other, Tensor) else other
        return Tensor._from_op(fn(self.data, other), None, 0)
    return op


def _method(fn, doc):
    def m(self):
        return fn()(self)
    m.__doc__ = doc
    return m


_methods = dict(
    __add__=add, __radd__=lambda a, b: add(b, a), __sub__=sub, __rsub__=lambda a, b: sub(b, a),
    __mul__=mul, __rmul__=lambda a, b: mul(b, a), __truediv__=div, __rtruediv__=lambda a, b: div(b, a),
    __pow__=power, __rpow__=lambda a, b: power(b, a), __matmul__=matmul,
    __rmatmul__=lambda a, b: matmul(b, a), __neg__=_method(ew.Neg, "-x"), __abs__=_method(ew.Abs, "|x|"),
    __getitem__=_getitem, __setitem__=_setitem,
    __lt__=_compare(lambda a, b: a < b), __le__=_compare(lambda a, b: a <= b),
    __gt__=_compare(lambda a, b: a > b), __ge__=_compare(lambda a, b: a >= b),
    __eq__=_compare(lambda a, b: a == b), __ne__=_compare(lambda a, b: a != b),
    sum=_sum, mean=_mean, max=_max, min=_min, var=_var, std=_std, argmax=_argmax, argmin=_argmin,
    exp=_method(ew.Exp, "e^x"), log=_method(ew.Log, "natural log"), sqrt=_method(ew.Sqrt, "square root"),
    abs=_method(ew.Abs, "|x|"), neg=_method(ew.Neg, "-x"),
    tanh=_method(activation.Tanh, "tanh x"), sigmoid=_method(activation.Sigmoid, "1 / (1 + e^-x)"),
    relu=_method(activation.ReLU, "max(0, x)"), clip=_clip, clamp=_clip,
    reshape=_reshape, view=_reshape, flatten=_flatten, transpose=_transpose, permute=_permute,
    squeeze=_squeeze, unsqueeze=_unsqueeze, expand=_expand, broadcast_to=_expand,
    softmax=lambda self, axis=-1, dim=None: activation.Softmax(_reduce_axis(axis, dim))(self),
    log_softmax=lambda self, axis=-1, dim=None: activation.LogSoftmax(_reduce_axis(axis, dim))(self),
    matmul=matmul, maximum=maximum, minimum=minimum, pow=power,
)
for _name, _fn in _methods.items():
    setattr(Tensor, _name, _fn)
Tensor.__hash__ = object.__hash__
Tensor.T = property(lambda self: self.transpose())
