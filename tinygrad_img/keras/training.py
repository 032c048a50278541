"""compile / fit / evaluate / predict for Keras models (mixed into Sequential).

Stable softmax + cross-entropy: when the loss is a (sparse) categorical
cross-entropy with ``from_logits=False`` and the last layer's activation is
"softmax" (a Dense/Conv2D ``activation=`` or an ``Activation`` layer), the
training and evaluation passes stop before that softmax and the loss is
computed from the logits with log-sum-exp (likewise sigmoid + binary
cross-entropy). ``predict`` always returns the probabilities; metrics that read
the values (mse, mae, custom) get the probabilities too, computed from the logits
without a gradient (see ``keras.metrics``).

Per batch only scalars leave the device: the loss and one float per metric;
the outputs themselves are never copied to the host during fit/evaluate.
"""
import math

import numpy as np

from .. import random as tg_random
from ..autograd import no_grad
from ..backend import to_device
from ..metrics import to_numpy
from . import losses, metrics as keras_metrics, optimizers
from .history import History
from .layer import get_activation
from .progress import Progress, format_logs, resolve_verbose


def _array(x, what):
    if x is None:
        raise ValueError(f"{what} is None")
    return to_numpy(x)


def _check_lengths(op, x, y):
    if y is not None and len(x) != len(y):
        raise ValueError(f"{op}: x has {len(x)} samples but y has {len(y)}")


def _batch_size(batch_size):
    batch_size = 32 if batch_size is None else int(batch_size)
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    return batch_size


class TrainingMixin:
    """The Keras training API over ``self.layers`` (see the module docstring)."""

    def compile(self, optimizer="rmsprop", loss=None, metrics=None):
        """Choose the optimiser, the loss and the metrics (names or objects)."""
        if loss is None:
            raise ValueError("compile: a loss is required, e.g. loss='sparse_categorical_crossentropy'")
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses.get(loss)
        self.metric_names = [m for m in (metrics or []) if isinstance(m, str)]
        self.compiled_metrics = [keras_metrics.get(m, self.loss.name) for m in (metrics or [])]
        self.compiled = True
        if self.built:
            self.optimizer.build(self.trainable_parameters())

    def _require_compiled(self, op):
        if not getattr(self, "compiled", False):
            raise RuntimeError(f"{op}: the model must be compiled first: model.compile(optimizer, loss, metrics)")

    def _fused_activation(self):
        last = self.layers[-1] if self.layers else None
        act = self.loss.fused_activation
        if act is None or self.loss.from_logits or last is None or last.activation != act:
            return None
        return act

    def _step_outputs(self, xb, yb):
        """(loss tensor, output tensor, fused activation name or None) for one batch."""
        x = self._tensor(xb)
        fused = self._fused_activation()
        out = self.forward(x, skip_final_activation=fused is not None)
        loss = self.loss.from_logits_loss(yb, out) if fused else self.loss(yb, out)
        return loss, out, fused

    def _batch_logs(self, loss, out, yb, fused):
        """{"loss": ..., metric: ...} for one batch, computed where ``out`` lives."""
        logs = {"loss": float(loss.item())}
        if not self.compiled_metrics:
            return logs
        sigmoid_logits = fused == "sigmoid" or (self.loss.from_logits and self.loss.fused_activation == "sigmoid")
        y = to_device(np.asarray(yb), out.device)
        probs = None
        for metric in self.compiled_metrics:
            if metric.needs_probs and fused:
                if probs is None:
                    with no_grad():
                        probs = get_activation(fused)(out).data
                logs[metric.name] = metric(y, probs, 0.5)
            else:
                logs[metric.name] = metric(y, out.data, 0.0 if sigmoid_logits else 0.5)
        return logs

    def _prepare(self, op, x, y):
        self._require_compiled(op)
        x, y = _array(x, f"{op}: x"), _array(y, f"{op}: y")
        _check_lengths(op, x, y)
        if len(x) == 0:
            raise ValueError(f"{op}: no samples")
        self._ensure_built(x.shape[1:])
        if self.optimizer.impl is None:
            self.optimizer.build(self.trainable_parameters())
        return x, y

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0):
        """Train for ``epochs`` passes over (x, y); returns a History of per-epoch logs."""
        x, y = self._prepare("fit", x, y)
        batch_size, verbose = _batch_size(batch_size), resolve_verbose(verbose)
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split}")
        if validation_data is None and validation_split > 0:
            cut = int(len(x) * (1 - validation_split))
            if cut == 0 or cut == len(x):
                raise ValueError(f"fit: validation_split={validation_split} leaves an empty split of {len(x)} samples")
            validation_data, x, y = (x[cut:], y[cut:]), x[:cut], y[:cut]
        if validation_data is not None:
            if len(validation_data) != 2:
                raise ValueError("fit: validation_data must be a pair (x_val, y_val)")
            xv, yv = _array(validation_data[0], "fit: x_val"), _array(validation_data[1], "fit: y_val")
            _check_lengths("fit (validation_data)", xv, yv)
        self.history = history = History()
        history.model = self
        history.params = {"epochs": epochs, "steps": math.ceil(len(x) / batch_size), "verbose": verbose}
        callbacks = list(callbacks or [])
        for cb in callbacks:
            cb.set_model(self)
            cb.on_train_begin()
        self.stop_training = False
        gen = tg_random.generator("cpu")
        for epoch in range(initial_epoch, epochs):
            for cb in callbacks:
                cb.on_epoch_begin(epoch)
            self.train()
            order = gen.permutation(len(x)) if shuffle else np.arange(len(x))
            progress = Progress(history.params["steps"], verbose, f"Epoch {epoch + 1}/{epochs}")
            totals, seen = {}, 0
            for step, start in enumerate(range(0, len(x), batch_size)):
                idx = order[start:start + batch_size]
                loss, out, fused = self._step_outputs(x[idx], y[idx])
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                seen += len(idx)
                for k, v in self._batch_logs(loss, out, y[idx], fused).items():
                    totals[k] = totals.get(k, 0.0) + v * len(idx)
                running = {k: v / seen for k, v in totals.items()}
                progress.update(1, running)
                for cb in callbacks:
                    cb.on_train_batch_end(step, running)
            logs = {k: v / seen for k, v in totals.items()}
            if validation_data is not None:
                logs.update({"val_" + k: v for k, v in self._evaluate_logs(xv, yv, batch_size).items()})
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs)
            history.record(epoch, logs)
            progress.close(logs)
            if self.stop_training:
                break
        for cb in callbacks:
            cb.on_train_end()
        return history

    def _evaluate_logs(self, x, y, batch_size):
        self.eval()
        totals = {}
        with no_grad():
            for start in range(0, len(x), batch_size):
                xb, yb = x[start:start + batch_size], y[start:start + batch_size]
                loss, out, fused = self._step_outputs(xb, yb)
                for k, v in self._batch_logs(loss, out, yb, fused).items():
                    totals[k] = totals.get(k, 0.0) + v * len(xb)
        return {k: v / len(x) for k, v in totals.items()}

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", return_dict=False):
        """Loss and metrics over (x, y) in inference mode: ``loss`` alone without metrics,
        else ``[loss, *metrics]`` (or a dict with ``return_dict``)."""
        x, y = self._prepare("evaluate", x, y)
        logs = self._evaluate_logs(x, y, _batch_size(batch_size))
        if resolve_verbose(verbose):
            print(f"evaluate - {format_logs(logs)}")
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose=0):
        """The model's outputs (probabilities after a softmax output) as a NumPy array."""
        x = _array(x, "predict: x")
        if len(x) == 0:
            raise ValueError("predict: no samples")
        self._ensure_built(x.shape[1:])
        batch_size = _batch_size(batch_size)
        self.eval()
        outs = []
        with no_grad():
            for start in range(0, len(x), batch_size):
                outs.append(self.forward(self._tensor(x[start:start + batch_size])).numpy())
        return np.concatenate(outs, axis=0)

    def compile_config(self):
        """The compile arguments as JSON-able data, or None when they cannot be saved."""
        if not getattr(self, "compiled", False) or type(self.loss).__name__ not in losses.__all__:
            return None
        return {"optimizer": optimizers.serialize(self.optimizer),
                "loss": {"class_name": type(self.loss).__name__, "config": self.loss.get_config()},
                "metrics": self.metric_names}
