"""Grad-CAM against NumPy on a net with an analytic gradient, its hygiene and errors; forward hooks."""
import re

import numpy as np
import pytest

import tinygrad_img as tg
from tinygrad_img import nn
from tinygrad_img.explain import grad_cam, overlay
from tinygrad_img.models import resnet18
from torch_parity import requires_torch, torch


def test_forward_hook_sees_inputs_and_output_and_can_replace_it():
    lin = nn.Linear(3, 2)
    seen = []
    handle = lin.register_forward_hook(lambda m, inputs, out: seen.append((m, inputs, out.numpy())))
    x = tg.randn(4, 3)
    y = lin(x)
    assert seen[0][0] is lin and seen[0][1][0] is x
    np.testing.assert_array_equal(seen[0][2], y.numpy())
    with lin.register_forward_hook(lambda m, inputs, out: out * 2):
        np.testing.assert_allclose(lin(x).numpy(), 2 * y.numpy(), rtol=1e-6)
        assert len(seen) == 2
    handle.remove()
    handle.remove()  # a second remove is a no-op
    np.testing.assert_array_equal(lin(x).numpy(), y.numpy())
    assert len(seen) == 2 and not lin._forward_hooks


def test_forward_hooks_run_in_registration_order_inside_a_sequential():
    order = []
    model = nn.Sequential(nn.ReLU(), nn.Tanh())
    model[0].register_forward_hook(lambda m, i, o: order.append("relu"))
    model.register_forward_hook(lambda m, i, o: order.append("seq"))
    model[1].register_forward_hook(lambda m, i, o: order.append("tanh-a"))
    model[1].register_forward_hook(lambda m, i, o: order.append("tanh-b"))
    model(tg.randn(2, 2))
    assert order == ["relu", "tanh-a", "tanh-b", "seq"]


def _gap_net():
    """conv(2->3, 3x3, padding 1) -> relu -> global average pool -> linear(3 -> 4)."""
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(3, 4))


def _numpy_activations(net, x, stride=1):
    """relu(conv(x)) with zero padding 1, written out as sums over the 3x3 taps."""
    w, b = net[0].weight.numpy(), net[0].bias.numpy()
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    h, wd = x.shape[2], x.shape[3]
    out = np.zeros((x.shape[0], w.shape[0], h, wd))
    for p in range(3):
        for q in range(3):
            out += np.einsum("ok,nkij->noij", w[:, :, p, q], xp[:, :, p:p + h, q:q + wd])
    out = np.maximum(out + b[None, :, None, None], 0)
    return out[:, :, ::stride, ::stride]


def _numpy_cam(net, acts, classes):
    """d y_c / d A_k(i, j) = W_fc[c, k] / (h w), so alpha_k = W_fc[c, k] / (h w)."""
    h, w = acts.shape[2:]
    alpha = net[4].weight.numpy()[classes] / (h * w)
    return np.maximum(np.einsum("nk,nkij->nij", alpha, acts), 0)


def _normalise(cam):
    peak = cam.reshape(len(cam), -1).max(axis=1)[:, None, None]
    return cam / np.where(peak > 0, peak, 1)


@pytest.mark.parametrize("class_index", [None, 2, [0, 3, 1]])
def test_grad_cam_matches_numpy_on_a_gap_network(class_index):
    net = _gap_net()
    x = np.random.default_rng(0).normal(size=(3, 2, 6, 5)).astype(np.float32)
    acts = _numpy_activations(net, x)
    logits = net(tg.Tensor(x)).numpy()
    classes = logits.argmax(1) if class_index is None else np.broadcast_to(class_index, (3,))
    heat = grad_cam(net, tg.Tensor(x), net[1], class_index)
    assert heat.shape == (3, 6, 5) and heat.dtype == np.float32
    expected = _normalise(_numpy_cam(net, acts, classes))
    np.testing.assert_allclose(heat.numpy(), expected, atol=1e-5)
    h = heat.numpy()
    assert h.min() >= 0 and h.max() <= 1
    assert all(np.isclose(m.max(), 1.0) or m.max() == 0 for m in h)


def test_grad_cam_keeps_float64():
    net = _gap_net().double()
    x = np.random.default_rng(2).normal(size=(2, 2, 5, 5))
    heat = grad_cam(net, tg.Tensor(x, dtype="float64"), net[1], class_index=[1, 2])
    assert heat.dtype == np.float64
    expected = _normalise(_numpy_cam(net, _numpy_activations(net, x), np.array([1, 2])))
    np.testing.assert_allclose(heat.numpy(), expected, atol=1e-12)


@requires_torch
def test_grad_cam_upsamples_bilinearly_to_the_input_size():
    net = _gap_net()
    net[0].stride = (2, 2)
    x = np.random.default_rng(1).normal(size=(2, 2, 8, 8)).astype(np.float32)
    acts = _numpy_activations(net, x, stride=2)
    cam = _numpy_cam(net, acts, np.array([1, 1]))
    up = torch.nn.functional.interpolate(torch.tensor(cam[:, None]), size=(8, 8), mode="bilinear",
                                         align_corners=False).numpy()[:, 0]
    heat = grad_cam(net, x, net[1], class_index=1)
    np.testing.assert_allclose(heat.numpy(), _normalise(up), atol=1e-5)


def test_all_zero_map_stays_zero():
    net = _gap_net()
    net[4].weight.data[...] = -1.0  # relu activations >= 0, so every alpha_k < 0 and the cam is relu(<= 0)
    heat = grad_cam(net, tg.randn(2, 2, 4, 4), net[1], class_index=0).numpy()
    assert np.all(heat == 0) and not np.isnan(heat).any()


def test_grad_cam_leaves_the_model_as_it_was():
    model = resnet18(num_classes=4, in_channels=1, width=4, small_input=True)
    model.train()
    model.layer1.eval()
    stats = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    for p in model.parameters():
        p.grad = tg.ones(*p.shape)
    model.fc.weight.requires_grad_(False)
    heat = grad_cam(model, tg.randn(2, 1, 12, 12, requires_grad=True), model.layer3)
    assert heat.shape == (2, 12, 12)
    assert model.training and not model.layer1.training and model.layer1[0].bn1.training is False
    assert model.layer3.training
    assert all(not m._forward_hooks for m in model.modules())
    for k, v in model.state_dict().items():  # eval mode: BN running statistics untouched
        np.testing.assert_array_equal(v.numpy(), stats[k], err_msg=k)
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.grad.numpy(), 1.0, err_msg=name)
        assert p.requires_grad == (name != "fc.weight"), name


def test_grad_cam_errors_and_cleanup():
    net, other = _gap_net(), nn.ReLU()
    x = tg.randn(1, 2, 4, 4)
    with pytest.raises(ValueError, match="not a submodule"):
        grad_cam(net, x, other)
    with pytest.raises(ValueError, match="4-D"):
        grad_cam(net, x, net[4])
    assert not net[4]._forward_hooks and net.training
    with pytest.raises(ValueError, match="class_index"):
        grad_cam(net, x, net[1], class_index=4)
    for bad in (1.7, True, np.float64(2.0), [1.0], np.array([True])):
        with pytest.raises(TypeError, match=r"grad_cam: class_index must be an int .* got " + re.escape(repr(bad))):
            grad_cam(net, x, net[1], class_index=bad)
    assert not net[1]._forward_hooks and net.training
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        grad_cam(net, tg.randn(2, 4, 4), net[1])
    model = resnet18(num_classes=2, in_channels=1, width=2, small_input=True)
    with pytest.raises(ValueError, match="once"):  # a BasicBlock applies its ReLU module twice
        grad_cam(model, tg.randn(1, 1, 8, 8), model.layer1[0].relu)
    assert not model.layer1[0].relu._forward_hooks


def test_overlay_returns_rgb_in_unit_range():
    heat = np.linspace(0, 1, 20).reshape(4, 5)
    for image in (np.random.default_rng(0).uniform(size=(4, 5)), np.full((4, 5, 3), 255, np.uint8),
                  np.zeros((3, 4, 5))):
        out = overlay(image, heat, alpha=0.5)
        assert out.shape == (4, 5, 3) and out.dtype == np.float32
        assert out.min() >= 0 and out.max() <= 1
    np.testing.assert_allclose(overlay(np.zeros((4, 5)), heat, alpha=0.0), 0.0)
    assert not np.allclose(overlay(np.zeros((4, 5)), heat)[0, 0], overlay(np.zeros((4, 5)), heat)[-1, -1])
    with pytest.raises(ValueError, match="overlay"):
        overlay(np.zeros((4, 4)), heat)


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.75, 1.0])
def test_overlay_blends_values_per_the_formula(alpha):
    """out = (1 - alpha) * image_hwc + alpha * jet(heat)[..., :3], for every accepted image layout."""
    from matplotlib import colormaps

    rng = np.random.default_rng(4)
    heat = rng.uniform(size=(4, 4))
    colored = colormaps["jet"](heat)[..., :3]
    chw = rng.uniform(size=(3, 4, 4))                      # square, so a wrong transpose keeps the shape
    hwc = rng.uniform(size=(4, 4, 3))
    gray = rng.uniform(size=(4, 4))
    u8 = rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
    cases = [(chw, chw.transpose(1, 2, 0)), (tg.Tensor(chw), chw.transpose(1, 2, 0)), (hwc, hwc),
             (gray, np.stack([gray] * 3, axis=-1)), (u8, u8 / 255.0)]
    for image, as_hwc in cases:
        expected = (1 - alpha) * as_hwc + alpha * colored
        np.testing.assert_allclose(overlay(image, tg.Tensor(heat), alpha=alpha), expected, atol=1e-6)


@pytest.mark.gpu
def test_grad_cam_on_cuda_matches_cpu():
    model = resnet18(num_classes=3, in_channels=1, width=4, small_input=True)
    x = np.random.default_rng(3).normal(size=(2, 1, 8, 8)).astype(np.float32)
    expected = tg.explain.grad_cam(model, x, model.layer2).numpy()
    model.to("cuda")
    heat = tg.explain.grad_cam(model, tg.Tensor(x, device="cuda"), model.layer2)
    assert heat.device == "cuda"
    np.testing.assert_allclose(heat.numpy(), expected, atol=1e-4)
