"""compile / fit / evaluate / predict for Keras models (mixed into Sequential).

Stable softmax + cross-entropy: when the loss is a (sparse) categorical
cross-entropy with ``from_logits=False`` and the last layer's activation is
"softmax" (a Dense/Conv2D ``activation=`` or an ``Activation`` layer), the
training and evaluation passes stop before that softmax and the loss is
computed from the logits with log-sum-exp (likewise sigmoid + binary
cross-entropy). ``predict`` always returns the probabilities; metrics that read
the values (mse, mae, custom) get the probabilities too, computed from the logits
without a gradient (see ``keras.metrics``). The last layer's forward pre-hooks
and hooks still run around its pre-activation ``call`` (so pruning's
reparametrisation applies); a forward hook there sees the logits.

Per batch only scalars leave the device: the loss and one float per metric;
the outputs themselves are never copied to the host during fit/evaluate.
"""
import warnings

import numpy as np

from ..autograd import no_grad
from ..backend import to_device
from ..data.dataset import Dataset, as_array
from . import losses, metrics as keras_metrics, optimizers
from .data_adapter import as_arrays, epoch_iterator, is_batch_source, split_batch
from .history import History
from .layer import get_activation
from .progress import Progress, format_logs, resolve_verbose


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
        for layer in self.layers:  # kernel/bias regularizers: part of the loss minimised and reported
            penalty = layer.regularization_loss()
            if penalty is not None:
                loss = loss + penalty
        return loss, out, fused

    def _batch_logs(self, loss, out, yb, fused):
        """{"loss": ..., metric: ...} for one batch, computed where ``out`` lives."""
        logs = {"loss": float(loss.item())}
        if not self.compiled_metrics:
            return logs
        sigmoid_logits = fused == "sigmoid" or (self.loss.from_logits and self.loss.fused_activation == "sigmoid")
        y = to_device(as_array(yb), out.device)
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

    def _ready(self, xb, train=False):
        """Build the model (and for training its optimiser) for batches shaped like ``xb``."""
        self._ensure_built(xb.shape[1:], xb)
        if train and self.optimizer.impl is None:
            self.optimizer.build(self.trainable_parameters())

    def _validation(self, x, y, validation_split, validation_data, batch_sizes, validation_steps, epochs):
        """(training x, training y, EpochIterator over the validation data or None); ``batch_sizes``
        is (validation_batch_size, fit's batch_size): arrays and a Dataset use the first that is not
        None (Keras' default), a DataLoader or generator neither. A generator (consumed once) needs
        ``validation_steps`` when there is more than one epoch: that is checked here, up front."""
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split}")
        if validation_data is None and validation_split > 0:
            if is_batch_source(x):
                raise ValueError(f"fit: validation_split needs array inputs, not a {type(x).__name__}; "
                                 f"pass validation_data instead")
            x, y = as_arrays("fit", x, y)
            cut = int(len(x) * (1 - validation_split))
            if cut == 0 or cut == len(x):
                raise ValueError(f"fit: validation_split={validation_split} leaves an empty split of {len(x)} samples")
            validation_data, x, y = (x[cut:], y[cut:]), x[:cut], y[:cut]
        if validation_data is None:
            return x, y, None
        batch_size = batch_sizes[1] if batch_sizes[0] is None else batch_sizes[0]
        if is_batch_source(validation_data):
            xv, yv = validation_data, None
            batch_size = batch_size if isinstance(validation_data, Dataset) else batch_sizes[0]
        elif isinstance(validation_data, (tuple, list)) and len(validation_data) == 2:
            xv, yv = validation_data
        else:
            raise ValueError("fit: validation_data must be a pair (x_val, y_val), a DataLoader or a generator")
        val = epoch_iterator("fit (validation_data)", xv, yv, batch_size, validation_steps,
                             steps_name="validation_steps")
        if val.one_shot and val.steps is None and epochs > 1:
            raise ValueError(f"fit: validation_data is a generator, which the first epoch's validation would use "
                             f"up, leaving nothing for the other {epochs - 1} epochs: pass validation_steps "
                             f"(the generator must then yield validation_steps batches per epoch) or a "
                             f"re-iterable source such as a DataLoader")
        return x, y, val

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None):
        """Train for ``epochs`` epochs; returns a History of per-epoch logs.

        ``x`` is an array with targets ``y``, a DataLoader or Dataset, or a generator of
        (x, y) batches (then ``y`` and ``batch_size`` stay None: the batches carry both);
        ``steps_per_epoch`` batches make an epoch (default: one pass over the data; see
        ``keras.data_adapter``). ``validation_data`` is (x_val, y_val) or such a source
        (``validation_steps`` batches of it). ``shuffle`` reshuffles arrays (and a
        Dataset) every pass; a DataLoader shuffles as it was built to. A generator that
        runs dry stops training with a warning, as in Keras."""
        self._require_compiled("fit")
        x, y, val = self._validation(x, y, validation_split, validation_data,
                                     (validation_batch_size, batch_size), validation_steps, epochs - initial_epoch)
        train = epoch_iterator("fit", x, y, batch_size, steps_per_epoch, shuffle, "steps_per_epoch")
        if train.sample is not None:
            self._ready(train.sample, train=True)
        verbose = resolve_verbose(verbose)
        self.history = history = History()
        history.model = self
        history.params = {"epochs": epochs, "steps": train.steps_per_epoch, "verbose": verbose}
        callbacks = list(callbacks or [])
        for cb in callbacks:
            cb.set_model(self)
            cb.on_train_begin()
        self.stop_training = False
        for epoch in range(initial_epoch, epochs):
            for cb in callbacks:
                cb.on_epoch_begin(epoch)
            self.train()
            progress, totals, seen = None, {}, 0
            for step, batch in enumerate(train.epoch()):
                xb, yb = split_batch("fit", batch)
                self._ready(xb, train=True)
                progress = progress or Progress(history.params["steps"], verbose, f"Epoch {epoch + 1}/{epochs}")
                loss, out, fused = self._step_outputs(xb, yb)
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                seen += len(xb)
                for k, v in self._batch_logs(loss, out, yb, fused).items():
                    totals[k] = totals.get(k, 0.0) + v * len(xb)
                running = {k: v / seen for k, v in totals.items()}
                progress.update(1, running)
                for cb in callbacks:
                    cb.on_train_batch_end(step, running)
            if not seen:
                if epoch == initial_epoch:
                    raise ValueError("fit: the training data yielded no batches")
                warnings.warn(f"fit: the input ran out of data after {epoch - initial_epoch} epochs; "
                              f"interrupting training (a generator must yield at least steps_per_epoch * "
                              f"epochs batches)", stacklevel=2)
                break
            logs = {k: v / seen for k, v in totals.items()}
            if val is not None:
                logs.update({"val_" + k: v for k, v in self._evaluate_logs("fit (validation_data)", val).items()})
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs)
            history.record(epoch, logs)
            progress.close(logs)
            if self.stop_training:
                break
        for cb in callbacks:
            cb.on_train_end()
        return history

    def _evaluate_logs(self, op, batches):
        """The sample-weighted mean of every batch's logs over one epoch of ``batches``."""
        self._require_compiled(op)
        self.eval()
        totals, seen = {}, 0
        with no_grad():
            for batch in batches.epoch():
                xb, yb = split_batch(op, batch)
                self._ready(xb)
                loss, out, fused = self._step_outputs(xb, yb)
                seen += len(xb)
                for k, v in self._batch_logs(loss, out, yb, fused).items():
                    totals[k] = totals.get(k, 0.0) + v * len(xb)
        if not seen:
            remedy = ("a generator that yields validation_steps batches for every epoch" if op.startswith("fit")
                      else "a fresh generator")
            raise ValueError(f"{op}: the data yielded no batches (a generator is consumed once: pass {remedy}, "
                             f"or a re-iterable source such as a DataLoader)")
        return {k: v / seen for k, v in totals.items()}

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", return_dict=False, steps=None):
        """Loss and metrics in inference mode over (x, y), a DataLoader/Dataset or a generator of
        (x, y) batches (``steps`` of them; default: all): ``loss`` alone without metrics,
        else ``[loss, *metrics]`` (or a dict with ``return_dict``)."""
        self._require_compiled("evaluate")
        logs = self._evaluate_logs("evaluate", epoch_iterator("evaluate", x, y, batch_size, steps))
        if resolve_verbose(verbose):
            print(f"evaluate - {format_logs(logs)}")
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose=0, steps=None):
        """The model's outputs (probabilities after a softmax output) as a NumPy array, for
        arrays ``x`` or a DataLoader/Dataset/generator of batches (x, x alone or (x, y); the
        targets are ignored), ``steps`` batches of it (default: all)."""
        batches = epoch_iterator("predict", x, None, batch_size, steps, needs_y=False)
        self.eval()
        outs = []
        with no_grad():
            for batch in batches.epoch():
                xb, _ = split_batch("predict", batch, needs_y=False)
                self._ready(xb)
                outs.append(self.forward(self._tensor(xb)).numpy())
        if not outs:
            raise ValueError("predict: the data yielded no batches")
        return np.concatenate(outs, axis=0)

    def compile_config(self):
        """The compile arguments as JSON-able data, or None when they cannot be saved."""
        if not getattr(self, "compiled", False) or type(self.loss).__name__ not in losses.__all__:
            return None
        return {"optimizer": optimizers.serialize(self.optimizer),
                "loss": {"class_name": type(self.loss).__name__, "config": self.loss.get_config()},
                "metrics": self.metric_names}
