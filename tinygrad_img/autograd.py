"""The autograd contract and the backward engine.

A :class:`Function` maps raw arrays to raw arrays: ``forward(*xs) -> ys`` and
``backward(*gys) -> gxs`` (one gradient per input, ``None`` where an input
needs none). Calling a Function on Tensors runs ``forward`` and, when grad mode
is on and some input requires grad, records the Function as the creator of its
outputs. ``backward`` walks the recorded graph iteratively, newest generation
first, so a graph 10,000 ops deep needs no recursion; each Function's
gradients are accumulated out of place before it runs, so reused nodes are
correct; after the walk every visited Function drops its inputs and saved
arrays, which frees the graph.
"""
import contextlib
import heapq
import itertools

from . import backend


class _GradMode:
    enabled = True


def is_grad_enabled():
    return _GradMode.enabled


class _SetGradMode(contextlib.ContextDecorator):
    mode = True

    def __enter__(self):
        self.prev = _GradMode.enabled
        _GradMode.enabled = self.mode

    def __exit__(self, *exc):
        _GradMode.enabled = self.prev
        return False


class no_grad(_SetGradMode):
    """Context manager and decorator: ops inside record no graph."""
    mode = False


class enable_grad(_SetGradMode):
    """Context manager and decorator: turns graph recording back on."""
    mode = True


class Function:
    """One differentiable operation on raw arrays.

    Subclasses take non-array options in ``__init__`` and implement
    ``forward(*xs)`` (returning an array or a tuple of arrays) and
    ``backward(*gys)`` (returning a gradient or a tuple, one per input).
    ``self.needs_grad[i]`` tells backward which inputs want a gradient.
    """
    differentiable = True

    def __call__(self, *inputs):
        Tensor = _tensor.Tensor
        xs = [t.data for t in inputs]
        if len(xs) > 1:
            backend.check_same_device(type(self).__name__.lower(), xs)
        ys = self.forward(*xs)
        single = not isinstance(ys, tuple)
        if single:
            ys = (ys,)
        record = _GradMode.enabled and self.differentiable and any(t.requires_grad for t in inputs)
        if record:
            self.inputs = inputs
            self.needs_grad = tuple(t.requires_grad for t in inputs)
            self.generation = max(t._generation for t in inputs)
            self.n_outputs = len(ys)
            if len(ys) > 1:
                self.output_meta = tuple((y.shape, y.dtype) for y in ys)
            outs = tuple(Tensor._from_op(y, self, i) for i, y in enumerate(ys))
        else:
            outs = tuple(Tensor._from_op(y, None, 0) for y in ys)
        return outs[0] if single else outs

    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, *gys):
        raise NotImplementedError(f"{type(self).__name__} has no backward")

    def release(self):
        """Drop inputs and everything saved for backward."""
        generation = self.generation
        self.__dict__.clear()
        self.generation = generation
        self.released = True


_counter = itertools.count()


def run_backward(root, grad, retain_graph=False):
    """Back-propagate ``grad`` (an array shaped like ``root``) through the graph."""
    if root.creator is None:
        _accumulate(root, grad)
        return
    pending = {}  # Function -> list of per-output gradient arrays
    heap = []

    def push(f, index, g):
        if getattr(f, "released", False):
            raise RuntimeError("backward: the graph was already freed by an earlier backward(); "
                               "call backward(retain_graph=True) the first time to go through it twice")
        slots = pending.get(f)
        if slots is None:
            slots = pending[f] = [None] * f.n_outputs
            heapq.heappush(heap, (-f.generation, next(_counter), f))
        slots[index] = g if slots[index] is None else slots[index] + g

    push(root.creator, root._out_index, grad)
    visited = []
    while heap:
        _, _, f = heapq.heappop(heap)
        gys = pending.pop(f)
        if f.n_outputs > 1 and any(g is None for g in gys):
            gys = _fill_missing(f, gys)
        gxs = f.backward(*gys)
        if not isinstance(gxs, tuple):
            gxs = (gxs,)
        for x, gx, needed in zip(f.inputs, gxs, f.needs_grad):
            if not needed or gx is None:
                continue
            if gx.shape != x.shape:
                raise RuntimeError(f"{type(f).__name__}.backward returned a gradient of shape "
                                   f"{gx.shape} for an input of shape {x.shape}")
            if x.creator is None:
                _accumulate(x, gx)
            else:
                if x._retain_grad:
                    _accumulate(x, gx)
                push(x.creator, x._out_index, gx)
        visited.append(f)
    if not retain_graph:
        for f in visited:
            f.release()


def _fill_missing(f, gys):
    """Outputs that received no gradient (e.g. an unused LSTM cell state) get zeros."""
    xp = backend.get_array_module(next(g for g in gys if g is not None))
    return [g if g is not None else xp.zeros(shape, dtype=dtype)
            for g, (shape, dtype) in zip(gys, f.output_meta)]


def _accumulate(t, g):
    """Add ``g`` to ``t.grad`` out of place; never keep a read-only or aliased view."""
    Tensor = _tensor.Tensor
    if t.grad is None:
        if not g.flags.writeable or not g.flags.c_contiguous:
            g = g.copy()
        t.grad = Tensor._from_op(g, None, 0)
    else:
        t.grad = Tensor._from_op(t.grad.data + g, None, 0)


from . import tensor as _tensor  # noqa: E402  (circular: Tensor builds on Function)
