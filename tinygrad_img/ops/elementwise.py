"""Elementwise arithmetic with NumPy broadcasting.

Each binary op's gradient is summed back to each input's shape with
:func:`sum_to`; Python scalars were already turned into 0-d arrays of the
tensor's dtype by the caller, so float32 stays float32.
"""
from ..autograd import Function
from ..backend import get_array_module
from .broadcast import sum_to


class Add(Function):
    """y = a + b;  da = g, db = g (each summed to its shape)."""
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a + b

    def backward(self, g):
        return sum_to(g, self.shapes[0]), sum_to(g, self.shapes[1])


class Sub(Function):
    """y = a - b;  da = g, db = -g."""
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a - b

    def backward(self, g):
        gb = -sum_to(g, self.shapes[1]) if self.needs_grad[1] else None
        return sum_to(g, self.shapes[0]), gb


class Mul(Function):
    """y = a * b;  da = g * b, db = g * a."""
    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        ga = sum_to(g * self.b, self.a.shape) if self.needs_grad[0] else None
        gb = sum_to(g * self.a, self.b.shape) if self.needs_grad[1] else None
        return ga, gb


class Div(Function):
    """y = a / b;  da = g / b, db = -g * a / b^2."""
    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, g):
        gq = g / self.b
        ga = sum_to(gq, self.a.shape) if self.needs_grad[0] else None
        gb = sum_to(-gq * self.a / self.b, self.b.shape) if self.needs_grad[1] else None
        return ga, gb


class Pow(Function):
    """y = a ** b;  da = g * b * a^(b-1), db = g * y * log(a)."""
    def forward(self, a, b):
        self.a, self.b = a, b
        self.y = a ** b
        return self.y

    def backward(self, g):
        xp = get_array_module(g)
        a, b = self.a, self.b
        ga = sum_to(g * b * a ** (b - 1), a.shape) if self.needs_grad[0] else None
        gb = None
        if self.needs_grad[1]:
            safe = xp.where(a > 0, a, 1)
            gb = sum_to(g * self.y * xp.log(safe), b.shape)
        return ga, gb


class Neg(Function):
    """y = -x;  dx = -g."""
    def forward(self, x):
        return -x

    def backward(self, g):
        return -g


class Exp(Function):
    """y = e^x;  dx = g * y."""
    def forward(self, x):
        self.y = get_array_module(x).exp(x)
        return self.y

    def backward(self, g):
        return g * self.y


class Log(Function):
    """y = ln x;  dx = g / x."""
    def forward(self, x):
        self.x = x
        return get_array_module(x).log(x)

    def backward(self, g):
        return g / self.x


class Sqrt(Function):
    """y = sqrt(x);  dx = g / (2 y)."""
    def forward(self, x):
        self.y = get_array_module(x).sqrt(x)
        return self.y

    def backward(self, g):
        return g / (2 * self.y)


class Abs(Function):
    """y = |x|;  dx = g * sign(x) (0 at x = 0, as PyTorch)."""
    def forward(self, x):
        self.x = x
        return abs(x)

    def backward(self, g):
        return g * get_array_module(g).sign(self.x)


class Maximum(Function):
    """y = max(a, b) elementwise; ties share the gradient equally (PyTorch's rule)."""
    pick_first = staticmethod(lambda a, b: a > b)

    def forward(self, a, b):
        self.a, self.b = a, b
        xp = get_array_module(a)
        return xp.maximum(a, b) if type(self) is Maximum else xp.minimum(a, b)

    def backward(self, g):
        first = get_array_module(g).asarray(self.pick_first(self.a, self.b), dtype=g.dtype)
        wa = get_array_module(g).where(self.a == self.b, g.dtype.type(0.5), first)  # in g's dtype, no float64
        ga = sum_to(g * wa, self.a.shape) if self.needs_grad[0] else None
        gb = sum_to(g * (1 - wa), self.b.shape) if self.needs_grad[1] else None
        return ga, gb


class Minimum(Maximum):
    """y = min(a, b) elementwise; ties share the gradient equally."""
    pick_first = staticmethod(lambda a, b: a < b)


class Where(Function):
    """y = a where cond else b;  da = g * cond, db = g * (1 - cond)."""
    def __init__(self, cond):
        self.cond = cond

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return get_array_module(a).where(self.cond, a, b)

    def backward(self, g):
        xp = get_array_module(g)
        zero = xp.zeros((), dtype=g.dtype)
        ga = sum_to(xp.where(self.cond, g, zero), self.shapes[0]) if self.needs_grad[0] else None
        gb = sum_to(xp.where(self.cond, zero, g), self.shapes[1]) if self.needs_grad[1] else None
        return ga, gb


class Clip(Function):
    """y = min(max(x, lo), hi);  dx = g where lo <= x <= hi, else 0."""
    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        self.x = x
        return get_array_module(x).clip(x, self.lo, self.hi)

    def backward(self, g):
        keep = True
        if self.lo is not None:
            keep = self.x >= self.lo
        if self.hi is not None:
            keep = keep & (self.x <= self.hi)
        return g * keep
