"""Reductions over axes, NumPy style (``axis=None`` reduces everything)."""
from ..autograd import Function
from ..backend import get_array_module


def normalize_axis(axis, ndim, op="reduce"):
    """``axis`` as a sorted tuple of non-negative ints (None = all axes)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if not -max(ndim, 1) <= a < max(ndim, 1):
            raise ValueError(f"{op}: axis {a} is out of range for a tensor with {ndim} dims")
        if ndim:  # a 0-d tensor accepts axis 0 / -1 (as PyTorch does) and reduces nothing
            out.append(a % ndim)
    return tuple(sorted(set(out)))


def keepdims_shape(shape, axes):
    """``shape`` with the reduced ``axes`` set to 1 (what keepdims=True gives)."""
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


class Sum(Function):
    """y = sum_{axes} x;  dx = g broadcast back over the reduced axes."""
    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.axes = normalize_axis(self.axis, x.ndim, "sum")
        self.shape = x.shape
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, g):
        g = g.reshape(keepdims_shape(self.shape, self.axes))
        return get_array_module(g).broadcast_to(g, self.shape)


class Mean(Sum):
    """y = (1/n) sum_{axes} x;  dx = g / n broadcast back."""
    def forward(self, x):
        y = super().forward(x)
        self.count = max(1, x.size // max(1, y.size))
        return y / self.count if y.dtype.kind == "f" else y.astype("float32") / self.count

    def backward(self, g):
        return super().backward(g / self.count)


class Max(Function):
    """y = max_{axes} x;  dx = g / k at the k positions that hold the max (PyTorch's amax rule)."""
    def __init__(self, axis, keepdims, largest=True):
        self.axis, self.keepdims, self.largest = axis, keepdims, largest

    def forward(self, x):
        self.axes = normalize_axis(self.axis, x.ndim, "max" if self.largest else "min")
        if x.size == 0:
            raise ValueError(f"{'max' if self.largest else 'min'}: cannot reduce an empty tensor")
        self.x = x
        y = x.max(axis=self.axes, keepdims=True) if self.largest else x.min(axis=self.axes, keepdims=True)
        self.y = y
        return y if self.keepdims else y.reshape([s for i, s in enumerate(y.shape) if i not in self.axes])

    def backward(self, g):
        mask = (self.x == self.y)
        count = mask.sum(axis=self.axes, keepdims=True, dtype=g.dtype)  # g's dtype: no float64 temporary
        g = g.reshape(self.y.shape)
        return mask * (g / count)
