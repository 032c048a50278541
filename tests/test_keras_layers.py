"""Keras layers: output shapes as Keras documents them, parameter counts, and values."""
import numpy as np
import pytest

import tinygrad_img as tg
from tinygrad_img.keras import Sequential, layers
from torch_parity import requires_torch, torch

# (layer factory, input shape without batch, Keras' documented output shape, Keras' parameter count)
SHAPES = [
    (lambda: layers.Conv2D(32, (3, 3)), (28, 28, 1), (26, 26, 32), 320),
    (lambda: layers.Conv2D(32, 3, padding="same"), (28, 28, 1), (28, 28, 32), 320),
    (lambda: layers.Conv2D(8, 3, strides=2, padding="same"), (28, 28, 2), (14, 14, 8), 152),
    (lambda: layers.Conv2D(8, 3, strides=2), (28, 28, 2), (13, 13, 8), 152),
    (lambda: layers.Conv2D(16, (5, 3), strides=(2, 1), use_bias=False), (20, 15, 3), (8, 13, 16), 720),
    (lambda: layers.Conv2D(4, 3, dilation_rate=2), (10, 10, 1), (6, 6, 4), 40),
    (lambda: layers.Conv2D(4, 4, strides=3, padding="same"), (10, 11, 1), (4, 4, 4), 68),
    (lambda: layers.MaxPooling2D((2, 2)), (26, 26, 32), (13, 13, 32), 0),
    (lambda: layers.MaxPooling2D(2), (5, 5, 1), (2, 2, 1), 0),
    (lambda: layers.MaxPooling2D(2, padding="same"), (5, 5, 1), (3, 3, 1), 0),
    (lambda: layers.MaxPooling2D(3, strides=2), (7, 7, 2), (3, 3, 2), 0),
    (lambda: layers.AveragePooling2D(2, padding="same"), (5, 4, 3), (3, 2, 3), 0),
    (lambda: layers.GlobalAveragePooling2D(), (7, 7, 8), (8,), 0),
    (lambda: layers.GlobalAveragePooling2D(keepdims=True), (7, 7, 8), (1, 1, 8), 0),
    (lambda: layers.GlobalMaxPooling2D(), (3, 5, 4), (4,), 0),
    (lambda: layers.UpSampling2D(2), (4, 3, 2), (8, 6, 2), 0),
    (lambda: layers.Flatten(), (5, 5, 64), (1600,), 0),
    (lambda: layers.Reshape((7, 7, 1)), (49,), (7, 7, 1), 0),
    (lambda: layers.Dense(64), (1600,), (64,), 102464),
    (lambda: layers.Dense(5, use_bias=False), (10, 7), (10, 5), 35),
    (lambda: layers.Dropout(0.5), (6, 4), (6, 4), 0),
    (lambda: layers.Activation("relu"), (3, 3, 2), (3, 3, 2), 0),
    (lambda: layers.BatchNormalization(), (4, 4, 6), (4, 4, 6), 24),
    (lambda: layers.BatchNormalization(axis=1), (4, 5, 6), (4, 5, 6), 16),
    (lambda: layers.BatchNormalization(axis=-2, center=False), (4, 5, 6), (4, 5, 6), 15),
    (lambda: layers.BatchNormalization(axis=[1, -1]), (4, 5, 6), (4, 5, 6), 96),
    (lambda: layers.SimpleRNN(3), (6, 4), (3,), 3 * 4 + 3 * 3 + 3),
    (lambda: layers.SimpleRNN(3, return_sequences=True), (6, 4), (6, 3), 24),
    (lambda: layers.LSTM(8), (5, 3), (8,), 4 * (8 * (3 + 8) + 8)),
    (lambda: layers.LSTM(8, return_sequences=True), (5, 3), (5, 8), 384),
    (lambda: layers.GRU(5), (6, 4), (5,), 3 * (5 * (4 + 5) + 2 * 5)),
    (lambda: layers.GRU(5, return_sequences=True), (6, 4), (6, 5), 165),
    (lambda: layers.LSTM(4, activation="tanh", recurrent_activation="sigmoid"), (5, 3), (4,), 128),
    (lambda: layers.GRU(2, "tanh", "sigmoid"), (6, 4), (2,), 3 * (2 * (4 + 2) + 2 * 2)),
    (lambda: layers.SimpleRNN(3, activation="relu"), (6, 4), (3,), 24),
    (lambda: layers.Conv2D(8, np.int64(3), strides=np.int32(2)), (9, 9, 1), (4, 4, 8), 80),
    (lambda: layers.MaxPooling2D(np.int64(2)), (6, 6, 1), (3, 3, 1), 0),
    (lambda: layers.RandomRotation((-0.1, 0.05)), (8, 8, 3), (8, 8, 3), 0),
    (lambda: layers.RandomZoom((-0.2, 0.1), width_factor=0.3), (8, 8, 3), (8, 8, 3), 0),
    (lambda: layers.RandomTranslation(0.1, (-0.2, 0.0), fill_value=0.5), (8, 8, 3), (8, 8, 3), 0),
    (lambda: layers.RandomFlip("horizontal"), (8, 8, 3), (8, 8, 3), 0),
    (lambda: layers.GaussianNoise(0.1), (6,), (6,), 0),
]


@pytest.mark.parametrize("factory, in_shape, out_shape, params", SHAPES)
def test_output_shape_and_params_match_keras(factory, in_shape, out_shape, params):
    layer = factory()
    model = Sequential([layers.Input(shape=in_shape), layer])
    assert model.output_shape == (None, *out_shape)
    assert layer.count_params() == params
    x = np.random.default_rng(0).random((2, *in_shape)).astype(np.float32)
    assert model.predict(x).shape == (2, *out_shape)
    layer.train()
    assert layer(tg.Tensor(x)).shape == (2, *out_shape)


def test_embedding_shape_and_lookup():
    model = Sequential([layers.Embedding(100, 8, input_shape=(12,))])
    idx = np.random.default_rng(0).integers(0, 100, (3, 12))
    out = model.predict(idx)
    assert model.output_shape == (None, 12, 8) and out.shape == (3, 12, 8)
    np.testing.assert_array_equal(out, model.layers[0].embeddings.numpy()[idx])
    assert model.count_params() == 800


def test_shapes_inferred_at_first_call_and_names_are_keras_like():
    model = Sequential([layers.Conv2D(4, 3), layers.Conv2D(4, 3), layers.Flatten(), layers.Dense(2)])
    assert not model.built
    out = model.predict(np.zeros((1, 6, 6, 2), dtype=np.float32))
    assert out.shape == (1, 2) and model.built and model.input_shape == (None, 6, 6, 2)
    assert [lay.name for lay in model.layers] == ["conv2d", "conv2d_1", "flatten", "dense"]
    assert set(model.state_dict()) == {"conv2d.kernel", "conv2d.bias", "conv2d_1.kernel", "conv2d_1.bias",
                                       "dense.kernel", "dense.bias"}
    assert model.conv2d.kernel.shape == (3, 3, 2, 4)


def test_dense_value():
    layer = layers.Dense(3, activation="relu")
    x = np.random.default_rng(1).normal(size=(4, 5)).astype(np.float32)
    out = layer(tg.Tensor(x)).numpy()
    np.testing.assert_allclose(out, np.maximum(x @ layer.kernel.numpy() + layer.bias.numpy(), 0), rtol=1e-5)


@requires_torch
@pytest.mark.parametrize("strides, padding, size", [(1, "valid", 7), (1, "same", 6), (2, "same", 8), (2, "same", 7)])
def test_conv2d_matches_torch_including_tf_same_padding(strides, padding, size):
    tnf = torch.nn.functional
    layer = layers.Conv2D(5, (3, 4), strides=strides, padding=padding)
    x = np.random.default_rng(2).normal(size=(2, size, size + 1, 3)).astype(np.float32)
    xt = tg.Tensor(x, requires_grad=True)
    out = layer(xt)
    ((out + 1) ** 2).mean().backward()
    xr = torch.tensor(x, requires_grad=True)
    kr = torch.tensor(layer.kernel.numpy(), requires_grad=True)
    inp = xr.permute(0, 3, 1, 2)
    if padding == "same":   # TensorFlow: pad total = max((ceil(n/s)-1)*s + k - n, 0), extra at the end
        pads = []
        for n, k in ((size + 1, 4), (size, 3)):
            total = max((-(-n // strides) - 1) * strides + k - n, 0)
            pads += [total // 2, total - total // 2]
        inp = tnf.pad(inp, pads)
    ref = tnf.conv2d(inp, kr.permute(3, 2, 0, 1), torch.tensor(layer.bias.numpy()), stride=strides).permute(0, 2, 3, 1)
    ((ref + 1) ** 2).mean().backward()
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(xt.grad.numpy(), xr.grad.numpy(), atol=1e-5, rtol=1e-3)
    np.testing.assert_allclose(layer.kernel.grad.numpy(), kr.grad.numpy(), atol=1e-5, rtol=1e-3)


def test_pooling_values_by_hand():
    x = np.arange(25, dtype=np.float32).reshape(1, 5, 5, 1)
    mx = layers.MaxPooling2D(2, padding="same")(tg.Tensor(x)).numpy()[0, :, :, 0]
    np.testing.assert_array_equal(mx, [[6, 8, 9], [16, 18, 19], [21, 23, 24]])
    av = layers.AveragePooling2D(2, padding="same")(tg.Tensor(x)).numpy()[0, :, :, 0]
    # the last row/column windows average only the real pixels (Keras / TensorFlow semantics)
    np.testing.assert_allclose(av, [[3, 5, 6.5], [13, 15, 16.5], [20.5, 22.5, 24]])
    gap = layers.GlobalAveragePooling2D()(tg.Tensor(x)).numpy()
    np.testing.assert_allclose(gap, [[12.0]])


def test_batch_normalization_train_and_inference():
    layer = layers.BatchNormalization(momentum=0.9, epsilon=1e-3)
    x = np.random.default_rng(3).normal(2.0, 3.0, size=(8, 4, 4, 3)).astype(np.float32)
    layer.train()
    out = layer(tg.Tensor(x)).numpy()
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-3), atol=1e-4)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.numpy(), 0.9 + 0.1 * var, rtol=1e-5)
    layer.eval()
    inf = layer(tg.Tensor(x)).numpy()
    np.testing.assert_allclose(inf, (x - layer.moving_mean.numpy()) / np.sqrt(layer.moving_variance.numpy() + 1e-3),
                               atol=1e-4)
    model = Sequential([layers.Dense(4, input_shape=(3,)), layers.BatchNormalization()])
    lines = []
    model.summary(print_fn=lines.append)
    assert "Trainable params: 24" in lines and "Non-trainable params: 8" in lines


def test_dropout_training_and_inference():
    layer = layers.Dropout(0.25)
    x = tg.ones(400, 50)
    layer.train()
    out = layer(x).numpy()
    np.testing.assert_allclose(np.unique(out), [0.0, 1 / 0.75], rtol=1e-6)
    assert abs((out == 0).mean() - 0.25) < 0.02
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(), x.numpy())


@requires_torch
def test_lstm_matches_torch_with_copied_weights():
    layer = layers.LSTM(6, return_sequences=True)
    x = np.random.default_rng(4).normal(size=(3, 5, 4)).astype(np.float32)
    out = layer(tg.Tensor(x)).numpy()
    ref = torch.nn.LSTM(4, 6, batch_first=True)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(torch.tensor(layer.kernel.numpy().T))
        ref.weight_hh_l0.copy_(torch.tensor(layer.recurrent_kernel.numpy().T))
        ref.bias_ih_l0.copy_(torch.tensor(layer.bias.numpy()))
        ref.bias_hh_l0.zero_()
        expected = ref(torch.tensor(x))[0].numpy()
    np.testing.assert_allclose(out, expected, atol=1e-5, rtol=1e-4)
    np.testing.assert_array_equal(layer.bias.numpy()[6:12], 1.0)   # unit_forget_bias


def _set_recurrent_weights(layer, x, rng):
    """Build ``layer`` on x, give it random weights with nonzero biases; return them as float64."""
    layer(tg.Tensor(x))
    for p in (layer.kernel, layer.recurrent_kernel, layer.bias):
        p.data[...] = (rng.standard_normal(p.shape) * 0.5).astype(np.float32)
    return [p.numpy().astype(np.float64) for p in (layer.kernel, layer.recurrent_kernel, layer.bias)]


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_simple_rnn_values_match_numpy_formula(activation):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(3, 5, 4)).astype(np.float32)
    layer = layers.SimpleRNN(6, activation=activation, return_sequences=True)
    w, u, b = _set_recurrent_weights(layer, x, rng)
    act = np.tanh if activation == "tanh" else (lambda a: np.maximum(a, 0.0))
    h, seq = np.zeros((3, 6)), []
    for t in range(5):
        h = act(x[:, t].astype(np.float64) @ w + h @ u + b)   # h_t = act(x_t W + h_{t-1} U + b)
        seq.append(h)
    np.testing.assert_allclose(layer(tg.Tensor(x)).numpy(), np.stack(seq, 1), rtol=1e-4, atol=1e-5)
    if activation == "relu":
        assert (np.stack(seq) > 1.0).any()   # values tanh could never produce


def test_gru_values_match_the_articles_formula():
    rng = np.random.default_rng(12)
    x = rng.normal(size=(3, 5, 4)).astype(np.float32)
    layer = layers.GRU(6, return_sequences=True)
    w, u, b = _set_recurrent_weights(layer, x, rng)
    b_in, b_rec, H = b[0], b[1], 6
    h, seq = np.zeros((3, 6)), []
    for t in range(5):
        gi = x[:, t].astype(np.float64) @ w + b_in   # kernel columns: gates r, z, n
        r = _sigmoid(gi[:, :H] + h @ u[:, :H] + b_rec[:H])
        z = _sigmoid(gi[:, H:2 * H] + h @ u[:, H:2 * H] + b_rec[H:2 * H])
        n = np.tanh(gi[:, 2 * H:] + (r * h) @ u[:, 2 * H:] + b_rec[2 * H:])
        h = (1 - z) * h + z * n
        seq.append(h)
    np.testing.assert_allclose(layer(tg.Tensor(x)).numpy(), np.stack(seq, 1), rtol=1e-4, atol=1e-5)


def test_lstm_values_match_numpy_formula():
    rng = np.random.default_rng(13)
    x = rng.normal(size=(3, 5, 4)).astype(np.float32)
    layer = layers.LSTM(6)
    w, u, b = _set_recurrent_weights(layer, x, rng)
    h, c, H = np.zeros((3, 6)), np.zeros((3, 6)), 6
    for t in range(5):
        g = x[:, t].astype(np.float64) @ w + h @ u + b   # gates i, f, C~, o
        i, f, o = _sigmoid(g[:, :H]), _sigmoid(g[:, H:2 * H]), _sigmoid(g[:, 3 * H:])
        c = f * c + i * np.tanh(g[:, 2 * H:3 * H])
        h = o * np.tanh(c)
    np.testing.assert_allclose(layer(tg.Tensor(x)).numpy(), h, rtol=1e-4, atol=1e-5)


def test_augmentation_layers_train_only():
    x = np.random.default_rng(5).random((4, 8, 8, 3)).astype(np.float32)
    for layer in (layers.RandomFlip("horizontal_and_vertical"), layers.RandomRotation(0.1),
                  layers.RandomZoom(0.2), layers.RandomTranslation(0.2, 0.2), layers.GaussianNoise(0.2)):
        layer.eval()
        np.testing.assert_array_equal(layer(tg.Tensor(x)).numpy(), x)
        layer.train()
        out = layer(tg.Tensor(x)).numpy()
        assert out.shape == x.shape and not np.array_equal(out, x)


def test_random_flip_horizontal_mirrors_whole_images_along_width():
    x = np.random.default_rng(7).random((16, 5, 6, 3)).astype(np.float32)
    layer = layers.RandomFlip("horizontal")
    layer.eval()
    np.testing.assert_array_equal(layer(tg.Tensor(x)).numpy(), x)
    layer.train()
    tg.manual_seed(0)
    out = layer(tg.Tensor(x)).numpy()
    flipped = x[:, :, ::-1, :]   # NHWC: width is axis 2
    same = np.array([np.array_equal(o, a) for o, a in zip(out, x)])
    mirrored = np.array([np.array_equal(o, f) for o, f in zip(out, flipped)])
    assert (same | mirrored).all()
    assert same.any() and mirrored.any()


def test_gaussian_noise_has_the_stated_stddev():
    x = np.random.default_rng(8).random((64, 32, 32, 3)).astype(np.float32)
    layer = layers.GaussianNoise(0.2)
    layer.eval()
    np.testing.assert_array_equal(layer(tg.Tensor(x)).numpy(), x)
    layer.train()
    tg.manual_seed(0)
    noise = layer(tg.Tensor(x)).numpy().astype(np.float64) - x
    assert abs(noise.std() - 0.2) < 0.01 and abs(noise.mean()) < 0.01


def test_bad_layer_arguments():
    with pytest.raises(ValueError, match="padding"):
        layers.Conv2D(4, 3, padding="full")
    with pytest.raises(ValueError, match="unknown activation"):
        layers.Dense(4, activation="relu6")
    with pytest.raises(ValueError, match="Conv2D: expected images"):
        Sequential([layers.Conv2D(4, 3, input_shape=(28, 28))])
    with pytest.raises(ValueError, match="smaller than the kernel"):
        Sequential([layers.Conv2D(4, 5, input_shape=(3, 3, 1))])
    with pytest.raises(TypeError, match="unexpected arguments"):
        layers.Dense(4, kernel_regularizer_typo=1)
    with pytest.raises(ValueError, match="already in the model"):
        Sequential([layers.Dense(2, name="a"), layers.Dense(2, name="a")])


@pytest.mark.parametrize("factory, in_shape, out_shape, params", SHAPES)
def test_every_layer_survives_save_and_load_model(factory, in_shape, out_shape, params, tmp_path):
    from tinygrad_img.keras.models import load_model
    model = Sequential([layers.Input(shape=in_shape), factory(), layers.Flatten(), layers.Dense(3)])
    model.compile("sgd", "mse")
    path = tmp_path / "m.safetensors"
    model.save(path)
    restored = load_model(path)
    assert [type(lay) for lay in restored.layers] == [type(lay) for lay in model.layers]
    assert restored.get_config() == model.get_config()
    x = np.random.default_rng(0).random((2, *in_shape)).astype(np.float32)
    np.testing.assert_array_equal(restored.predict(x), model.predict(x))


@pytest.mark.parametrize("cls", [layers.SimpleRNN, layers.LSTM, layers.GRU])
def test_recurrent_activation_arguments_are_the_cells_not_applied_twice(cls):
    x = tg.Tensor(np.random.default_rng(6).normal(size=(3, 5, 4)).astype(np.float32))
    explicit = cls(6, activation="tanh", return_sequences=True)
    default = cls(6, return_sequences=True)
    out = explicit(x)
    default(x)
    default.load_state_dict(explicit.state_dict())
    assert explicit.activation is None   # the base Layer adds nothing on top of h
    np.testing.assert_array_equal(out.numpy(), default(x).numpy())
    cfg = explicit.get_config()
    assert cfg["activation"] == "tanh" and cls(**cfg).get_config() == cfg
    if cls is not layers.SimpleRNN:
        assert cls(6, recurrent_activation="sigmoid").get_config()["recurrent_activation"] == "sigmoid"


def test_recurrent_layers_reject_activations_the_engine_lacks():
    with pytest.raises(ValueError, match="LSTM: activation must be one of"):
        layers.LSTM(4, activation="relu")
    with pytest.raises(ValueError, match="GRU: recurrent_activation must be one of"):
        layers.GRU(4, recurrent_activation="hard_sigmoid")
    with pytest.raises(ValueError, match="SimpleRNN: activation must be one of"):
        layers.SimpleRNN(4, activation="sigmoid")
    with pytest.raises(ValueError, match="LSTM: activation"):
        layers.LSTM(4, activation=None)


def test_pair_arguments_accept_numpy_ints_and_reject_bad_values():
    assert layers.Conv2D(8, np.int64(3)).kernel_size == (3, 3)
    assert layers.Conv2D(8, (np.int32(3), 2)).kernel_size == (3, 2)
    with pytest.raises(ValueError, match="Conv2D: kernel_size must be >= 1"):
        layers.Conv2D(8, 0)
    with pytest.raises(ValueError, match="MaxPooling2D: pool_size must be an int or a pair"):
        layers.MaxPooling2D((2, 2, 2))


def _train_call(layer, x):
    layer.train()
    return layer(tg.Tensor(x)).numpy()


def test_random_translation_shifts_by_the_drawn_fraction():
    x = np.random.default_rng(7).random((3, 6, 8, 2)).astype(np.float32)
    np.testing.assert_array_equal(_train_call(layers.RandomTranslation(0.0, 0.0), x), x)   # no padding shift
    down = _train_call(layers.RandomTranslation((0.5, 0.5), 0.0), x)            # 3 rows down, zero fill
    np.testing.assert_allclose(down[:, 3:], x[:, :3], atol=1e-6)
    assert (down[:, :3] == 0).all()
    left = _train_call(layers.RandomTranslation(0.0, (-0.25, -0.25), fill_value=0.5), x)   # 2 columns left
    np.testing.assert_allclose(left[:, :, :6], x[:, :, 2:], atol=1e-6)
    assert (left[:, :, 6:] == 0.5).all()


def test_random_zoom_height_and_width_factors_are_separate():
    x = np.random.default_rng(8).random((2, 5, 5, 1)).astype(np.float32)
    # u = 1 vertically: output row i reads input row 2 + 2 (i - 2), i.e. rows -2, 0, 2, 4, 6; width untouched
    out = _train_call(layers.RandomZoom((1.0, 1.0), width_factor=0.0), x)
    np.testing.assert_allclose(out[:, 1:4], x[:, 0:5:2], atol=1e-6)
    assert (out[:, [0, 4]] == 0).all()
    np.testing.assert_allclose(_train_call(layers.RandomZoom(0.0), x), x, atol=1e-6)


def test_random_rotation_takes_a_range_of_turns():
    x = np.random.default_rng(9).random((2, 5, 5, 1)).astype(np.float32)
    out = _train_call(layers.RandomRotation((0.25, 0.25)), x)   # a quarter turn counter-clockwise
    np.testing.assert_allclose(out[..., 0], np.rot90(x[..., 0], 1, axes=(1, 2)), atol=1e-5)


def test_augmentation_arguments_are_checked():
    with pytest.raises(ValueError, match="RandomRotation: factor range"):
        layers.RandomRotation((0.2, -0.2))
    with pytest.raises(ValueError, match="RandomZoom: height_factor"):
        layers.RandomZoom((-1.5, 0.0))
    with pytest.raises(ValueError, match="only fill_mode='constant'"):
        layers.RandomTranslation(0.1, 0.1, fill_mode="reflect")


def _bn_reference(x, axes, gamma, beta, mean, var, eps):
    """y = gamma (x - mean) / sqrt(var + eps) + beta with the per-feature arrays broadcast along ``axes``."""
    shape = [x.shape[a] if a in axes else 1 for a in range(x.ndim)]
    gamma, beta, mean, var = (a.reshape(shape) for a in (gamma, beta, mean, var))
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


@pytest.mark.parametrize("axis, axes", [(1, (1,)), (-1, (3,)), (2, (2,)), (-3, (1,)), ((1, 3), (1, 3))])
def test_batch_normalization_any_axis_matches_the_numpy_formula(axis, axes):
    rng = np.random.default_rng(7)
    x = rng.normal(1.5, 2.0, size=(6, 3, 5, 4)).astype(np.float32)     # (N, C, H, W)-like
    layer = layers.BatchNormalization(axis=axis, momentum=0.8, epsilon=1e-3)
    layer.ensure_built(x.shape[1:])
    feat = tuple(x.shape[a] for a in axes)
    assert layer.gamma.shape == layer.beta.shape == layer.moving_mean.shape == layer.moving_variance.shape == feat
    gamma, beta = rng.uniform(0.5, 2, feat).astype(np.float32), rng.normal(size=feat).astype(np.float32)
    layer.gamma.data[...], layer.beta.data[...] = gamma, beta
    others = tuple(a for a in range(4) if a not in axes)
    mean, var = x.mean(axis=others).reshape(feat), x.var(axis=others).reshape(feat)
    layer.train()
    out = layer(tg.Tensor(x)).numpy()
    np.testing.assert_allclose(out, _bn_reference(x, axes, gamma, beta, mean, var, 1e-3), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.2 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.moving_variance.numpy(), 0.8 + 0.2 * var, rtol=1e-5)
    layer.eval()
    x2 = rng.normal(size=x.shape).astype(np.float32)
    np.testing.assert_allclose(layer(tg.Tensor(x2)).numpy(),
                               _bn_reference(x2, axes, gamma, beta, 0.2 * mean, 0.8 + 0.2 * var, 1e-3),
                               rtol=1e-4, atol=1e-4)


@requires_torch
@pytest.mark.parametrize("axis", [1, -1, 2])
def test_batch_normalization_matches_torch_after_moving_the_axis(axis):
    rng = np.random.default_rng(11)
    x = rng.normal(0.5, 1.5, size=(4, 3, 5, 6)).astype(np.float32)
    c = x.shape[axis]
    gamma, beta = rng.uniform(0.5, 2, c).astype(np.float32), rng.normal(size=c).astype(np.float32)
    upstream = rng.normal(size=x.shape).astype(np.float32)
    layer = layers.BatchNormalization(axis=axis, momentum=0.9, epsilon=1e-3)
    layer.ensure_built(x.shape[1:])
    layer.gamma.data[...], layer.beta.data[...] = gamma, beta
    xt = tg.Tensor(x, requires_grad=True)
    out = layer(xt)
    (out * tg.Tensor(upstream)).sum().backward()

    px = torch.tensor(x, requires_grad=True)
    pg, pb = torch.tensor(gamma, requires_grad=True), torch.tensor(beta, requires_grad=True)
    rm, rv = torch.zeros(c), torch.ones(c)
    ref = torch.nn.functional.batch_norm(torch.movedim(px, axis, 1), rm, rv, pg, pb, training=True,
                                         momentum=0.1, eps=1e-3)
    ref = torch.movedim(ref, 1, axis)
    (ref * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), atol=1e-5, rtol=1e-4)
    for ours, theirs in ((xt, px), (layer.gamma, pg), (layer.beta, pb)):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), atol=1e-4, rtol=1e-3)
    n = x.size // c   # torch's running variance uses the unbiased batch variance, Keras' the biased one
    np.testing.assert_allclose(layer.moving_mean.numpy(), rm.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.moving_variance.numpy(), 0.9 + (rv.numpy() - 0.9) * (n - 1) / n, rtol=1e-5)
    layer.eval()
    rv_biased = torch.tensor(layer.moving_variance.numpy())
    inf = torch.nn.functional.batch_norm(torch.movedim(torch.tensor(x), axis, 1), rm, rv_biased, pg, pb,
                                         training=False, eps=1e-3)
    np.testing.assert_allclose(layer(tg.Tensor(x)).numpy(), torch.movedim(inf, 1, axis).detach().numpy(),
                               atol=1e-5, rtol=1e-4)


def test_batch_normalization_axis_survives_save_and_load_model(tmp_path):
    import json

    from safetensors import safe_open

    from tinygrad_img.keras.models import load_model
    rng = np.random.default_rng(2)
    x = rng.normal(size=(16, 3, 4, 4)).astype(np.float32)
    y = rng.integers(0, 2, 16)
    model = Sequential([layers.Input(shape=(3, 4, 4)), layers.BatchNormalization(axis=1, momentum=0.5),
                        layers.BatchNormalization(axis=(1, -1)), layers.Flatten(),
                        layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert model.batch_normalization.moving_mean.shape == (3,)
    assert model.batch_normalization_1.gamma.shape == (3, 4)
    path = tmp_path / "bn.safetensors"
    model.save(path)
    with safe_open(str(path), framework="np") as f:
        specs = json.loads(f.metadata()["tinygrad_img.keras"])["model"]["layers"]
    assert [spec["config"]["axis"] for spec in specs[:2]] == [1, [1, -1]]
    restored = load_model(path)
    assert restored.get_config() == model.get_config()
    assert restored.batch_normalization.axis == 1 and restored.batch_normalization_1.axis == [1, -1]
    for name, w in model.get_weights_dict().items():
        np.testing.assert_array_equal(restored.get_weights_dict()[name], w, err_msg=name)
    assert np.ptp(model.batch_normalization.moving_mean.numpy()) > 0   # non-trivial statistics were restored
    np.testing.assert_array_equal(restored.predict(x), model.predict(x))


def test_batch_normalization_rejects_bad_axes():
    for axis, shape in [(0, (4, 4, 6)), (4, (4, 4, 6)), (-4, (4, 4, 6)), ([1, -3], (4, 4, 6)), (2, (7,))]:
        with pytest.raises(ValueError, match=r"BatchNormalization.*axis .*input shape \(None, "
                                             + ", ".join(map(str, shape))):
            Sequential([layers.Input(shape=shape), layers.BatchNormalization(axis=axis)])
    for axis in ("channels", 1.0, [], True):
        with pytest.raises(TypeError, match="BatchNormalization: axis"):
            layers.BatchNormalization(axis=axis)
    layer = layers.BatchNormalization(axis=1)
    layer(tg.ones(2, 3, 4))
    with pytest.raises(ValueError, match=r"BatchNormalization: input shape \(2, 5, 4\) .* built for \(3,\)"):
        layer(tg.ones(2, 5, 4))
