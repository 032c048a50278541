"""Matrix products."""
from ..autograd import Function
from ..backend import get_array_module
from .broadcast import sum_to


def _swap(a):
    """The matrix transpose of the last two axes (a view)."""
    return a.swapaxes(-1, -2)


class MatMul(Function):
    """y = a @ b (batched, broadcasting leading dims);  da = g @ b^T, db = a^T @ g."""
    def forward(self, a, b):
        if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-2]:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned "
                             f"({a.shape[-1] if a.ndim else None} != {b.shape[-2] if b.ndim > 1 else None})")
        self.a, self.b = a, b
        return get_array_module(a).matmul(a, b)

    def backward(self, g):
        xp = get_array_module(g)
        ga = sum_to(xp.matmul(g, _swap(self.b)), self.a.shape) if self.needs_grad[0] else None
        gb = sum_to(xp.matmul(_swap(self.a), g), self.b.shape) if self.needs_grad[1] else None
        return ga, gb


class Linear(Function):
    """y = x W^T + b with x (..., in), W (out, in), b (out,).

    dx = g W;  dW = g^T x (over all leading dims);  db = sum of g over leading dims.
    """
    def forward(self, x, w, b=None):
        if x.ndim < 1 or w.ndim != 2 or x.shape[-1] != w.shape[1]:
            raise ValueError(f"linear: input of shape {x.shape} has {x.shape[-1] if x.ndim else 0} "
                             f"features but weight of shape {w.shape} expects {w.shape[1] if w.ndim == 2 else '?'}")
        if b is not None and b.shape != (w.shape[0],):
            raise ValueError(f"linear: bias of shape {b.shape} does not match weight of shape {w.shape}")
        self.x, self.w = x, w
        y = x @ w.T
        if b is not None:
            y += b
        return y

    def backward(self, g):
        x2 = self.x.reshape(-1, self.x.shape[-1])
        g2 = g.reshape(-1, g.shape[-1])
        gx = (g @ self.w) if self.needs_grad[0] else None
        gw = (g2.T @ x2) if self.needs_grad[1] else None
        if len(self.needs_grad) == 3 and self.needs_grad[2]:
            return gx, gw, g2.sum(axis=0)
        return (gx, gw, None) if len(self.needs_grad) == 3 else (gx, gw)
