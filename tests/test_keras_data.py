"""Keras fit/evaluate/predict on DataLoaders, Datasets and generators (Keras 3's epoch rules),
validation sources, and the hooks of a fused last layer."""

import numpy as np
import pytest

import tinygrad_img as tg
from tinygrad_img.keras import Sequential, callbacks, datasets, layers


@pytest.fixture(scope="module")
def digits8():
    (x, y), (xt, yt) = datasets.digits.load_data(size=8)
    return (x[..., None] / 255.0, y), (xt[..., None] / 255.0, yt)


def _mlp():
    model = Sequential([layers.Flatten(input_shape=(8, 8, 1)), layers.Dense(32, activation="relu"),
                        layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class _Counter(callbacks.Callback):
    """Counts the training batches of each epoch."""

    def __init__(self):
        super().__init__()
        self.per_epoch = []

    def on_epoch_begin(self, epoch, logs=None):
        self.per_epoch.append(0)

    def on_train_batch_end(self, batch, logs=None):
        assert batch == self.per_epoch[-1]   # batch indices restart at 0 every epoch
        self.per_epoch[-1] += 1


def test_fit_on_a_dataloader_learns_like_fit_on_arrays(digits8):
    (x, y), (xt, yt) = digits8
    tg.manual_seed(1)
    on_arrays = _mlp()
    on_arrays.fit(x, y, epochs=8, batch_size=32, verbose=0)
    tg.manual_seed(1)
    on_loader = _mlp()
    loader = tg.data.DataLoader(tg.data.TensorDataset(x, y), batch_size=32, shuffle=True)
    counter = _Counter()
    history = on_loader.fit(loader, epochs=8, verbose=0, callbacks=[counter],
                            validation_data=tg.data.DataLoader(tg.data.TensorDataset(xt, yt), batch_size=100))
    assert counter.per_epoch == [len(loader)] * 8 and history.params["steps"] == len(loader)
    acc_arrays = on_arrays.evaluate(xt, yt, verbose=0)[1]
    acc_loader = on_loader.evaluate(xt, yt, verbose=0)[1]
    assert acc_arrays >= 0.9 and acc_loader >= 0.9 and abs(acc_arrays - acc_loader) < 0.05
    assert history.history["val_accuracy"][-1] == pytest.approx(acc_loader, abs=1e-6)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_evaluate_and_predict_on_a_loader_equal_the_same_arrays(digits8):
    _, (xt, yt) = digits8
    model = _mlp()
    model.fit(xt, yt, epochs=1, verbose=0)
    loader = tg.data.DataLoader(tg.data.TensorDataset(xt, yt), batch_size=32)
    np.testing.assert_allclose(model.evaluate(loader, verbose=0), model.evaluate(xt, yt, batch_size=32, verbose=0),
                               rtol=0, atol=1e-6)
    by_dataset = model.evaluate(tg.data.TensorDataset(xt, yt), batch_size=50, verbose=0, return_dict=True)
    by_arrays = model.evaluate(xt, yt, batch_size=50, verbose=0, return_dict=True)
    assert by_dataset.keys() == by_arrays.keys()
    np.testing.assert_allclose(list(by_dataset.values()), list(by_arrays.values()), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(model.predict(loader), model.predict(xt))
    inputs_only = tg.data.DataLoader(tg.data.TensorDataset(xt), batch_size=64)
    np.testing.assert_array_equal(model.predict(inputs_only), model.predict(xt))
    np.testing.assert_array_equal(model.predict(iter([xt[:10], xt[10:30]])), model.predict(xt[:30]))
    np.testing.assert_array_equal(model.predict(loader, steps=2), model.predict(xt[:64]))
    assert model.evaluate(loader, steps=1, verbose=0) == pytest.approx(model.evaluate(xt[:32], yt[:32], verbose=0))


def test_generator_with_steps_per_epoch_runs_exactly_that_many_steps(digits8):
    (x, y), (xt, yt) = digits8
    drawn = []

    def batches():
        rng = np.random.default_rng(0)
        while True:
            idx = rng.integers(0, len(x), 16)
            drawn.append(len(idx))
            yield x[idx], y[idx]

    def val_batches():
        while True:
            yield xt[:40], yt[:40]

    counter = _Counter()
    model = _mlp()
    history = model.fit(batches(), steps_per_epoch=7, epochs=3, verbose=0, callbacks=[counter],
                        validation_data=val_batches(), validation_steps=2)
    assert counter.per_epoch == [7, 7, 7] and len(drawn) == 21 and history.epoch == [0, 1, 2]
    assert history.params["steps"] == 7
    assert history.history["val_loss"][-1] == pytest.approx(model.evaluate(xt[:40], yt[:40], verbose=0)[0], abs=1e-6)
    assert model.evaluate(batches(), steps=3, verbose=0)[0] > 0 and len(drawn) == 24


def test_steps_per_epoch_continues_a_reiterable_source_across_epochs():
    x = np.arange(10, dtype=np.float32)[:, None]
    y = 2 * x

    class Passes:
        """A re-iterable of 5 batches that records which batches it handed out."""
        def __init__(self):
            self.passes, self.seen = 0, []

        def __len__(self):
            return 5

        def __iter__(self):
            self.passes += 1
            for b in range(5):
                self.seen.append(b)
                yield x[2 * b:2 * b + 2], y[2 * b:2 * b + 2]

    model = Sequential([layers.Dense(1, input_shape=(1,))])
    model.compile("sgd", "mse")
    source = Passes()
    counter = _Counter()
    history = model.fit(source, steps_per_epoch=3, epochs=3, verbose=0, callbacks=[counter])
    assert counter.per_epoch == [3, 3, 3] and history.params["steps"] == 3
    assert source.seen == [0, 1, 2, 3, 4, 0, 1, 2, 3] and source.passes == 2   # Keras 3: goes on, then wraps
    source = Passes()
    model.fit(source, epochs=2, verbose=0)
    assert source.seen == [0, 1, 2, 3, 4] * 2 and source.passes == 2         # without steps: one pass per epoch
    counter = _Counter()
    model.fit(x, y, batch_size=4, steps_per_epoch=2, epochs=2, shuffle=False, verbose=0, callbacks=[counter])
    assert counter.per_epoch == [2, 2]


def test_a_generator_that_runs_dry_stops_training_with_a_warning(digits8):
    (x, y), _ = digits8

    def ten_batches():
        for b in range(10):
            yield x[16 * b:16 * b + 16], y[16 * b:16 * b + 16]

    counter = _Counter()
    model = _mlp()
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit(ten_batches(), steps_per_epoch=4, epochs=5, verbose=0, callbacks=[counter])
    assert history.epoch == [0, 1, 2] and counter.per_epoch[:3] == [4, 4, 2]
    history = model.fit(ten_batches(), epochs=1, verbose=0)          # no steps: until the generator ends
    assert history.params["steps"] is None and len(history.epoch) == 1


def test_bad_combinations_with_loaders_and_generators(digits8):
    (x, y), _ = digits8
    loader = tg.data.DataLoader(tg.data.TensorDataset(x, y), batch_size=32)
    model = _mlp()
    with pytest.raises(ValueError, match="fit: batch_size must be None when x is a DataLoader"):
        model.fit(loader, batch_size=32, verbose=0)
    with pytest.raises(ValueError, match="evaluate: batch_size must be None when x is a generator"):
        model.evaluate((b for b in loader), batch_size=16, verbose=0)
    with pytest.raises(ValueError, match="fit: y must be None when x is a DataLoader"):
        model.fit(loader, y, verbose=0)
    with pytest.raises(ValueError, match="validation_split needs array inputs"):
        model.fit(loader, validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match="fit \\(validation_data\\): batch_size must be None"):
        model.fit(x, y, verbose=0, validation_data=loader, validation_batch_size=8)
    for steps in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="steps_per_epoch must be a positive integer"):
            model.fit(loader, steps_per_epoch=steps, verbose=0)
    with pytest.raises(ValueError, match="each batch must be a pair \\(x, y\\), got a 3-tuple"):
        model.fit(iter([(x[:4], y[:4], np.ones(4))]), verbose=0)
    with pytest.raises(ValueError, match="a batch has 4 inputs but targets of shape \\(3,\\)"):
        model.fit(iter([(x[:4], y[:3])]), verbose=0)
    with pytest.raises(ValueError, match="fit: the training data yielded no batches"):
        model.fit(iter([]), verbose=0)
    spent = iter([(x[:4], y[:4])])
    model.evaluate(spent, verbose=0)
    with pytest.raises(ValueError, match="evaluate: the data yielded no batches"):
        model.evaluate(spent, verbose=0)
    with pytest.raises(ValueError, match="validation_data must be a pair"):
        model.fit(x, y, validation_data=(x, y, y), verbose=0)


def test_the_fused_last_layer_runs_its_hooks_in_fit_and_evaluate():
    """Pruning reparametrises in a forward pre-hook: with a fused softmax, fit/evaluate must still
    run it (a zeroed kernel_orig gives logits = bias = 0, so the loss is ln(10))."""
    from tinygrad_img.compress import prune
    x = np.random.default_rng(0).normal(size=(12, 8, 8, 1)).astype(np.float32)
    y = np.arange(12) % 10
    model = _mlp()
    last = model.layers[-1]
    prune.l1_unstructured(last, "kernel", 0.5)
    last.kernel_orig.data[...] = 0.0
    np.testing.assert_allclose(model.predict(x), 0.1, atol=1e-6)
    assert model.evaluate(x, y, verbose=0)[0] == pytest.approx(np.log(10), abs=1e-5)
    seen = []
    with last.register_forward_hook(lambda m, args, out: seen.append(out.shape)):
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert seen == [(4, 10)] * 3                                  # the logits of every batch
    mask = last.kernel_mask.numpy()
    assert (mask == 0).any() and np.all(last.kernel.numpy()[mask == 0] == 0)


def test_a_validation_dataset_is_batched_with_fit_batch_size_unless_told_otherwise(digits8):
    (x, y), (xt, yt) = digits8
    sizes = []
    val = tg.data.TensorDataset(xt[:100], yt[:100])
    model = _mlp()
    real_ready = model._ready

    def ready(xb, train=False):                                   # counts the evaluation batches
        if not train:
            sizes.append(len(xb))
        return real_ready(xb, train)
    model._ready = ready
    model.fit(x[:64], y[:64], batch_size=50, epochs=1, verbose=0, validation_data=val)
    assert sizes == [50, 50]                                      # Keras: validation_batch_size = batch_size
    sizes.clear()
    model.fit(x[:64], y[:64], batch_size=50, epochs=1, verbose=0, validation_data=val, validation_batch_size=40)
    assert sizes == [40, 40, 20]
    sizes.clear()
    model.fit(x[:64], y[:64], epochs=1, verbose=0, validation_data=val)
    assert sizes == [32, 32, 32, 4]                               # neither given: Keras' 32


def test_batch_size_errors_name_the_operation(digits8):
    (x, y), _ = digits8
    model = _mlp()
    with pytest.raises(ValueError, match="fit: batch_size must be positive, got 0"):
        model.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="evaluate: batch_size must be positive, got -1"):
        model.evaluate(tg.data.TensorDataset(x, y), batch_size=-1, verbose=0)
    with pytest.raises(ValueError, match="predict: batch_size must be positive"):
        model.predict(x, batch_size=0)
    with pytest.raises(ValueError, match=r"fit \(validation_data\): batch_size must be positive"):
        model.fit(x, y, verbose=0, validation_data=(x, y), validation_batch_size=-4)


def test_a_one_shot_validation_generator_without_steps_is_refused_before_training(digits8):
    (x, y), (xt, yt) = digits8
    model = _mlp()
    before = model.get_weights()
    counter = _Counter()
    with pytest.raises(ValueError, match="fit: validation_data is a generator.*pass validation_steps"):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[counter],
                  validation_data=((xt[i:i + 20], yt[i:i + 20]) for i in range(0, 60, 20)))
    assert counter.per_epoch == []                                               # nothing trained
    for w, w0 in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, w0)
    history = model.fit(x[:64], y[:64], epochs=1, verbose=0,                     # one epoch: one pass is enough
                        validation_data=((xt[i:i + 20], yt[i:i + 20]) for i in range(0, 60, 20)))
    assert history.history["val_loss"][0] == pytest.approx(model.evaluate(xt[:60], yt[:60], verbose=0)[0],
                                                           abs=1e-5)
    finite = ((xt[i:i + 20], yt[i:i + 20]) for i in range(0, 60, 20))
    with pytest.raises(ValueError, match="yields validation_steps batches for every epoch"):
        model.fit(x[:64], y[:64], epochs=2, verbose=0, validation_data=finite, validation_steps=3)
    spent = iter([(x[:4], y[:4])])
    model.evaluate(spent, verbose=0)
    with pytest.raises(ValueError, match="pass a fresh generator, or a re-iterable source such as a DataLoader"):
        model.evaluate(spent, verbose=0)
