"""Pruning by masks, after ``torch.nn.utils.prune`` (simplified).

Pruning ``module.<name>`` moves the original Parameter to ``<name>_orig`` (the
same object, so an optimizer built earlier keeps updating it), adds a float
buffer ``<name>_mask`` of 0s and 1s, and recomputes the plain tensor

    module.<name> = <name>_orig * <name>_mask

in a forward pre-hook before every call. Pruned entries therefore stay zero
while training, and since d(orig * mask)/d orig = mask, their gradients are
exactly zero. ``remove`` makes the pruning permanent (a plain Parameter again).

Pruning an already pruned tensor again chooses only among the entries (or, for
structured pruning, the slices) still kept, and the masks multiply, as
PyTorch's PruningContainer does. Ties in the importance score are broken
deterministically: the entry (slice) with the lower flat index is pruned first.
"""
import numpy as np

from .. import backend, random
from ..nn.module import Module
from ..tensor import Tensor

__all__ = ["l1_unstructured", "random_unstructured", "ln_structured", "global_unstructured", "remove",
           "is_pruned", "sparsity"]


def _param(fn, module, name):
    """The tensor ``module.<name>`` currently holds (its original when already pruned)."""
    if not isinstance(module, Module):
        raise TypeError(f"{fn}: expected a Module, got {type(module).__name__}")
    if name in _pruned(module):
        return module._parameters[name + "_orig"]
    p = module._parameters.get(name)
    if p is None:
        known = [k for k, v in module._parameters.items() if v is not None]
        raise ValueError(f"{fn}: {type(module).__name__} has no parameter named {name!r} (it has {known})")
    return p


def _pruned(module):
    return module.__dict__.get("_pruning", {})


def _count(fn, amount, n):
    """How many of ``n`` candidates to prune: round(amount * n) for a fraction, the number itself
    for an int (Python's round, half to even, as PyTorch)."""
    if isinstance(amount, bool) or not isinstance(amount, (int, float, np.integer, np.floating)):
        raise TypeError(f"{fn}: amount must be a float fraction or an int count, got {type(amount).__name__}")
    if isinstance(amount, (int, np.integer)):
        if not 0 <= amount <= n:
            raise ValueError(f"{fn}: amount={amount} is out of range: only {n} can be pruned")
        return int(amount)
    if not 0.0 <= amount <= 1.0:
        raise ValueError(f"{fn}: amount={amount} must be a fraction in [0, 1]")
    return int(round(float(amount) * n))


def _smallest(scores, k):
    """Boolean mask of the k smallest scores (stable: equal scores are taken in index order)."""
    xp = backend.get_array_module(scores)
    drop = xp.zeros(scores.shape, dtype=bool)
    drop[backend.stable_argsort(scores)[:k]] = True
    return drop


class _Reparametrize:
    """The forward pre-hook: module.<name> = <name>_orig * <name>_mask."""

    def __init__(self, name):
        self.name = name

    def __call__(self, module, inputs):
        object.__setattr__(module, self.name, getattr(module, self.name + "_orig") *
                           getattr(module, self.name + "_mask"))


def _apply_mask(module, name, new_mask):
    """Install (or multiply into the existing) mask and recompute the effective tensor."""
    if name in _pruned(module):
        mask = module._buffers[name + "_mask"]
        mask.data[...] = mask.data * new_mask
    else:
        orig = module._parameters.pop(name)
        module.register_parameter(name + "_orig", orig)
        module.register_buffer(name + "_mask", Tensor(new_mask, dtype=orig.dtype, device=orig.device))
        module.__dict__.setdefault("_pruning", {})[name] = module.register_forward_pre_hook(_Reparametrize(name))
    _Reparametrize(name)(module, ())
    return module


def _keep_mask(module, name, orig):
    if name in _pruned(module):
        return module._buffers[name + "_mask"].data != 0
    return orig.xp.ones(orig.shape, dtype=bool)


def _prune_entries(fn, module, name, amount, score):
    orig = _param(fn, module, name)
    keep = _keep_mask(module, name, orig)
    k = _count(fn, amount, int(keep.sum()))
    scores = orig.xp.where(keep, score(orig), np.inf).ravel()
    return _apply_mask(module, name, ~_smallest(scores, k).reshape(orig.shape))


def l1_unstructured(module, name="weight", amount=0.5):
    """Zero the ``amount`` entries of ``module.<name>`` with the smallest |w|.

    ``amount`` is a fraction in [0, 1] (round(amount * n) entries) or an int count.
    mask_i = 0 for the k smallest |w_i| (ties: lower flat index first), 1 otherwise.
    Returns the module.
    """
    return _prune_entries("l1_unstructured", module, name, amount, lambda p: abs(p.data))


def random_unstructured(module, name="weight", amount=0.5):
    """Zero ``amount`` entries of ``module.<name>`` chosen uniformly at random (without
    replacement) from the generator seeded by ``tg.manual_seed``. Returns the module."""
    def score(p):
        return backend.to_device(random.generator("cpu").random(p.shape), p.device)
    return _prune_entries("random_unstructured", module, name, amount, score)


def ln_structured(module, name="weight", amount=0.5, n=2, dim=0):
    """Zero whole slices of ``module.<name>`` along ``dim`` (dim=0: a conv's output channels)
    whose L_n norm ||w[..., j, ...]||_n = (sum |w|^n)^(1/n) is smallest.

    ``n`` is a positive number or ``float("inf")`` (the largest |w|); ``amount`` counts
    slices (a fraction of them or an int). The tensor must have at least 2 dimensions (as in
    PyTorch). Returns the module.
    """
    fn = "ln_structured"
    orig = _param(fn, module, name)
    if orig.ndim < 2:
        raise ValueError(f"{fn}: structured pruning needs a tensor of at least 2 dimensions, but {name} "
                         f"has shape {orig.shape}; use l1_unstructured for a 1-D tensor")
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not -orig.ndim <= dim < orig.ndim:
        raise ValueError(f"{fn}: dim={dim!r} must be an int in [{-orig.ndim}, {orig.ndim}) for {name} of "
                         f"shape {orig.shape}")
    if isinstance(n, bool) or not isinstance(n, (int, float, np.integer, np.floating)) or not n > 0:
        raise ValueError(f"{fn}: n={n!r} must be a positive number (or float('inf'))")
    dim %= orig.ndim
    xp, others = orig.xp, tuple(a for a in range(orig.ndim) if a != dim)
    keep = _keep_mask(module, name, orig)
    alive = keep.any(axis=others)
    w = abs(orig.data.astype(np.float64) * keep)
    norms = w.max(axis=others) if n == float("inf") else (w ** n).sum(axis=others) ** (1.0 / n)
    k = _count(fn, amount, int(alive.sum()))
    drop = _smallest(xp.where(alive, norms, np.inf), k)
    shape = [1] * orig.ndim
    shape[dim] = orig.shape[dim]
    return _apply_mask(module, name, xp.broadcast_to(~drop.reshape(shape), orig.shape))


def global_unstructured(parameters, amount):
    """L1 pruning across several tensors at once: the ``amount`` entries with the smallest
    |w| over ALL of ``parameters`` (a list of ``(module, name)`` pairs) are zeroed, so layers
    lose different fractions. ``amount`` is a fraction of the total still-kept entries or an
    int count. All the tensors must be on one device. Returns None."""
    fn = "global_unstructured"
    parameters = list(parameters)
    if not parameters:
        raise ValueError(f"{fn}: parameters is empty; pass a list of (module, name) pairs")
    for i, pair in enumerate(parameters):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and isinstance(pair[1], str)):
            raise TypeError(f"{fn}: parameters must be (module, name) pairs such as (model.fc, 'weight'), "
                            f"but entry {i} is {type(pair).__name__} {pair!r}")
    origs = [_param(fn, m, name) for m, name in parameters]
    devices = sorted({p.device for p in origs})
    if len(devices) > 1:
        raise ValueError(f"{fn}: all parameters must be on one device to be ranked together, got devices "
                         f"{devices}; move the modules with .to(device) first")
    keeps = [_keep_mask(m, name, p) for (m, name), p in zip(parameters, origs)]
    xp = origs[0].xp
    scores = xp.concatenate([xp.where(kp, abs(p.data.astype(np.float64)), np.inf).ravel()
                             for p, kp in zip(origs, keeps)])
    drop = _smallest(scores, _count(fn, amount, int(sum(int(kp.sum()) for kp in keeps))))
    start = 0
    for (m, name), p in zip(parameters, origs):
        _apply_mask(m, name, ~drop[start:start + p.size].reshape(p.shape))
        start += p.size


def remove(module, name="weight"):
    """Make the pruning of ``module.<name>`` permanent: ``<name>`` becomes a plain Parameter
    holding orig * mask, and ``<name>_orig``, ``<name>_mask`` and the hook are gone."""
    if name not in _pruned(module):
        raise ValueError(f"remove: parameter {name!r} of {type(module).__name__} is not pruned")
    _pruned(module).pop(name).remove()
    orig = module._parameters.pop(name + "_orig")
    mask = module._buffers.pop(name + "_mask")
    module.__dict__.pop(name, None)
    orig.data[...] = orig.data * mask.data
    orig.grad = None
    setattr(module, name, orig)
    return module


def is_pruned(module):
    """True when ``module`` or any module inside it has a pruned tensor."""
    return any(_pruned(m) for m in module.modules())


def sparsity(module):
    """Fraction of zero entries of every effective tensor (``orig * mask`` where pruned, else
    the parameter): ``{"fc.weight": 0.5, ..., "total": zeros / entries}``."""
    report, zeros, total = {}, 0, 0
    for prefix, m in module.named_modules():
        pruned = _pruned(m)
        names = [n for n, p in m._parameters.items()
                 if p is not None and not (n.endswith("_orig") and n[:-5] in pruned)]
        for n in names + [n for n in pruned if n not in names]:
            t = getattr(m, n)
            z = int((t.data == 0).sum())
            report[f"{prefix}.{n}" if prefix else n] = z / max(t.size, 1)
            zeros, total = zeros + z, total + t.size
    report["total"] = zeros / max(total, 1)
    return report
