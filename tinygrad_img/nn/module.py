"""Module and Parameter: the PyTorch-style container of layers, weights and buffers."""
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from .. import backend
from ..tensor import Tensor, _looks_like_device


class Parameter(Tensor):
    """A Tensor that a Module owns and trains (requires grad unless told otherwise).

    Unlike ``Tensor(ndarray)``, it COPIES a NumPy/CuPy array it is given, so optimizer steps,
    which update ``.data`` in place, never write into the caller's array. Given a Tensor it
    shares that tensor's data and keeps its dtype (as ``torch.nn.Parameter`` does).
    """
    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        super().__init__(data.data if isinstance(data, Tensor) else data,
                         dtype=data.dtype if isinstance(data, Tensor) else None)
        if self.data is data:  # an array kept as is by Tensor(): take a private copy
            self.data = data.copy()
        self.requires_grad_(requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class _RemovableHandle:
    """Unregisters one hook from its module's hook dict on ``remove()`` (or on leaving a ``with``)."""
    _next_id = 0

    def __init__(self, hooks, hook):
        self._hooks, self.id = hooks, _RemovableHandle._next_id
        _RemovableHandle._next_id += 1
        hooks[self.id] = hook

    def remove(self):
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False


class Module:
    """Base class of every layer: holds Parameters, buffers and child Modules as attributes."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "training", True)

    # ----- attribute routing
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        for store in (self._parameters, self._buffers, self._modules):
            store.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif name in self.__dict__.get("_buffer_names", ()):
            self._buffers[name] = value if value is None or isinstance(value, Tensor) else Tensor(value)
        else:
            object.__setattr__(self, name, value)
            return
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name, tensor, persistent=True):
        """A state tensor saved in ``state_dict`` but not trained (e.g. BatchNorm running stats)."""
        if tensor is not None and not isinstance(tensor, Tensor):
            tensor = Tensor(tensor)
        self.__dict__.setdefault("_buffer_names", set()).add(name)
        self.__dict__.pop(name, None)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def register_parameter(self, name, param):
        if param is None:
            self._parameters[name] = None
        else:
            setattr(self, name, param)

    def add_module(self, name, module):
        self._modules[name] = module

    # ----- running
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        return self._call_with_hooks(self.forward, *args, **kwargs)

    def _call_with_hooks(self, fn, *args, **kwargs):
        """What ``module(*args)`` does, with ``fn`` in place of ``forward``: the forward pre-hooks
        (which may replace ``args``), ``out = fn(*args, **kwargs)``, then the forward hooks (which
        may replace ``out``). Code that runs another entry point of a module (Keras' pre-activation
        ``Layer.call``) goes through here so hooks, e.g. pruning's reparametrisation, still apply."""
        if self._forward_pre_hooks:
            for hook in tuple(self._forward_pre_hooks.values()):
                replaced = hook(self, args)
                if replaced is not None:
                    args = replaced if isinstance(replaced, tuple) else (replaced,)
        out = fn(*args, **kwargs)
        if not self._forward_hooks:
            return out
        for hook in tuple(self._forward_hooks.values()):
            replaced = hook(self, args, out)
            if replaced is not None:
                out = replaced
        return out

    def register_forward_hook(self, hook):
        """Call ``hook(module, inputs, output)`` after every forward (``inputs`` is the tuple of
        positional arguments); a non-None return value replaces the output, as in PyTorch.
        Returns a handle whose ``remove()`` unregisters the hook (also a context manager)."""
        return _RemovableHandle(self._forward_hooks, hook)

    def register_forward_pre_hook(self, hook):
        """Call ``hook(module, inputs)`` before every forward (``inputs`` is the tuple of positional
        arguments); a non-None return value (a tuple, or a single value) replaces the inputs, as in
        PyTorch. Returns a handle whose ``remove()`` unregisters the hook (also a context manager)."""
        return _RemovableHandle(self._forward_pre_hooks, hook)

    # ----- discovery
    def named_modules(self, prefix="", memo=None):
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(f"{prefix}.{name}" if prefix else name, memo)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, attr, prefix, recurse):
        seen = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_prefix, m in mods:
            for name, t in getattr(m, attr).items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), t

    def named_parameters(self, prefix="", recurse=True):
        yield from self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True):
        yield from self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ----- modes and grads
    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        """Forget every parameter's gradient (or set it to fresh zeros when ``set_to_none=False``)."""
        for p in self.parameters():
            p.zero_grad(set_to_none)

    def requires_grad_(self, flag=True):
        for p in self.parameters():
            p.requires_grad_(flag)
        return self

    # ----- state
    def state_dict(self, prefix=""):
        """name -> Tensor for every parameter and persistent buffer (sharing their data)."""
        out = OrderedDict()
        for mod_prefix, m in self.named_modules(prefix):
            for name, p in m._parameters.items():
                if p is not None:
                    out[f"{mod_prefix}.{name}" if mod_prefix else name] = p.detach()
            for name, b in m._buffers.items():
                if b is not None and name not in m._non_persistent:
                    out[f"{mod_prefix}.{name}" if mod_prefix else name] = b.detach()
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy values into the parameters and buffers in place.

        Every problem (missing or unexpected keys, shape mismatches, a float
        value for an integer buffer or the reverse) is found before anything is
        copied, so a failed load leaves the module unchanged; each offending key
        is named. With ``strict=False`` missing and unexpected keys are allowed
        (and returned) but shape and dtype mismatches still raise.
        Returns ``(missing_keys, unexpected_keys)``.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict for {type(self).__name__}: expected a dict of tensors/arrays, "
                            f"got {type(state_dict).__name__}")
        own = self.state_dict()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        mismatched = []
        for k, t in own.items():
            if k not in state_dict:
                continue
            v = state_dict[k]
            if not hasattr(v, "shape") or not hasattr(v, "dtype"):
                mismatched.append(f"{k}: expected an array, got {type(v).__name__}")
            elif tuple(v.shape) != t.shape:
                mismatched.append(f"{k}: shape {tuple(v.shape)} in checkpoint vs {t.shape} in model")
            elif (np.dtype(v.dtype).kind in "fc") != (t.dtype.kind in "fc"):
                mismatched.append(f"{k}: dtype {np.dtype(v.dtype)} in checkpoint vs {t.dtype} in model")
        problems = []
        if mismatched:
            problems.append("mismatch for " + "; ".join(mismatched))
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if problems:
            raise ValueError(f"load_state_dict for {type(self).__name__}: " + " | ".join(problems))
        for k, t in own.items():
            if k in state_dict:
                v = state_dict[k]
                v = backend.to_device(v.data if isinstance(v, Tensor) else v, t.device)
                t.data[...] = v.astype(t.dtype, copy=False)
        return missing, unexpected

    def to(self, device=None, dtype=None):
        """Move (and/or cast) every parameter and buffer in place; returns self.
        ``m.to("float64")`` / ``m.to(np.float64)`` (a dtype first) casts, as ``Tensor.to`` does."""
        if device is not None and not _looks_like_device(device):
            device, dtype = None, device
        if device is not None:
            device = backend.check_device(device)
        for m in self.modules():
            for store in (m._parameters, m._buffers):
                for t in store.values():
                    if t is None:
                        continue
                    if device is not None and t.device != device:
                        t.data = backend.to_device(t.data, device)
                        if t.grad is not None:
                            t.grad.data = backend.to_device(t.grad.data, device)
                    if dtype is not None and t.dtype.kind == "f" and t.dtype != np.dtype(dtype):
                        t.data = t.data.astype(dtype)
                        t.grad = None
        return self

    def cpu(self):
        return self.to("cpu")

    def float(self):
        return self.to(dtype=np.float32)

    def double(self):
        return self.to(dtype=np.float64)

    def cuda(self):
        return self.to("cuda")

    # ----- printing
    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"
