"""The Optimizer base class: parameter groups, per-parameter state, state_dict round trips.

Subclasses implement ``_update(p, grad, state, group)``, which changes
``p.data`` IN PLACE (the parameter array is never reallocated, so views and
references to it stay valid) and keeps its state as arrays on the parameter's
device. Gradients are only read, never written: they may be shared arrays.
"""
import copy

from .. import backend
from ..autograd import enable_grad, no_grad
from ..tensor import Tensor


class Optimizer:
    """``Optimizer(params, defaults)``: ``params`` is an iterable of Tensors or of dicts
    ``{"params": [...], **options}`` (parameter groups with their own options)."""

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = {}
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Tensors or dicts, "
                            "got a single Tensor (wrap it in a list)")
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, group):
        """Add a group of parameters with its own options (missing options take the defaults)."""
        name = type(self).__name__
        group = dict(group)
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimise Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name}: can't optimise a non-leaf Tensor (shape {p.shape}); "
                                 "pass parameters or tensors created with requires_grad=True")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{name}: a parameter group contains the same tensor twice")
        known = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in known for p in params):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        for key, default in self.defaults.items():
            group.setdefault(key, default)
        group["params"] = params
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group):
        if not 0.0 <= group["lr"]:
            raise ValueError(f"{type(self).__name__}: invalid learning rate {group['lr']}")

    def zero_grad(self, set_to_none=True):
        """Forget every parameter's gradient (or replace it by zeros when ``set_to_none=False``)."""
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is not None:
                    p.zero_grad(set_to_none)

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()``'s loss if given."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    if p.grad.shape != p.shape:
                        raise ValueError(f"{type(self).__name__}: gradient of shape {p.grad.shape} for a "
                                         f"parameter of shape {p.shape}")
                    state = self.state.setdefault(p, {})
                    self._update(p, p.grad.data, state, group)
        return loss

    def _update(self, p, grad, state, group):
        raise NotImplementedError

    # ----- checkpoints
    def state_dict(self):
        """``{"state": {index: {name: array or number}}, "param_groups": [{options, "params": [index]}]}``,
        parameters numbered in group order (PyTorch's layout)."""
        index, groups = {}, []
        for g in self.param_groups:
            ids = []
            for p in g["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": ids})
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore options and state (copied onto each parameter's device). Everything is checked
        first: group count, group sizes and state shapes; a mismatch changes nothing."""
        name = type(self).__name__
        try:
            saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        except (KeyError, TypeError):
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups'") from None
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: checkpoint has {len(saved_groups)} parameter groups, "
                             f"the optimizer has {len(self.param_groups)}")
        params = {}
        for i, (g, sg) in enumerate(zip(self.param_groups, saved_groups)):
            if len(g["params"]) != len(sg["params"]):
                raise ValueError(f"{name}.load_state_dict: group {i} has {len(sg['params'])} parameters in the "
                                 f"checkpoint but {len(g['params'])} in the optimizer")
            params.update({int(k): p for k, p in zip(sg["params"], g["params"])})
        new_state = {}
        for k, s in saved_state.items():
            if int(k) not in params:
                raise ValueError(f"{name}.load_state_dict: state for parameter {k}, which no group lists")
            p = params[int(k)]
            new_state[p] = {key: self._load_value(p, key, v, k) for key, v in s.items()}
        for g, sg in zip(self.param_groups, saved_groups):
            for key, v in sg.items():
                if key != "params":
                    g[key] = tuple(v) if isinstance(self.defaults.get(key), tuple) else copy.deepcopy(v)
        self.state = new_state

    def _load_value(self, p, key, v, k):
        if isinstance(v, Tensor):
            v = v.data
        if not hasattr(v, "shape"):
            return copy.deepcopy(v)
        if v.ndim == 0:
            return v.item()
        if tuple(v.shape) != p.shape:
            raise ValueError(f"{type(self).__name__}.load_state_dict: state {key!r} of parameter {k} has shape "
                             f"{tuple(v.shape)} but the parameter has shape {p.shape}")
        return backend.to_device(v, p.device).astype(p.dtype, copy=True)

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(g.items()) if k != "params"]
        return "\n".join(lines) + "\n)"
