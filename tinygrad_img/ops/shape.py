"""Shape ops: reshape, transpose, broadcast, indexing, concatenation, padding."""
import numpy as np

from ..autograd import Function
from ..backend import get_array_module
from .broadcast import sum_to
from .reduce import normalize_axis


class Reshape(Function):
    """y = x viewed with a new shape;  dx = g reshaped back."""
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} "
                             f"({x.size} elements) into shape {tuple(self.shape)}") from None

    def backward(self, g):
        return g.reshape(self.in_shape)


class Transpose(Function):
    """y = x with axes permuted;  dx = g with the inverse permutation."""
    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        nd = x.ndim
        if self.axes is not None and sorted(a + nd if -nd <= a < 0 else a for a in self.axes) != list(range(nd)):
            raise ValueError(f"transpose: axes {tuple(self.axes)} are not a permutation of "
                             f"the {x.ndim} dims of shape {x.shape}")
        return x.transpose(self.axes)

    def backward(self, g):
        if self.axes is None:
            return g.transpose()
        inv = np.argsort([a % g.ndim for a in self.axes])
        return g.transpose(tuple(int(i) for i in inv))


class BroadcastTo(Function):
    """y = x broadcast to ``shape``;  dx = g summed over the broadcast axes."""
    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        self.in_shape = x.shape
        try:
            return get_array_module(x).broadcast_to(x, self.shape)
        except ValueError:
            raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {self.shape}") from None

    def backward(self, g):
        return sum_to(g, self.in_shape)


def _is_advanced(index):
    """True when ``index`` holds an integer/boolean array or list (NumPy's advanced indexing)."""
    items = index if isinstance(index, tuple) else (index,)
    return any(hasattr(i, "shape") or isinstance(i, (list, tuple)) for i in items)


def _on_device(index, xp):
    """Index arrays and lists given on the host become device arrays when the data lives on the GPU."""
    if xp is np:
        return index
    if isinstance(index, tuple):
        return tuple(_on_device(i, xp) for i in index)
    return xp.asarray(index) if isinstance(index, (list, np.ndarray)) else index


def scatter_add(out, index, values):
    """out[index] += values in place, repeated indices accumulating (np.add.at / cupyx.scatter_add)."""
    if get_array_module(out) is np:
        np.add.at(out, index, values)
    else:
        import cupyx
        cupyx.scatter_add(out, index, values)


class GetItem(Function):
    """y = x[index];  dx = zeros with g scattered back (accumulating repeated indices)."""
    def __init__(self, index):
        self.index = index

    def forward(self, x):
        self.in_shape, self.dtype = x.shape, x.dtype
        self.index = _on_device(self.index, get_array_module(x))
        try:
            return x[self.index]
        except IndexError as e:
            raise IndexError(f"getitem: index {self.index!r} is invalid for shape {x.shape} ({e})") from None

    def backward(self, g):
        xp = get_array_module(g)
        gx = xp.zeros(self.in_shape, dtype=g.dtype)
        if _is_advanced(self.index):
            scatter_add(gx, self.index, g)
        else:
            gx[self.index] = g
        return gx


class Concatenate(Function):
    """y = [x_1, ..., x_n] joined along ``axis``;  dx_i = the matching slice of g."""
    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        shapes = [x.shape for x in xs]
        nd = xs[0].ndim
        if nd == 0:
            raise ValueError("concatenate: zero-dimensional tensors cannot be concatenated")
        (self.axis,) = normalize_axis(self.axis, nd, "concatenate")
        for s in shapes:
            if len(s) != nd or any(a != b for i, (a, b) in enumerate(zip(s, shapes[0])) if i != self.axis):
                raise ValueError(f"concatenate: shapes {shapes} do not match outside axis {self.axis}")
        self.sizes = [s[self.axis] for s in shapes]
        return get_array_module(*xs).concatenate(xs, axis=self.axis)

    def backward(self, g):
        bounds = np.cumsum(self.sizes)[:-1].tolist()
        return tuple(get_array_module(g).split(g, bounds, axis=self.axis))


class Pad(Function):
    """y = x padded with a constant (NumPy ``pad_width``);  dx = the interior slice of g."""
    def __init__(self, pad_width, value):
        self.pad_width, self.value = pad_width, value

    def forward(self, x):
        xp = get_array_module(x)
        try:
            width = np.broadcast_to(np.asarray(self.pad_width, dtype=np.int64), (x.ndim, 2))
        except ValueError:
            raise ValueError(f"pad: pad_width {self.pad_width!r} does not fit a tensor of shape {x.shape}; "
                             "give an int, a (before, after) pair or one pair per axis") from None
        if (width < 0).any():
            raise ValueError(f"pad: negative pad width {self.pad_width!r}")
        self.slices = tuple(slice(int(a), int(a) + s) for (a, _), s in zip(width, x.shape))
        return xp.pad(x, [tuple(int(v) for v in w) for w in width], constant_values=self.value)

    def backward(self, g):
        return g[self.slices]
