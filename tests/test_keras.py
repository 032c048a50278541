"""The Keras front end end-to-end: compile/fit/evaluate/predict, the fused softmax
cross-entropy, save/load_model, optimisers and the data sets."""
import json

import numpy as np
import pytest
from safetensors import safe_open

import tinygrad_img as tg
from tinygrad_img.keras import Sequential, datasets, layers, losses, models, optimizers
from tinygrad_img.keras.utils import to_categorical


@pytest.fixture(scope="module")
def digits8():
    (x, y), (xt, yt) = datasets.digits.load_data(size=8)
    return (x[..., None] / 255.0, y), (xt[..., None] / 255.0, yt)


def _cnn():
    return Sequential([layers.Conv2D(16, (3, 3), activation="relu", input_shape=(8, 8, 1)),
                       layers.MaxPooling2D((2, 2)), layers.Flatten(),
                       layers.Dense(32, activation="relu"), layers.Dense(10, activation="softmax")])


def test_digits_cnn_end_to_end_and_save_load_round_trip(digits8, tmp_path):
    (x, y), (xt, yt) = digits8
    model = _cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=6, batch_size=32, validation_split=0.1, verbose=0)
    loss, acc = model.evaluate(xt, yt, verbose=0)
    assert acc >= 0.9 and history.history["val_accuracy"][-1] >= 0.85
    assert history.history["loss"][-1] < history.history["loss"][0]
    probs = model.predict(xt)
    assert probs.shape == (len(xt), 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert acc == pytest.approx(float((probs.argmax(1) == yt).mean()))

    path = tmp_path / "digits.safetensors"
    model.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["digits.safetensors"]   # atomic: no temp file left
    with safe_open(str(path), framework="np") as f:
        config = json.loads(f.metadata()["tinygrad_img.keras"])
        assert sorted(f.keys()) == sorted(model.state_dict())
    assert [spec["class_name"] for spec in config["model"]["layers"]] == \
        ["Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense"]
    restored = models.load_model(path)
    np.testing.assert_array_equal(restored.predict(xt), probs)
    assert restored.evaluate(xt, yt, verbose=0) == pytest.approx([loss, acc])
    assert restored.optimizer.learning_rate == pytest.approx(0.001)
    before_w = [w.copy() for w in restored.get_weights()]
    before_loss = restored.evaluate(x[:64], y[:64], verbose=0)[0]
    restored.fit(x[:64], y[:64], epochs=3, verbose=0)   # a loaded model trains on
    assert all(not np.array_equal(a, b) for a, b in zip(before_w, restored.get_weights()))
    assert restored.evaluate(x[:64], y[:64], verbose=0)[0] < before_loss


def test_summary_matches_keras_for_the_articles_mnist_cnn():
    model = Sequential([layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
                        layers.MaxPooling2D((2, 2)), layers.Conv2D(64, (3, 3), activation="relu"),
                        layers.MaxPooling2D((2, 2)), layers.Flatten(), layers.Dense(64, activation="relu"),
                        layers.Dense(10, activation="softmax")])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    for row in [("conv2d (Conv2D)", "(None, 26, 26, 32)", "320"),
                ("max_pooling2d (MaxPooling2D)", "(None, 13, 13, 32)", "0"),
                ("conv2d_1 (Conv2D)", "(None, 11, 11, 64)", "18,496"), ("flatten (Flatten)", "(None, 1600)", "0"),
                ("dense (Dense)", "(None, 64)", "102,464"), ("dense_1 (Dense)", "(None, 10)", "650")]:
        assert any(all(part in line for part in row) for line in lines), row
    assert "Total params: 121,930" in text and "Trainable params: 121,930" in text
    assert model.count_params() == 121930


def test_evaluate_is_a_scalar_without_metrics_and_compile_accepts_objects(digits8):
    (x, y), _ = digits8
    flat = x.reshape(len(x), -1)
    model = Sequential([layers.Dense(10, activation="softmax", input_shape=(64,))])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.5, momentum=0.9),
                  loss=losses.SparseCategoricalCrossentropy())
    model.fit(flat, y, epochs=3, verbose=0)
    loss = model.evaluate(flat, y, verbose=0)
    assert isinstance(loss, float) and loss < 0.5
    assert model.evaluate(flat, y, verbose=0, return_dict=True) == {"loss": loss}


def _stable_xent(logits, y):
    m = logits.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(logits - m).sum(axis=1, keepdims=True)))[:, 0]
    return float((lse - logits[np.arange(len(y)), y]).mean())


def test_softmax_output_is_fused_with_crossentropy_and_from_logits_is_honoured():
    x = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    y = np.arange(16) % 3
    soft = Sequential([layers.Dense(3, activation="softmax", input_shape=(4,))])
    logit = Sequential([layers.Dense(3, input_shape=(4,))])
    for model in (soft, logit):
        model.dense.kernel.data[...] = np.array([[900, -900, 0], [0, 800, -800], [1, 2, 3], [0, 0, 0]])
    soft.compile("adam", "sparse_categorical_crossentropy")
    logit.compile("adam", losses.SparseCategoricalCrossentropy(from_logits=True))
    logits = x @ soft.dense.kernel.numpy()
    expected = _stable_xent(logits.astype(np.float64), y)
    assert expected > 100                      # probabilities underflow to 0: clipping would give ~16
    assert soft.evaluate(x, y, verbose=0) == pytest.approx(expected, rel=1e-4)
    assert logit.evaluate(x, y, verbose=0) == pytest.approx(expected, rel=1e-4)
    soft.fit(x, y, epochs=1, verbose=0)
    assert np.isfinite(soft.dense.kernel.numpy()).all()
    probs = soft.predict(x)
    assert np.isfinite(probs).all() and np.allclose(probs.sum(1), 1)


def test_categorical_crossentropy_with_one_hot_labels(digits8):
    (x, y), (xt, yt) = digits8
    model = Sequential([layers.Flatten(input_shape=(8, 8, 1)), layers.Dense(10), layers.Activation("softmax")])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.5), loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, to_categorical(y, 10), epochs=4, batch_size=32, verbose=0)
    loss, acc = model.evaluate(xt, to_categorical(yt, 10), verbose=0)
    assert acc > 0.85
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        model.evaluate(xt, yt, verbose=0)


def test_binary_crossentropy_sigmoid_and_mse_regression():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5]) > 0).astype(np.float32)
    clf = Sequential([layers.Dense(1, activation="sigmoid", input_shape=(3,))])
    clf.compile(optimizers.Adam(learning_rate=0.1), "binary_crossentropy", metrics=["accuracy"])
    clf.fit(x, y, epochs=15, verbose=0)
    assert clf.evaluate(x, y, verbose=0)[1] > 0.95
    target = x @ np.array([0.5, 1.0, -1.0], dtype=np.float32) + 0.25
    reg = Sequential([layers.Dense(1, input_shape=(3,))])
    reg.compile(optimizers.Adam(learning_rate=0.1), "mse", metrics=["mae"])
    reg.fit(x, target[:, None], epochs=30, verbose=0)
    mse, mae = reg.evaluate(x, target[:, None], verbose=0)
    assert mse < 1e-2 and mae < 0.1


def test_lstm_classifier_learns_a_sequence_rule():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(256, 8, 2)).astype(np.float32)
    y = (x[:, :, 0].sum(axis=1) > 0).astype(np.int64)
    model = Sequential([layers.LSTM(12, input_shape=(8, 2)), layers.Dense(2, activation="softmax")])
    model.compile(optimizers.Adam(learning_rate=0.02), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(x, y, epochs=12, batch_size=32, verbose=0)
    assert model.evaluate(x, y, verbose=0)[1] > 0.9


def test_optimizers_take_keras_names_and_learning_rate_is_live():
    opt = optimizers.Adam(learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-6)
    model = Sequential([layers.Dense(2, input_shape=(3,))])
    model.compile(opt, "mse")
    assert opt.impl.param_groups[0]["lr"] == 0.01
    opt.learning_rate = 0.001
    assert opt.impl.param_groups[0]["lr"] == 0.001
    assert optimizers.get("RMSprop").get_config()["rho"] == 0.9
    with pytest.raises(ValueError, match="unknown optimizer"):
        model.compile("adagradx", "mse")
    with pytest.raises(ValueError, match="unknown loss"):
        model.compile("adam", "hinge_typo")


def test_keras_sgd_step_matches_the_update_rule():
    model = Sequential([layers.Dense(1, use_bias=False, input_shape=(2,))])
    w0 = model.dense.kernel.numpy().copy()
    model.compile(optimizers.SGD(learning_rate=0.1), "mse")
    x, y = np.array([[1.0, 2.0]], dtype=np.float32), np.array([[3.0]], dtype=np.float32)
    model.fit(x, y, epochs=1, batch_size=1, verbose=0, shuffle=False)
    grad = 2 * (x @ w0 - y) * x.T                  # d/dW (xW - y)^2
    np.testing.assert_allclose(model.dense.kernel.numpy(), w0 - 0.1 * grad, rtol=1e-5)


def test_errors_are_clear(tmp_path):
    model = _cnn()
    with pytest.raises(RuntimeError, match="compiled first"):
        model.fit(np.zeros((2, 8, 8, 1)), np.zeros(2))
    model.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="x has 2 samples but y has 3"):
        model.fit(np.zeros((2, 8, 8, 1)), np.zeros(3))
    with pytest.raises(ValueError, match=r"expected inputs of shape \(N, 8, 8, 1\)"):
        model.predict(np.zeros((2, 9, 9, 1)))
    with pytest.raises(ValueError, match="not been built"):
        Sequential([layers.Dense(2)]).summary()
    model.save_weights(tmp_path / "w.safetensors")
    with pytest.raises(ValueError, match="no model architecture"):
        models.load_model(tmp_path / "w.safetensors")
    other = _cnn()
    other.load_weights(tmp_path / "w.safetensors")
    np.testing.assert_array_equal(other.get_weights()[0], model.get_weights()[0])
    with pytest.raises(FileNotFoundError):
        models.load_model(tmp_path / "missing.safetensors")


def test_datasets_are_channels_last_uint8():
    (x, y), (xt, yt) = datasets.digits.load_data()
    assert x.shape == (1442, 28, 28) and x.dtype == np.uint8 and xt.shape == (355, 28, 28)
    assert y.dtype == np.int64 and set(np.unique(y)) == set(range(10)) and x.max() > 200
    with pytest.raises(FileNotFoundError):
        datasets.mnist.load_data(str(tg.__file__).rsplit("/", 1)[0])


@pytest.mark.gpu
def test_keras_model_trains_on_the_gpu_like_on_the_cpu(digits8):
    (x, y), (xt, yt) = digits8
    results = {}
    for device in ("cpu", "cuda"):
        tg.manual_seed(0)
        model = _cnn()
        model.to(device)
        model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
        model.fit(x, y, epochs=2, batch_size=64, verbose=0, shuffle=False)
        results[device] = model.predict(xt)
        assert model.conv2d.kernel.device == device
    np.testing.assert_allclose(results["cuda"], results["cpu"], atol=1e-3)


@pytest.mark.parametrize("activation, loss, labels", [
    ("softmax", "categorical_crossentropy", lambda rng: np.eye(3, dtype=np.float32)[rng.integers(0, 3, 64)]),
    ("sigmoid", "binary_crossentropy", lambda rng: rng.integers(0, 2, (64, 3)).astype(np.float32)),
])
def test_value_metrics_see_probabilities_when_the_output_activation_is_fused(activation, loss, labels):
    # the loss is computed from logits, but mse / mae / custom metrics must read the probabilities
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)).astype(np.float32) * 3, labels(rng)
    tg.manual_seed(0)
    model = Sequential([layers.Dense(3, activation=activation, input_shape=(4,))])

    def sq_err(t, p):
        assert isinstance(p, np.ndarray) and isinstance(t, np.ndarray)
        return ((t - p) ** 2).mean()

    model.compile("sgd", loss, metrics=["mse", "mae", sq_err, "accuracy"])
    logs = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    p = model.predict(x)
    assert logs["mse"] == pytest.approx(((p - y) ** 2).mean(), rel=1e-5)
    assert logs["mae"] == pytest.approx(np.abs(p - y).mean(), rel=1e-5)
    assert logs["sq_err"] == pytest.approx(logs["mse"], rel=1e-6)
    expected_acc = (p.argmax(1) == y.argmax(1)).mean() if activation == "softmax" else ((p > 0.5) == (y > 0.5)).mean()
    assert logs["accuracy"] == pytest.approx(expected_acc)
    history = model.fit(x, y, epochs=1, batch_size=64, shuffle=False, verbose=0)
    assert history.history["mse"][0] == pytest.approx(((p - y) ** 2).mean(), rel=1e-5)   # one batch: pre-step outputs


def test_fit_copies_only_scalars_to_the_host(monkeypatch, digits8):
    (x, y), _ = digits8
    sizes = []
    real = tg.Tensor.numpy

    def spy(self):
        sizes.append(self.size)
        return real(self)

    monkeypatch.setattr(tg.Tensor, "numpy", spy)
    for metrics in (None, ["accuracy", "sparse_top_k_categorical_accuracy"]):
        model = _cnn()
        model.compile("adam", "sparse_categorical_crossentropy", metrics=metrics)
        sizes.clear()
        model.fit(x[:96], y[:96], epochs=1, batch_size=32, verbose=0)
        assert sizes and set(sizes) == {1}   # the loss per batch, never the outputs


def test_top5_metric_counts_ties_like_keras():
    from tinygrad_img.keras import metrics as keras_metrics
    top5 = keras_metrics.get("sparse_top_k_categorical_accuracy", "sparse_categorical_crossentropy")
    scores = np.array([[6, 5, 4, 3, 2, 1, 0], [0, 1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 1, 1, 1]], dtype=np.float32)
    # true class 5: rank 6 -> miss; true class 5: rank 2 -> hit; all tied -> hit
    assert top5(np.array([5, 5, 0]), scores, 0.5) == pytest.approx(2 / 3)


class _MoveSpy:
    """Records Layer.to calls instead of moving (no GPU here) and lets 'cuda' pass the checks."""

    def __init__(self, monkeypatch):
        from tinygrad_img.keras import layer as layer_module, model as model_module
        self.calls = []
        monkeypatch.setattr(layer_module.Layer, "to", lambda lay, device=None, dtype=None:
                            self.calls.append((lay.name, device)) or lay)
        monkeypatch.setattr(tg.backend, "check_device", lambda device: device)
        monkeypatch.setattr(model_module, "check_device", lambda device: device)
        self.layer_module, self.model_module = layer_module, model_module


def test_layers_built_after_to_go_to_the_recorded_device(monkeypatch):
    spy = _MoveSpy(monkeypatch)
    model = Sequential([layers.Dense(4), layers.Dense(2)])   # no input shape: built lazily
    model.to("cuda")
    assert spy.calls == [] and model.target_device == "cuda" and model._device() == "cuda"
    model.build((None, 3))
    assert spy.calls == [("dense", "cuda"), ("dense_1", "cuda")]


def test_new_layers_follow_the_default_device_else_the_input(monkeypatch):
    spy = _MoveSpy(monkeypatch)
    monkeypatch.setattr(spy.model_module, "get_default_device", lambda: "cuda")
    Sequential([layers.Dense(4, input_shape=(3,))])
    assert spy.calls == [("dense", "cuda")]
    spy.calls.clear()
    model = Sequential([layers.Dense(4)])
    assert model(tg.ones(2, 3)).shape == (2, 4)              # a CPU tensor input decides
    assert spy.calls == [("dense", "cpu")]
    monkeypatch.setattr(spy.layer_module, "get_default_device", lambda: "cuda")
    spy.calls.clear()
    lone = layers.Dense(2, name="lone")
    lone.ensure_built((3,))
    assert spy.calls == [("lone", "cuda")]


def test_loss_objects_take_plain_arrays():
    """keras.losses objects are callable on NumPy arrays directly, as in Keras."""
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], np.float32)
    expected = -np.log([0.7, 0.8]).mean()
    assert np.isclose(losses.SparseCategoricalCrossentropy()(np.array([0, 2]), p).item(), expected, rtol=1e-6)
    assert np.isclose(losses.CategoricalCrossentropy()(np.eye(3, dtype=np.float32)[[0, 2]], p).item(), expected,
                      rtol=1e-6)
