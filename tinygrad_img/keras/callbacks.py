"""Keras callbacks: hooks that ``fit`` calls at the start and end of training and of each epoch.

``logs`` at the end of an epoch hold "loss", the compiled metrics and, with
validation data, their "val_" counterparts.
"""
import csv
import math
import os

from .history import History

__all__ = ["Callback", "History", "EarlyStopping", "ModelCheckpoint", "LearningRateScheduler",
           "ReduceLROnPlateau", "CSVLogger"]


class Callback:
    """Base class: override any of the ``on_*`` hooks; ``self.model`` is the model being trained."""

    def __init__(self):
        self.model = None

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        pass


class _Monitor:
    """Tracks the best value of ``monitor``: mode "min", "max" or "auto" (max for accuracy-like names)."""

    def __init__(self, owner, monitor, mode, min_delta):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"{owner}: mode must be 'auto', 'min' or 'max', got {mode!r}")
        if mode == "auto":
            mode = "max" if ("acc" in monitor or monitor.endswith("auc") or "f1" in monitor) else "min"
        self.owner, self.monitor, self.mode, self.min_delta = owner, monitor, mode, abs(min_delta)
        self.best = math.inf if mode == "min" else -math.inf

    def value(self, logs):
        if logs is None or self.monitor not in logs:
            raise ValueError(f"{self.owner}: monitored quantity {self.monitor!r} is not in the logs "
                             f"(available: {sorted(logs or {})}); pass validation data for val_ metrics")
        return float(logs[self.monitor])

    def improved(self, value, reference=None):
        """Whether ``value`` beats ``reference`` (default: the best so far) by more than min_delta."""
        reference = self.best if reference is None else reference
        if self.mode == "min":
            return value < reference - self.min_delta
        return value > reference + self.min_delta


def _weights(model):
    return {k: v.copy() for k, v in model.get_weights_dict().items()}


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs;
    with ``restore_best_weights`` the best epoch's weights are put back at the end."""

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.tracker = _Monitor("EarlyStopping", monitor, mode, min_delta)
        self.patience, self.verbose, self.baseline = patience, verbose, baseline
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch
        self.wait, self.stopped_epoch, self.best_epoch, self.best_weights = 0, 0, 0, None

    @property
    def best(self):
        return self.tracker.best

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best_epoch, self.best_weights = 0, 0, 0, None
        self.tracker.best = math.inf if self.tracker.mode == "min" else -math.inf

    def on_epoch_end(self, epoch, logs=None):
        if epoch < self.start_from_epoch:
            return
        value = self.tracker.value(logs)
        self.wait += 1
        if self.tracker.improved(value):
            self.tracker.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self.best_weights = _weights(self.model)
            if self.baseline is None or self.tracker.improved(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights_dict(self.best_weights)
        if self.stopped_epoch and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping (best epoch {self.best_epoch + 1})")


class ModelCheckpoint(Callback):
    """Save the model after each epoch to ``filepath`` (may hold ``{epoch:02d}`` and log keys such
    as ``{val_loss:.3f}``); with ``save_best_only`` only when ``monitor`` improved."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto"):
        super().__init__()
        self.filepath, self.verbose = os.fspath(filepath), verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.tracker = _Monitor("ModelCheckpoint", monitor, mode, 0.0)
        self.saved = []

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            value = self.tracker.value(logs)
            if not self.tracker.improved(value):
                return
            self.tracker.best = value
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        self.saved.append(path)
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved model to {path}")


class LearningRateScheduler(Callback):
    """Set the learning rate at each epoch start to ``schedule(epoch)`` or ``schedule(epoch, lr)``."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = self.model.optimizer.learning_rate
        try:
            new = self.schedule(epoch, lr)
        except TypeError:
            new = self.schedule(epoch)
        if not isinstance(new, (int, float)) or not math.isfinite(new):
            raise ValueError(f"LearningRateScheduler: schedule returned {new!r}, expected a finite float")
        self.model.optimizer.learning_rate = float(new)
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {new}")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = self.model.optimizer.learning_rate


class ReduceLROnPlateau(Callback):
    """lr <- max(lr * factor, min_lr) after ``patience`` epochs without improvement of ``monitor``,
    then wait ``cooldown`` epochs before counting again."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        super().__init__()
        if not 0 < factor < 1:
            raise ValueError(f"ReduceLROnPlateau: factor must be in (0, 1), got {factor}")
        self.tracker = _Monitor("ReduceLROnPlateau", monitor, mode, min_delta)
        self.factor, self.patience, self.verbose = factor, patience, verbose
        self.cooldown, self.min_lr = cooldown, min_lr
        self.wait, self.cooldown_counter = 0, 0

    def on_epoch_end(self, epoch, logs=None):
        value = self.tracker.value(logs)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.tracker.improved(value):
            self.tracker.best, self.wait = value, 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience:
                lr = self.model.optimizer.learning_rate
                new = max(lr * self.factor, self.min_lr)
                if new < lr:
                    self.model.optimizer.learning_rate = new
                    if self.verbose:
                        print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new:.4g}")
                self.cooldown_counter, self.wait = self.cooldown, 0
        if logs is not None:
            logs["lr"] = self.model.optimizer.learning_rate


class CSVLogger(Callback):
    """Write one CSV row per epoch: epoch, then every log key in sorted order."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.separator, self.append = os.fspath(filename), separator, append
        self.keys = None

    def on_train_begin(self, logs=None):
        self.keys = None
        if not self.append and os.path.exists(self.filename):
            os.remove(self.filename)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        new_file = not os.path.exists(self.filename) or os.path.getsize(self.filename) == 0
        if self.keys is None:
            self.keys = sorted(logs)
        with open(self.filename, "a", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, delimiter=self.separator)
            if new_file:
                writer.writerow(["epoch"] + self.keys)
            writer.writerow([epoch] + [logs.get(k, "NA") for k in self.keys])
