"""Keras callbacks, History and the progress output."""
import csv

import numpy as np
import pytest

from tinygrad_img.keras import Sequential, callbacks, layers, models, optimizers


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + 2 * (x[:, 2] > 0)
    return x, y


def _model(lr=0.01):
    model = Sequential([layers.Dense(16, activation="relu", input_shape=(6,)), layers.Dense(4, activation="softmax")])
    model.compile(optimizer=optimizers.Adam(learning_rate=lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def test_early_stopping_stops_after_patience():
    x, y = _data()
    model = _model(lr=0.0)   # nothing changes, so val_loss never improves after epoch 0
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=2)
    history = model.fit(x, y, epochs=20, validation_split=0.25, verbose=0, callbacks=[stop])
    assert len(history.epoch) == 3 and stop.stopped_epoch == 2 and stop.best_epoch == 0


def test_early_stopping_restores_best_weights():
    model = _model()
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    stop.set_model(model)
    stop.on_train_begin()
    kernel = None
    for epoch, val_loss in enumerate([1.0, 0.4, 0.6, 0.7]):
        model.dense.kernel.data[...] = epoch          # mark the weights with the epoch number
        stop.on_epoch_end(epoch, {"val_loss": val_loss})
        if model.stop_training:
            break
    stop.on_train_end()
    kernel = model.dense.kernel.numpy()
    assert stop.stopped_epoch == 2 and np.all(kernel == 1.0)


def test_early_stopping_mode_auto_maximises_accuracy():
    stop = callbacks.EarlyStopping(monitor="val_accuracy", patience=1)
    stop.set_model(_model())
    stop.on_train_begin()
    for epoch, acc in enumerate([0.5, 0.7, 0.6]):
        stop.on_epoch_end(epoch, {"val_accuracy": acc})
    assert stop.best == 0.7 and stop.model.stop_training


def test_monitor_missing_key_is_a_clear_error():
    x, y = _data()
    with pytest.raises(ValueError, match="val_loss.*not in the logs"):
        _model().fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.EarlyStopping()])


def test_model_checkpoint_save_best_only(tmp_path):
    model = _model()
    ckpt = callbacks.ModelCheckpoint(str(tmp_path / "m-{epoch:02d}-{val_loss:.2f}.safetensors"),
                                     monitor="val_loss", save_best_only=True)
    ckpt.set_model(model)
    x, _ = _data(8)
    model.build((None, 6))
    start, preds = model.get_weights(), []
    for epoch, val_loss in enumerate([1.0, 0.5, 0.7, 0.3]):
        model.set_weights([w * (1 + 0.5 * epoch) for w in start])   # a different model every epoch
        preds.append(model.predict(x))
        ckpt.on_epoch_end(epoch, {"val_loss": val_loss})
    model.set_weights([-w for w in start])   # later changes must not reach the saved files
    names = [p.rsplit("/", 1)[-1] for p in ckpt.saved]
    assert names == ["m-01-1.00.safetensors", "m-02-0.50.safetensors", "m-04-0.30.safetensors"]
    for path, epoch in zip(ckpt.saved, [0, 1, 3]):   # each file holds the model of its (best) epoch
        np.testing.assert_array_equal(models.load_model(path).predict(x), preds[epoch])


def test_model_checkpoint_every_epoch_during_fit(tmp_path):
    x, y = _data()
    path = tmp_path / "last.safetensors"
    model = _model()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[callbacks.ModelCheckpoint(path, monitor="loss")])
    assert path.exists() and not list(tmp_path.glob(".tmp-*"))
    np.testing.assert_array_equal(models.load_model(path).predict(x), model.predict(x))   # the last epoch's model


def test_learning_rate_scheduler_sets_rate_each_epoch():
    x, y = _data()
    model = _model()
    sched = callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 * 0.5 ** epoch)
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[sched])
    np.testing.assert_allclose(history.history["lr"], [0.1, 0.05, 0.025])
    assert all(g["lr"] == 0.025 for g in model.optimizer.impl.param_groups)


def test_reduce_lr_on_plateau_with_cooldown_and_floor():
    model = _model(lr=1.0)
    model.build((None, 6))
    cb = callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, cooldown=2, min_lr=0.3)
    cb.set_model(model)
    rates = []
    for epoch in range(8):
        cb.on_epoch_end(epoch, {"val_loss": 1.0})
        rates.append(model.optimizer.learning_rate)
    # Keras' rule: epoch 0 sets the best; 1, 2 wait -> halve at 2; cooldown 3 and 4 (the last cooldown
    # epoch already counts, as in Keras); 4, 5 wait -> the 0.3 floor at 5
    assert rates == [1.0, 1.0, 0.5, 0.5, 0.5, 0.3, 0.3, 0.3]


def test_csv_logger_writes_one_row_per_epoch(tmp_path):
    x, y = _data()
    path = tmp_path / "log.csv"
    history = _model().fit(x, y, epochs=3, validation_split=0.2, verbose=0, callbacks=[callbacks.CSVLogger(path)])
    rows = list(csv.reader(open(path)))
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    np.testing.assert_allclose([float(r[2]) for r in rows[1:]], history.history["loss"])


def test_history_and_plot(tmp_path):
    x, y = _data()
    history = _model().fit(x, y, epochs=2, validation_data=(x[:20], y[:20]), verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.epoch == [0, 1] and all(len(v) == 2 for v in history.history.values())
    path = history.plot(tmp_path / "curves.png")
    assert open(path, "rb").read(4) == b"\x89PNG"


def test_plain_progress_lines_when_not_a_tty(capsys):
    x, y = _data()
    _model().fit(x, y, epochs=3, batch_size=16, verbose=1)
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("Epoch 1/3") and "loss: " in lines[0]
    assert "\r" not in out and "\x1b" not in out
    _model().fit(x, y, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""


def test_tqdm_bar_on_a_tty():
    import io

    from tinygrad_img.keras.progress import Progress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    bar = Progress(4, 1, "Epoch 1/1", stream=stream)
    for _ in range(4):
        bar.update(1, {"loss": 0.5})
    bar.close({"loss": 0.5, "val_loss": 0.25})
    assert bar.bar is not None and "\r" in stream.getvalue() and "val_loss: 0.2500" in stream.getvalue()
