"""Keras kernel/bias regularizers: the penalty formulas, their place in the loss that fit
minimises and evaluate reports, the gradient step they add, save/load, and the errors."""
import numpy as np
import pytest

import tinygrad_img as tg
from tinygrad_img.keras import Sequential, layers, models, optimizers, regularizers


def test_penalties_match_the_formulas():
    w = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    t = tg.Tensor(w)
    assert np.isclose(regularizers.L1(0.3)(t).item(), 0.3 * np.abs(w).sum(), rtol=1e-6)
    assert np.isclose(regularizers.L2(0.2)(t).item(), 0.2 * (w ** 2).sum(), rtol=1e-6)   # no 1/2, as Keras
    assert np.isclose(regularizers.l1_l2(0.1, 0.4)(t).item(), 0.1 * np.abs(w).sum() + 0.4 * (w ** 2).sum(),
                      rtol=1e-6)
    assert regularizers.L2(0.2)(t).dtype == np.float32
    assert regularizers.get("l2").get_config() == {"l2": 0.01}          # Keras' default factor
    assert regularizers.get("l1_l2").get_config() == {"l1": 0.01, "l2": 0.01}
    round_trip = regularizers.get(regularizers.serialize(regularizers.L1L2(0.5, 0.25)))
    assert isinstance(round_trip, regularizers.L1L2) and round_trip.get_config() == {"l1": 0.5, "l2": 0.25}


def _linear_model(**reg):
    tg.manual_seed(0)
    model = Sequential([layers.Dense(3, input_shape=(4,), **reg)])
    model.compile(optimizers.SGD(learning_rate=0.1), "mse")
    return model


def test_one_sgd_step_adds_the_penalty_gradient():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((8, 4)).astype(np.float32), rng.standard_normal((8, 3)).astype(np.float32)
    lam1, lam2 = 0.05, 0.3
    model = _linear_model(kernel_regularizer=regularizers.L1L2(lam1, lam2), bias_regularizer=regularizers.L2(lam2))
    w0, b0 = model.layers[0].kernel.numpy().copy(), model.layers[0].bias.numpy().copy()
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    err = x @ w0 + b0 - y                                  # mse = mean(err^2) over all 8 x 3 entries
    gw = 2 * x.T @ err / err.size + lam1 * np.sign(w0) + 2 * lam2 * w0
    gb = 2 * err.sum(0) / err.size + 2 * lam2 * b0
    np.testing.assert_allclose(model.layers[0].kernel.numpy(), w0 - 0.1 * gw, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.layers[0].bias.numpy(), b0 - 0.1 * gb, rtol=1e-5, atol=1e-6)


def test_evaluate_reports_the_loss_with_the_penalty():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((10, 4)).astype(np.float32), rng.standard_normal((10, 3)).astype(np.float32)
    plain, reg = _linear_model(), _linear_model(kernel_regularizer=regularizers.L2(0.5))
    np.testing.assert_array_equal(plain.layers[0].kernel.numpy(), reg.layers[0].kernel.numpy())
    w = reg.layers[0].kernel.numpy()
    assert np.isclose(reg.evaluate(x, y, verbose=0) - plain.evaluate(x, y, verbose=0), 0.5 * (w ** 2).sum(),
                      rtol=1e-5)
    history = reg.fit(x, y, batch_size=10, epochs=1, shuffle=False, verbose=0)
    assert history.history["loss"][0] > plain.evaluate(x, y, verbose=0)   # logged loss includes the penalty


def test_conv_and_recurrent_layers_take_regularizers_and_save_them(tmp_path):
    model = Sequential([layers.Conv2D(2, 3, input_shape=(6, 6, 1), kernel_regularizer="l2",
                                      bias_regularizer=regularizers.L1(0.2)),
                        layers.Reshape((4, 8)), layers.LSTM(3, kernel_regularizer=regularizers.L1(0.1)),
                        layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    conv, lstm = model.layers[0], model.layers[2]
    expected = (0.01 * (conv.kernel.numpy() ** 2).sum() + 0.2 * np.abs(conv.bias.numpy()).sum()
                + 0.1 * np.abs(lstm.kernel.numpy()).sum())
    got = conv.regularization_loss().item() + lstm.regularization_loss().item()
    assert np.isclose(got, expected, rtol=1e-5) and model.layers[3].regularization_loss() is None
    path = str(tmp_path / "reg.safetensors")
    model.save(path)
    restored = models.load_model(path)
    assert restored.layers[0].kernel_regularizer.get_config() == {"l2": 0.01}
    assert restored.layers[0].bias_regularizer.get_config() == {"l1": 0.2}
    assert restored.layers[2].kernel_regularizer.get_config() == {"l1": 0.1}
    x = np.random.default_rng(3).random((5, 6, 6, 1)).astype(np.float32)
    y = np.array([0, 1, 0, 1, 1])
    assert np.isclose(restored.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-6)


def test_regularizer_errors():
    with pytest.raises(ValueError, match="regularizers.get: unknown regularizer 'l3'"):
        layers.Dense(2, kernel_regularizer="l3")
    with pytest.raises(ValueError, match="L2: the factor must be a finite non-negative number, got -1.0"):
        regularizers.L2(-1)
    with pytest.raises(ValueError, match="Dense: bias_regularizer given, but the layer has no bias"):
        Sequential([layers.Dense(2, input_shape=(3,), use_bias=False, bias_regularizer="l2")])
    with pytest.raises(ValueError, match="Flatten: kernel_regularizer given, but the layer has no kernel"):
        Sequential([layers.Flatten(input_shape=(2, 2), kernel_regularizer="l1")])
    model = Sequential([layers.Dense(2, input_shape=(3,), kernel_regularizer=lambda w: (w * w).sum())])
    with pytest.raises(ValueError, match="cannot be saved"):
        model.get_config()


@pytest.mark.parametrize("make, bad, error, what", [
    (regularizers.L2, "a", TypeError, "L2: the factor must be a number, got 'a' (str)"),
    (regularizers.L1, None, TypeError, "L1: the factor must be a number, got None (NoneType)"),
    (regularizers.L1L2, None, TypeError, "L1L2 l1: the factor must be a number, got None (NoneType)"),
    (regularizers.L2, True, TypeError, "L2: the factor must be a number, got True (bool)"),
    (regularizers.L2, float("inf"), ValueError, "L2: the factor must be a finite non-negative number, got inf"),
    (regularizers.L1, float("nan"), ValueError, "L1: the factor must be a finite non-negative number, got nan"),
])
def test_bad_factors_are_refused_by_name(make, bad, error, what):
    with pytest.raises(error) as info:
        make(bad)
    assert str(info.value) == what


def test_get_instantiates_a_regularizer_class_with_its_defaults():
    reg = regularizers.get(regularizers.L2)
    assert type(reg) is regularizers.L2 and reg.get_config() == {"l2": 0.01}
    w = tg.Tensor(np.array([[1.0, -2.0], [3.0, 0.5]]), dtype="float64")
    assert float(reg(w).numpy()) == pytest.approx(0.01 * 14.25)
    layer = layers.Dense(2, kernel_regularizer=regularizers.L1)
    assert type(layer.kernel_regularizer) is regularizers.L1 and layer.kernel_regularizer.l1 == 0.01
    for bad in (regularizers.Regularizer, int):
        with pytest.raises(TypeError, match=rf"regularizers.get: {bad!r} is a class, not a regularizer"):
            regularizers.get(bad)
