"""Containers: Sequential (a pipeline), ModuleList and ModuleDict (registered collections)."""
from collections import OrderedDict

from .module import Module

__all__ = ["Sequential", "ModuleList", "ModuleDict"]


def _check_module(owner, m):
    if not isinstance(m, Module):
        raise TypeError(f"{owner}: expected a Module, got {type(m).__name__}")
    return m


class _IndexedModules(Module):
    """Shared list behaviour: children named "0", "1", ... kept in order."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def _index(self, idx):
        n = len(self._modules)
        if not -n <= idx < n:
            raise IndexError(f"{type(self).__name__}: index {idx} is out of range for {n} modules")
        return list(self._modules)[idx]

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)(list(self._modules.values())[idx])
        return self._modules[self._index(idx)]

    def __setitem__(self, idx, module):
        self._modules[self._index(idx)] = _check_module(type(self).__name__, module)

    def __delitem__(self, idx):
        keys = list(self._modules)
        drop = set(keys[idx]) if isinstance(idx, slice) else {self._index(idx)}
        kept = [m for k, m in self._modules.items() if k not in drop]
        self._modules.clear()
        for i, m in enumerate(kept):
            self._modules[str(i)] = m

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        """Add ``module`` at the end; returns self."""
        self._modules[str(len(self._modules))] = _check_module(type(self).__name__, module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        mods = list(self._modules.values())
        mods.insert(index, _check_module(type(self).__name__, module))
        self._modules.clear()
        for i, m in enumerate(mods):
            self._modules[str(i)] = m


class Sequential(_IndexedModules):
    """y = f_n(... f_2(f_1(x))): runs its modules in order.

    ``Sequential(m1, m2, ...)`` or ``Sequential(OrderedDict(name=module))``;
    supports ``len``, indexing, slicing (a new Sequential sharing the layers),
    iteration and ``append``.
    """

    def __init__(self, *modules):
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            Module.__init__(self)
            for name, m in modules[0].items():
                self._modules[name] = _check_module("Sequential", m)
        else:
            super().__init__(modules[0] if len(modules) == 1 and isinstance(modules[0], list) else modules)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        return self._modules[idx if isinstance(idx, str) else self._index(idx)]

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x


class ModuleList(_IndexedModules):
    """A list of Modules whose parameters the owner discovers (no forward of its own)."""


class ModuleDict(Module):
    """A dict of Modules whose parameters the owner discovers (no forward of its own)."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self._modules[str(key)] = _check_module("ModuleDict", module)

    def __delitem__(self, key):
        del self._modules[key]

    def __contains__(self, key):
        return key in self._modules

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def update(self, modules):
        items = modules.items() if hasattr(modules, "items") else modules
        for k, m in items:
            self[k] = m
