"""An ndarray subclass that records what an op does with it, for tests of hidden temporaries
(a float64 intermediate in a float32 op, a needless copy, a repeated computation)."""
import numpy as np

import tinygrad_img as tg


class Spy(np.ndarray):
    """Every ufunc result computed from a Spy is a Spy and is logged as (ufunc name, dtype, shape);
    ``astype`` to the array's own dtype with ``copy=True`` is logged as ("astype_copy", dtype, shape)."""
    log = []

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        args = [np.asarray(i) if isinstance(i, Spy) else i for i in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(np.asarray(o) if isinstance(o, Spy) else o for o in kwargs["out"])
        result = getattr(ufunc, method)(*args, **kwargs)
        results = result if isinstance(result, tuple) else (result,)
        for r in results:
            if hasattr(r, "dtype"):
                Spy.log.append((ufunc.__name__, np.dtype(r.dtype), np.shape(r)))
        wrap = [np.asarray(r).view(Spy) if hasattr(r, "dtype") else r for r in results]
        return tuple(wrap) if isinstance(result, tuple) else wrap[0]

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        if copy and np.dtype(dtype) == self.dtype:
            Spy.log.append(("astype_copy", self.dtype, self.shape))
        return np.asarray(self).astype(dtype, order=order, casting=casting, copy=copy).view(Spy)


def spy_tensor(array, requires_grad=True):
    """A leaf Tensor whose data is a Spy view of ``array`` (the log is cleared)."""
    Spy.log = []
    t = tg.Tensor._from_op(np.asarray(array).view(Spy), None, 0)
    return t.requires_grad_(requires_grad)
