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
import threading

from . import backend


class _GradMode(threading.local):
    """Grad mode is per thread (as in PyTorch): a data-loading thread never flips it for the trainer."""
    enabled = True


_grad_mode = _GradMode()


def is_grad_enabled():
    """True when ops record the graph (the default; False inside ``no_grad``)."""
    return _grad_mode.enabled


class _SetGradMode(contextlib.ContextDecorator):
    mode = True

    def __new__(cls, func=None):
        self = super().__new__(cls)
        self._saved = threading.local()  # per-thread stack: one decorator instance survives recursion and threads
        return self(func) if callable(func) else self

    def _stack(self):
        stack = getattr(self._saved, "stack", None)
        if stack is None:
            stack = self._saved.stack = []
        return stack

    def __enter__(self):
        self._stack().append(_grad_mode.enabled)
        _grad_mode.enabled = self.mode
        return self

    def __exit__(self, *exc):
        _grad_mode.enabled = self._stack().pop()
        return False


class no_grad(_SetGradMode):
    """Context manager and decorator (``@no_grad()`` or ``@no_grad``): ops inside record no graph,
    so their outputs have ``requires_grad=False`` and hold no references to their inputs."""
    mode = False


class enable_grad(_SetGradMode):
    """Context manager and decorator: turns graph recording back on (e.g. inside ``no_grad``)."""
    mode = True


class Function:
    """One differentiable operation on raw arrays.

    Subclasses take non-array options in ``__init__`` and implement
    ``forward(*xs)`` (returning an array or a tuple of arrays) and
    ``backward(*gys)`` (returning a gradient or a tuple, one per input).
    ``self.needs_grad[i]`` tells backward which inputs want a gradient.
    """
    released = False

    def __call__(self, *inputs):
        from_op = _tensor.Tensor._from_op
        xs = [t.data for t in inputs]
        if len(xs) > 1 and backend._cupy is not None:
            backend.check_same_device(type(self).__name__.lower(), xs)
        # set before forward, so a forward may skip saving what no gradient will need
        needs = tuple([t._requires_grad for t in inputs]) if _grad_mode.enabled else ()
        record = True in needs
        self.needs_grad = needs if record else (False,) * len(inputs)
        ys = self.forward(*xs)
        if not isinstance(ys, tuple):
            if not record:
                return from_op(ys, None, 0)
            self.inputs = inputs
            self.generation = max([t._generation for t in inputs])
            self.n_outputs = 1
            return from_op(ys, self, 0)
        if not record:
            return tuple([from_op(y, None, 0) for y in ys])
        self.inputs = inputs
        self.generation = max([t._generation for t in inputs])
        self.n_outputs = len(ys)
        self.output_meta = tuple([(y.shape, y.dtype) for y in ys])
        return tuple([from_op(y, self, i) for i, y in enumerate(ys)])

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
    """Back-propagate ``grad`` = dL/droot (an array shaped like ``root``) through the graph.

    Functions run newest generation first, each once, with the sum of the
    gradients of its outputs (chain rule: dL/dx = sum over uses of the
    vector-Jacobian products); leaves that require grad (and tensors marked
    with ``retain_grad``) receive ``grad += dL/dx``. Unless ``retain_graph``,
    each Function releases its inputs and saved arrays right after its
    backward, so peak memory falls as the walk proceeds.
    """
    if root.creator is None:
        _accumulate(root, grad)
        return
    pending = {}  # Function -> list of per-output gradient arrays
    heap = []

    def push(f, index, g):
        if f.released:
            raise RuntimeError("backward: the graph was already freed by an earlier backward(); "
                               "call backward(retain_graph=True) the first time to go through it twice")
        slots = pending.get(f)
        if slots is None:
            slots = pending[f] = [None] * f.n_outputs
            heapq.heappush(heap, (-f.generation, next(_counter), f))
        slots[index] = g if slots[index] is None else slots[index] + g

    push(root.creator, root._out_index, grad)
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
            xd = x.data
            if gx.shape != xd.shape:
                raise RuntimeError(f"{type(f).__name__}.backward returned a gradient of shape "
                                   f"{gx.shape} for an input of shape {xd.shape}")
            if gx.dtype != xd.dtype:  # e.g. a float32 input of an op that ran in float64
                gx = gx.astype(xd.dtype)
            if x.creator is None:
                _accumulate(x, gx)
            else:
                if x._retain_grad:
                    _accumulate(x, gx)
                push(x.creator, x._out_index, gx)
        if not retain_graph:  # every consumer of f's outputs ran before f (higher generation)
            f.release()


def _fill_missing(f, gys):
    """Outputs that received no gradient (e.g. an unused LSTM cell state) get zeros."""
    xp = backend.get_array_module(next(g for g in gys if g is not None))
    return [g if g is not None else xp.zeros(shape, dtype=dtype)
            for g, (shape, dtype) in zip(gys, f.output_meta)]


def _accumulate(t, g):
    """Add ``g`` to ``t.grad`` out of place.

    The first gradient is stored as it is (copied only when read-only or not C-contiguous), so a
    leaf's ``.grad`` may share memory with another leaf's ``.grad`` (e.g. both inputs of an add);
    later accumulations allocate a new array. Hence nothing may write a ``.grad`` array in place:
    optimizers and ``clip_grad_*`` only read gradients or replace them with new arrays.
    """
    Tensor = _tensor.Tensor
    if t.grad is None:
        if not getattr(g.flags, "writeable", True) or not g.flags.c_contiguous:  # CuPy 13 has no writeable
            g = g.copy()
        t.grad = Tensor._from_op(g, None, 0)
    else:
        t.grad = Tensor._from_op(t.grad.data + g, None, 0)


from . import tensor as _tensor  # noqa: E402  (circular: Tensor builds on Function)
