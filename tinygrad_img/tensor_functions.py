"""Free tensor functions over the ops, with dtype promotion: the binary arithmetic used by the operators,
and tg.matmul, tg.maximum, tg.minimum, tg.where, tg.cat/concatenate, tg.stack and tg.pad."""
from .backend import get_array_module
from .ops import elementwise as ew, linalg, shape as sh
from .tensor import _FLOAT_DEFAULT, Tensor, _wrap_scalar


def _promote(a, b, true_div=False):
    """Mixed float/integer operands compute in the float dtype (float32 stays float32, as in
    PyTorch, where NumPy would go to float64); true division of integers gives float32."""
    da, db = a.data.dtype, b.data.dtype
    if da != db or true_div:
        fa, fb = da.kind in "fc", db.kind in "fc"
        if fa and not fb:
            b = b.astype(da)
        elif fb and not fa:
            a = a.astype(db)
        elif true_div and not fa:
            a, b = a.astype(_FLOAT_DEFAULT), b.astype(_FLOAT_DEFAULT)
    return a, b


def _binary(fn, name, doc):
    true_div = fn is ew.Div

    def op(a, b):
        a = _wrap_scalar(a, b) if not isinstance(a, Tensor) else a
        b = _wrap_scalar(b, a)
        a, b = _promote(a, b, true_div)
        try:
            return fn()(a, b)
        except ValueError as e:
            if "broadcast" in str(e):
                raise ValueError(f"{name}: shapes {a.shape} and {b.shape} cannot be broadcast together") from None
            raise
    op.__name__ = name
    op.__doc__ = doc + " Elementwise with NumPy broadcasting; each gradient is summed back to its input's shape."
    return op


add = _binary(ew.Add, "add", "y = a + b.")
sub = _binary(ew.Sub, "sub", "y = a - b.")
mul = _binary(ew.Mul, "mul", "y = a * b.")
div = _binary(ew.Div, "div", "y = a / b (true division).")
power = _binary(ew.Pow, "pow", "y = a ** b; dy/da = b a^(b-1), dy/db = y ln a.")
maximum = _binary(ew.Maximum, "maximum", "y = max(a, b); ties split the gradient equally.")
minimum = _binary(ew.Minimum, "minimum", "y = min(a, b); ties split the gradient equally.")


def matmul(a, b):
    """y = a @ b, y_ij = sum_k a_ik b_kj (batched over broadcast leading dims);  da = g b^T, db = a^T g.
    NumPy's rules: 1-D operands are promoted to matrices and the added dim removed."""
    a = a if isinstance(a, Tensor) else _wrap_scalar(a, b)
    a, b = _promote(a, _wrap_scalar(b, a))
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
    """y = a where cond else b, broadcasting all three;  da = g * cond, db = g * (1 - cond)."""
    ref = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else None
    if ref is None:
        ref = Tensor(a)
    a, b = _promote(_wrap_scalar(a, ref), _wrap_scalar(b, ref))
    c = cond.data if isinstance(cond, Tensor) else get_array_module(a.data).asarray(cond)
    return ew.Where(c.astype(bool, copy=False))(a, b)


def concatenate(tensors, axis=0, dim=None):
    """y = [x_1, ..., x_n] joined along an existing ``axis`` (alias ``cat``);  dx_i = g's slice i."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concatenate: needs at least one tensor")
    tensors = [_wrap_scalar(t, tensors[0]) if not isinstance(t, Tensor) else t for t in tensors]
    return sh.Concatenate(axis if dim is None else dim)(*tensors)


cat = concatenate


def stack(tensors, axis=0, dim=None):
    """y[..., i, ...] = x_i: join same-shaped tensors along a new ``axis``;  dx_i = g[..., i, ...]."""
    axis = axis if dim is None else dim
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: needs at least one tensor")
    ref = next((t for t in tensors if isinstance(t, Tensor)), None)
    ref = Tensor(tensors[0]) if ref is None else ref
    tensors = [_wrap_scalar(t, ref) for t in tensors]
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    return concatenate([t.unsqueeze(axis) for t in tensors], axis=axis)


def pad(x, pad_width, value=0.0):
    """y = x surrounded by ``value`` with NumPy's ``pad_width`` (an int, a (before, after) pair,
    or one pair per axis);  dx = the interior slice of g."""
    return sh.Pad(pad_width, value)(x)
