"""Learning-rate schedules (``tg.optim.lr_scheduler``), PyTorch's semantics.

A scheduler sets each group's ``lr`` from its ``initial_lr`` at construction
(epoch 0) and again at every ``step()``; the epoch-based schedules use
PyTorch's closed forms. ``get_last_lr()`` lists the current rates.
"""
import math
from bisect import bisect_right

from .optimizer import Optimizer

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearWarmup",
           "LinearLR", "OneCycleLR", "ReduceLROnPlateau"]


class LRScheduler:
    """Base class: subclasses give ``lr_at(base_lr, epoch)``."""

    def __init__(self, optimizer, last_epoch=-1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        for g in optimizer.param_groups:
            if last_epoch == -1:
                g.setdefault("initial_lr", g["lr"])
            elif "initial_lr" not in g:
                raise KeyError(f"{type(self).__name__}: resuming with last_epoch={last_epoch} needs "
                               "'initial_lr' in every parameter group")
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def lr_at(self, base_lr, epoch):
        raise NotImplementedError

    def step(self):
        self.last_epoch += 1
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = self.lr_at(base, self.last_epoch)
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def get_last_lr(self):
        return list(self._last_lr)

    def state_dict(self):
        """Every attribute except the optimizer."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)


class StepLR(LRScheduler):
    """lr = base_lr * gamma ^ floor(epoch / step_size)."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        self.step_size, self.gamma = int(step_size), gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** (epoch // self.step_size)


class MultiStepLR(LRScheduler):
    """lr = base_lr * gamma ^ (number of milestones <= epoch)."""

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones, self.gamma = sorted(milestones), gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** bisect_right(self.milestones, epoch)


class ExponentialLR(LRScheduler):
    """lr = base_lr * gamma ^ epoch."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** epoch


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2 (rises again after T_max)."""

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


class LinearWarmup(LRScheduler):
    """lr = base_lr * (start_factor + (end_factor - start_factor) * min(epoch, total_iters) / total_iters):
    a linear ramp over ``total_iters`` steps, then constant (PyTorch's LinearLR)."""

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5, last_epoch=-1):
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1 or total_iters < 1:
            raise ValueError(f"{type(self).__name__}: need 0 < start_factor <= 1, 0 <= end_factor <= 1 and "
                             f"total_iters >= 1; got {start_factor}, {end_factor}, {total_iters}")
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, int(total_iters)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        frac = min(epoch, self.total_iters) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * frac)


LinearLR = LinearWarmup


class OneCycleLR(LRScheduler):
    """The 1cycle policy, stepped once per batch: lr warms from max_lr / div_factor to max_lr over
    the first pct_start of ``total_steps``, then anneals to max_lr / (div_factor * final_div_factor)
    (cosine or linear); momentum (or Adam's beta1) cycles the opposite way between
    max_momentum and base_momentum."""

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3,
                 anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85, max_momentum=0.95,
                 div_factor=25.0, final_div_factor=1e4, last_epoch=-1):
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("OneCycleLR: give total_steps, or epochs and steps_per_epoch")
            total_steps = epochs * steps_per_epoch
        if total_steps <= 0 or not 0 <= pct_start <= 1 or anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: need total_steps > 0, 0 <= pct_start <= 1 and anneal_strategy "
                             f"'cos' or 'linear'; got {total_steps}, {pct_start}, {anneal_strategy!r}")
        self.total_steps, self.anneal_strategy = int(total_steps), anneal_strategy
        self.cycle_momentum = cycle_momentum
        self.phases = [(float(pct_start * total_steps) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                       (float(total_steps) - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]
        for g in optimizer.param_groups:
            if last_epoch == -1:
                g["initial_lr"] = max_lr / div_factor
                g["max_lr"], g["min_lr"] = max_lr, max_lr / div_factor / final_div_factor
            if cycle_momentum:
                if "momentum" not in g and "betas" not in g:
                    raise ValueError("OneCycleLR: cycle_momentum needs an optimizer with 'momentum' or 'betas'")
                g["max_momentum"], g["base_momentum"] = max_momentum, base_momentum
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def step(self):
        self.last_epoch += 1
        t = self.last_epoch
        if t > self.total_steps:
            raise ValueError(f"OneCycleLR: stepped {t} times but total_steps is {self.total_steps}")
        for g in self.optimizer.param_groups:
            start = 0.0
            for i, (end, lr0, lr1, m0, m1) in enumerate(self.phases):
                if t <= end or i == len(self.phases) - 1:
                    pct = (t - start) / (end - start)
                    g["lr"] = self._anneal(g[lr0], g[lr1], pct)
                    if self.cycle_momentum:
                        m = self._anneal(g[m0], g[m1], pct)
                        if "betas" in g:
                            g["betas"] = (m, *g["betas"][1:])
                        else:
                            g["momentum"] = m
                    break
                start = end
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]


class ReduceLROnPlateau:
    """Multiply lr by ``factor`` (not below ``min_lr``) when the metric given to ``step(metric)`` has not
    improved for more than ``patience`` epochs; improvement is relative (``threshold_mode="rel"``:
    better than best * (1 -/+ threshold)) or absolute; ``cooldown`` epochs follow each reduction."""

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0.0, eps=1e-8):
        if factor >= 1.0 or mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: need factor < 1, mode 'min'/'max' and threshold_mode "
                             f"'rel'/'abs'; got {factor}, {mode!r}, {threshold_mode!r}")
        self.optimizer = optimizer
        n = len(optimizer.param_groups)
        self.min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * n
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode, self.cooldown, self.eps = threshold, threshold_mode, cooldown, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def _is_better(self, a):
        if self.mode == "min":
            rel, diff = self.best * (1 - self.threshold), self.best - self.threshold
            return a < (rel if self.threshold_mode == "rel" else diff)
        rel, diff = self.best * (1 + self.threshold), self.best + self.threshold
        return a > (rel if self.threshold_mode == "rel" else diff)

    def step(self, metrics):
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for g, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
                new_lr = max(g["lr"] * self.factor, min_lr)
                if g["lr"] - new_lr > self.eps:
                    g["lr"] = new_lr
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def get_last_lr(self):
        return list(self._last_lr)

    state_dict = LRScheduler.state_dict
    load_state_dict = LRScheduler.load_state_dict
