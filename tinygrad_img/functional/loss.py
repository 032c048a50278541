"""Losses: L = (1/N) sum_i l(y_i, y^_i) with reduction "mean" (default), "sum" or "none"."""
from ..ops.loss import BCEWithLogits, BinaryCrossEntropy, WeightedNLL
from ..tensor import Tensor, as_tensor

__all__ = ["cross_entropy", "nll_loss", "mse_loss", "l1_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits"]

_REDUCTIONS = ("mean", "sum", "none")


def _array(x, ref):
    """The raw array of an option (class weights, targets) on ``ref``'s device, or None."""
    if x is None:
        return None
    return x.data if isinstance(x, Tensor) else ref.xp.asarray(x)


def _target(target, input):
    """The target as a Tensor of the input's device and dtype (an int or float64 target must not
    promote a float32 loss)."""
    if not isinstance(target, Tensor):
        return Tensor(target, dtype=input.dtype, device=input.device)
    return target.astype(input.dtype)


def _reduce(op, loss, reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _check_same_shape(op, input, target):
    if input.shape != target.shape:
        raise ValueError(f"{op}: input of shape {input.shape} and target of shape {target.shape} differ")


def cross_entropy(logits, target, reduction="mean", label_smoothing=0.0, weight=None, ignore_index=-100):
    """l_i = -sum_c t_ic log softmax(logits_i)_c, fused with log-sum-exp.

    Positional order is API.md's (logits, target, reduction, label_smoothing); PyTorch's
    ``weight`` and ``ignore_index`` come after, so pass them by keyword.

    ``target`` is integer class indices of shape (N,) or (N, d1, ...) for logits
    (N, C) or (N, C, d1, ...), or class probabilities of logits' shape.
    ``label_smoothing`` eps mixes the target with the uniform distribution:
    t' = (1 - eps) t + eps / C. ``weight`` rescales classes; the "mean" of
    index targets divides by the summed weights of the counted samples.
    """
    logits = as_tensor(logits)
    if not isinstance(reduction, str):
        raise TypeError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {type(reduction).__name__} "
                        f"(positional order: logits, target, reduction, label_smoothing; pass weight= by keyword)")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    return WeightedNLL(_array(target, logits), _array(weight, logits), ignore_index, label_smoothing,
                       reduction, True, "cross_entropy")(logits)


def nll_loss(log_probs, target, weight=None, ignore_index=-100, reduction="mean"):
    """l_i = -w_{y_i} log_probs[i, y_i] (the input already holds log-probabilities, class axis 1);
    "mean" divides by sum_i w_{y_i} over the samples not equal to ``ignore_index``."""
    log_probs = as_tensor(log_probs)
    return WeightedNLL(_array(target, log_probs), _array(weight, log_probs), ignore_index, 0.0,
                       reduction, False, "nll_loss")(log_probs)


def mse_loss(input, target, reduction="mean"):
    """l = (input - target)^2, reduced by ``reduction`` ("mean" = (1/n) sum over all elements)."""
    input = as_tensor(input)
    target = _target(target, input)
    _check_same_shape("mse_loss", input, target)
    d = input - target
    return _reduce("mse_loss", d * d, reduction)


def l1_loss(input, target, reduction="mean"):
    """l = |input - target|, reduced by ``reduction``; dl/dinput = sign(input - target)."""
    input = as_tensor(input)
    target = _target(target, input)
    _check_same_shape("l1_loss", input, target)
    return _reduce("l1_loss", abs(input - target), reduction)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """l = -w [t log p + (1 - t) log(1 - p)], each log clamped at -100 as PyTorch does;
    dl/dp = w (p - t) / max(p (1 - p), 1e-12), finite even where p is exactly 0 or 1."""
    input = as_tensor(input)
    target = _target(target, input)
    _check_same_shape("binary_cross_entropy", input, target)
    p = input.data
    if p.size and input.device == "cpu" and (float(p.min()) < 0 or float(p.max()) > 1):  # on cuda: NaN, no sync
        raise ValueError("binary_cross_entropy: input must hold probabilities in [0, 1]; "
                         "for logits use binary_cross_entropy_with_logits")
    loss = BinaryCrossEntropy()(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce("binary_cross_entropy", loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """l = -w [pw t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))], computed stably from the logits
    as (1 - t) x + (1 + (pw - 1) t) softplus(-x)."""
    input = as_tensor(input)
    target = _target(target, input)
    _check_same_shape("binary_cross_entropy_with_logits", input, target)
    pw = _array(pos_weight, input)
    loss = BCEWithLogits(None if pw is None else pw.astype(input.dtype, copy=False))(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce("binary_cross_entropy_with_logits", loss, reduction)
