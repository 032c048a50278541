"""Tensor: an array (NumPy or CuPy), its gradient and the Function that made it."""
import numpy as np

from . import autograd, backend

_FLOAT_DEFAULT = np.float32


def as_dtype(dtype):
    """A ``numpy.dtype`` from 'float32', np.float32, np.dtype(...) and the like (None stays None)."""
    return None if dtype is None else np.dtype(dtype)


def _to_array(data, dtype, device):
    """The array a Tensor holds: an existing NumPy/CuPy array keeps its device unless ``device`` says
    otherwise; other data (lists, scalars) goes to the default device; float64 becomes float32
    unless ``dtype`` is given or ``data`` is already a Tensor."""
    if isinstance(data, Tensor):
        arr, explicit = data.data, True
    elif isinstance(data, np.ndarray) or backend.is_cupy_array(data):
        arr, explicit = data, False
    else:
        arr, explicit = np.asarray(data), False
        if device is None:
            device = backend.get_default_device()
    if device is not None:
        device = backend.check_device(device)
        if backend.device_of(arr) != device:
            arr = backend.to_device(arr, device)
    if dtype is not None:
        if arr.dtype != dtype:
            arr = arr.astype(dtype)
    elif arr.dtype == np.float64 and not explicit:
        arr = arr.astype(_FLOAT_DEFAULT)
    return arr


class Tensor:
    """An n-dimensional array that records the operations applied to it.

    ``Tensor(data, requires_grad=False, dtype=None, device=None)``: NumPy
    float64 data and Python floats become float32 unless ``dtype`` says
    otherwise; integer and bool tensors hold labels and masks and never
    require grad. ``creator`` is the Function that produced it (None for a
    leaf); ``grad`` receives dL/dself, of the same shape and dtype.

    A NumPy/CuPy array that needs no dtype or device conversion is NOT copied: the
    Tensor shares its memory (like ``torch.as_tensor``), so writing one writes the
    other. ``nn.Parameter`` copies; use ``Tensor(arr.copy())`` for an independent tensor.
    """
    __slots__ = ("data", "grad", "_requires_grad", "creator", "_out_index", "_generation",
                 "_retain_grad", "__weakref__")
    __array_priority__ = 1000

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        self.data = _to_array(data, as_dtype(dtype), device)
        self.grad = None
        self.creator = None
        self._out_index = 0
        self._generation = 0
        self._retain_grad = False
        self._requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _from_op(cls, data, creator, index):
        """Wrap an op's output array (no copy, no dtype rule); it requires grad iff it has a creator.
        A NumPy scalar (what a full reduction returns) becomes a 0-d array, as CuPy gives."""
        t = object.__new__(cls)
        t.data = np.asarray(data) if isinstance(data, np.generic) else data
        t.grad = None
        t.creator = creator
        t._out_index = index
        t._generation = creator.generation + 1 if creator is not None else 0
        t._retain_grad = False
        t._requires_grad = creator is not None
        return t

    @property
    def requires_grad(self):
        """Whether backward computes dL/dself (always False for integer and bool tensors)."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        self.requires_grad_(flag)

    def requires_grad_(self, flag=True):
        """Set ``requires_grad`` in place and return self; only float tensors may require grad."""
        if flag and self.data.dtype.kind not in "fc":
            raise ValueError(f"requires_grad: only floating-point tensors can require grad, "
                             f"this one is {self.data.dtype}")
        self._requires_grad = bool(flag)
        return self

    def retain_grad(self):
        """Keep ``.grad`` on this non-leaf tensor after backward."""
        self._retain_grad = True
        return self

    # ----- properties
    shape = property(lambda self: self.data.shape, doc="The dims, a tuple of ints.")
    ndim = property(lambda self: self.data.ndim, doc="Number of dims, len(shape).")
    size = property(lambda self: self.data.size, doc="Number of elements, prod(shape).")
    dtype = property(lambda self: self.data.dtype, doc="The numpy.dtype of the elements.")
    device = property(lambda self: backend.device_of(self.data), doc='"cpu" or "cuda".')
    is_leaf = property(lambda self: self.creator is None, doc="True when no op produced this tensor.")
    xp = property(lambda self: backend.get_array_module(self.data), doc="numpy or cupy, per device.")

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self):
        arr = np.array2string(self.numpy(), precision=4, separator=", ", prefix="Tensor(")
        extra = f", dtype={self.dtype}" if self.dtype != np.float32 else ""
        extra += ", device='cuda'" if self.device == "cuda" else ""
        extra += ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({arr}{extra})"

    # ----- conversion
    def numpy(self):
        """The data as a NumPy array (copied to the host when on the GPU)."""
        return backend.to_device(self.data, "cpu")

    def item(self):
        """The single element as a Python number."""
        if self.size != 1:
            raise ValueError(f"item: only one-element tensors convert to a Python scalar, shape is {self.shape}")
        return self.numpy().reshape(()).item()

    def tolist(self):
        """The data as nested Python lists."""
        return self.numpy().tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.size != 1:
            raise ValueError(f"bool: the truth value of a tensor with more than one element is ambiguous, "
                             f"shape is {self.shape}")
        return bool(self.item())

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        return arr if dtype is None else arr.astype(dtype)

    def to(self, device=None, dtype=None):
        """A tensor on ``device`` (and of ``dtype``); differentiable, and ``self`` when nothing changes.
        ``t.to("float64")`` / ``t.to(np.float64)`` (a dtype first) also works, as in PyTorch."""
        if device is not None and not _looks_like_device(device):
            device, dtype = None, device
        out = self
        if device is not None and backend.check_device(device) != self.device:
            out = ToDevice(backend.check_device(device))(out)
        if dtype is not None and as_dtype(dtype) != out.dtype:
            out = out.astype(dtype)
        return out

    def cpu(self):
        """``to("cpu")``."""
        return self.to("cpu")

    def cuda(self):
        """``to("cuda")``; raises a RuntimeError saying why when no CuPy/GPU is usable."""
        return self.to("cuda")

    def detach(self):
        """The same data, cut from the graph."""
        return Tensor._from_op(self.data, None, 0)

    def astype(self, dtype):
        """The data converted to ``dtype``; float -> float is differentiable (dx = g cast back),
        a conversion to int/bool gives a tensor outside the graph."""
        dtype = as_dtype(dtype)
        if dtype == self.dtype:
            return self
        if dtype.kind not in "fc":
            return Tensor._from_op(self.data.astype(dtype), None, 0)
        return Cast(dtype)(self)

    def float(self):
        """``astype(float32)``."""
        return self.astype(np.float32)

    def double(self):
        """``astype(float64)``."""
        return self.astype(np.float64)

    # ----- autograd
    def backward(self, grad=None, retain_graph=False):
        """Accumulate dL/dx into ``x.grad`` for every leaf x that requires grad, where L = sum(self * grad).

        ``grad`` (dL/dself, of self's shape) defaults to 1 for a one-element
        tensor and is required otherwise. The graph is freed afterwards unless
        ``retain_graph=True``; a second backward through a freed graph raises.
        """
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad and has no graph "
                               "(create inputs with requires_grad=True, outside tg.no_grad())")
        if grad is None:
            if self.size != 1:
                raise RuntimeError(f"backward: grad can be implied only for a one-element tensor; "
                                   f"this one has shape {self.shape}, so pass grad= of that shape")
            g = self.xp.ones(self.shape, dtype=self.dtype)
        else:
            g = grad.data if isinstance(grad, Tensor) else grad
            g = self.xp.array(g, dtype=self.dtype, copy=True)  # leaf grads must not alias the caller's array
            if g.shape != self.shape:
                raise ValueError(f"backward: grad of shape {g.shape} does not match tensor of shape {self.shape}")
        autograd.run_backward(self, g, retain_graph=retain_graph)

    def zero_grad(self, set_to_none=True):
        """Forget the accumulated gradient (``grad = None``), or with ``set_to_none=False`` make it
        fresh zeros of self's shape, dtype and device (never written in place: grads may be shared)."""
        self.grad = None if set_to_none else Tensor._from_op(self.xp.zeros_like(self.data), None, 0)


def as_tensor(x):
    """``x`` itself when it is a Tensor (or None), else ``Tensor(x)`` (arrays, lists and scalars; an
    ndarray of a kept dtype is shared, not copied). The one coercion every functional entry point uses."""
    return x if x is None or isinstance(x, Tensor) else Tensor(x)


def _looks_like_device(device):
    """True for "cpu", "cuda", "cuda:0" (and unknown strings that are no dtype, so check_device names them)."""
    if not isinstance(device, str):
        return False
    if device.lower().split(":")[0] in backend.DEVICES:
        return True
    try:
        np.dtype(device)
    except TypeError:
        return True
    return False


def _wrap_scalar(value, ref):
    """A Python/NumPy scalar or array as a Tensor on ``ref``'s device.

    A scalar takes ``ref``'s dtype when ``ref`` is floating (float32 stays
    float32, as NEP 50 does for Python scalars), float32 when a float meets an
    integer tensor, int64 when an int meets a bool tensor, else ``ref``'s dtype.
    A float array or list takes a floating ``ref``'s dtype too.
    """
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (bool, int, float, np.generic)):
        dtype = ref.data.dtype
        if dtype.kind not in "fc":
            if isinstance(value, (float, np.floating)):
                dtype = _FLOAT_DEFAULT
            elif dtype.kind == "b" and not isinstance(value, (bool, np.bool_)):
                dtype = np.int64
        return Tensor._from_op(ref.xp.asarray(value, dtype=dtype), None, 0)
    if hasattr(value, "shape") and backend.device_of(value) != ref.device:
        raise RuntimeError(f"an array on {backend.device_of(value)} was combined with a tensor on "
                           f"{ref.device}; move it first with tg.Tensor(array, device='{ref.device}')")
    if not hasattr(value, "dtype"):
        value = np.asarray(value)
    float_pair = ref.data.dtype.kind == "f" and value.dtype.kind == "f"
    return Tensor(value, dtype=ref.data.dtype if float_pair else None, device=ref.device)


class ToDevice(autograd.Function):
    """y = x on another device;  dx = g moved back."""
    def __init__(self, device):
        self.device = device

    def forward(self, x):
        self.src = backend.device_of(x)
        return backend.to_device(x, self.device)

    def backward(self, g):
        return backend.to_device(g, self.src)


class Cast(autograd.Function):
    """y = x converted to another float dtype;  dx = g converted back."""
    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        self.src = x.dtype
        return x.astype(self.dtype)

    def backward(self, g):
        return g.astype(self.src)


from . import tensor_methods  # noqa: E402,F401  (attaches operators and methods to Tensor)
