"""AlexNet and Inception (GoogLeNet) modules: torchvision names and sizes, parameter-count formulas,
shapes, errors, PyTorch parity and a digits training smoke test."""
import numpy as np
import pytest

import tinygrad_img as tg
from tinygrad_img import nn
from tinygrad_img.models import AlexNet, InceptionModule, InceptionNet, alexnet, inception_net
from model_checks import assert_parity, randomise_bn_stats, train_on_digits
from torch_parity import requires_torch, torch

ALEXNET_CONVS = [(11, 64), (5, 192), (3, 384), (3, 256), (3, 256)]   # (kernel, out channels)


def _count(model):
    return sum(p.size for p in model.parameters())


def alexnet_count(num_classes, in_channels, d):
    """Hand formula: sum of k^2 c_in c_out + c_out over the convs, then the three Linear layers."""
    total, c = 0, in_channels
    for k, out in ALEXNET_CONVS:
        total += k * k * c * (out // d) + out // d
        c = out // d
    hidden = 4096 // d
    return total + (36 * c * hidden + hidden) + (hidden * hidden + hidden) + (hidden * num_classes + num_classes)


def test_alexnet_matches_torchvision_names_and_size():
    sd = alexnet().state_dict()
    assert list(sd) == [f"{part}.{i}.{kind}" for part, idx in (("features", (0, 3, 6, 8, 10)),
                                                               ("classifier", (1, 4, 6)))
                        for i in idx for kind in ("weight", "bias")]
    assert sd["features.0.weight"].shape == (64, 3, 11, 11) and sd["features.3.weight"].shape == (192, 64, 5, 5)
    assert sd["classifier.1.weight"].shape == (4096, 9216) and sd["classifier.6.weight"].shape == (1000, 4096)
    assert sum(v.size for v in sd.values()) == 61_100_840 == alexnet_count(1000, 3, 1)
    assert tg.models.alexnet is alexnet


@pytest.mark.parametrize("d,in_channels,size", [(16, 1, 63), (32, 3, 100), (64, 3, 224)])
def test_alexnet_small_widths_and_shapes(d, in_channels, size):
    m = alexnet(num_classes=7, in_channels=in_channels, width_divisor=d)
    assert _count(m) == alexnet_count(7, in_channels, d)
    convs = [layer for layer in m.features if isinstance(layer, nn.Conv2d)]
    assert [c.stride[0] for c in convs] == [4, 1, 1, 1, 1] and [c.padding[0] for c in convs] == [2, 2, 1, 1, 1]
    assert sum(isinstance(layer, nn.MaxPool2d) for layer in m.features) == 3
    m.eval()
    assert m(tg.randn(2, in_channels, size, size)).shape == (2, 7)


def test_alexnet_rejects_bad_input():
    m = alexnet(num_classes=3, width_divisor=64)
    with pytest.raises(ValueError, match="at least 63x63"):
        m(tg.randn(1, 3, 62, 80))
    with pytest.raises(ValueError, match="width_divisor"):
        AlexNet(width_divisor=3)


def inception_count(c_in, c1, r3, c3, r5, c5, pp, k=5, batch_norm=True):
    """Hand formula: conv weights, plus 2 BN parameters (or 1 bias) per output channel."""
    weights = c_in * c1 + c_in * r3 + 9 * r3 * c3 + c_in * r5 + k * k * r5 * c5 + c_in * pp
    return weights + (2 if batch_norm else 1) * (c1 + r3 + c3 + r5 + c5 + pp)


@pytest.mark.parametrize("k,batch_norm", [(5, True), (3, True), (5, False)])
def test_inception_module_shapes_and_size(k, batch_norm):
    config = (6, 2, 3, 4, 2, 3, 5)
    m = InceptionModule(*config, branch3_kernel=k, batch_norm=batch_norm)
    assert _count(m) == inception_count(*config, k=k, batch_norm=batch_norm)
    assert m.out_channels == 2 + 4 + 3 + 5
    assert m.branch3[1].conv.kernel_size == (k, k) and m.branch3[1].conv.padding == (k // 2, k // 2)
    pool = m.branch4[0]
    assert isinstance(pool, nn.MaxPool2d) and (pool.kernel_size, pool.stride, pool.padding) == (3, 1, 1)
    assert ("branch1.bn.running_mean" in m.state_dict()) == batch_norm
    assert (m.branch1.conv.bias is None) == batch_norm
    assert m(tg.randn(2, 6, 7, 5)).shape == (2, 14, 7, 5)
    with pytest.raises(ValueError, match=r"expected \(N, 6, H, W\) input, got shape \(2, 5, 7, 5\)"):
        m(tg.randn(2, 5, 7, 5))
    with pytest.raises(ValueError, match="branch3_kernel"):
        InceptionModule(*config, branch3_kernel=7)


def test_inception_net_structure_and_shapes():
    m = inception_net(num_classes=10, in_channels=1, width_divisor=16)
    blocks = [m.inception3a, m.inception3b, m.inception4a]
    assert [b.out_channels for b in blocks] == [16, 30, 32]        # GoogLeNet's 256, 480, 512 over 16
    expected = (9 * 12 + 2 * 12) + (32 * 10 + 10)                  # stem 3x3 conv + BN, fc
    expected += inception_count(12, 4, 6, 8, 1, 2, 2) + inception_count(16, 8, 8, 12, 2, 6, 4)
    expected += inception_count(30, 12, 6, 13, 1, 3, 4)
    assert _count(m) == expected
    assert "inception4a.branch4.1.conv.weight" in m.state_dict()
    assert m(tg.randn(2, 1, 28, 28)).shape == (2, 10)
    rgb = InceptionNet(num_classes=5, in_channels=3, width_divisor=8, branch3_kernel=3)
    assert rgb(tg.randn(2, 3, 32, 32)).shape == (2, 5)
    with pytest.raises(ValueError, match="at least 4x4"):
        m(tg.randn(1, 1, 3, 8))
    with pytest.raises(ValueError, match="width_divisor"):
        inception_net(width_divisor=32)


def _torch_inception(c_in, c1, r3, c3, r5, c5, pp, k):
    """torchvision's Inception block (BasicConv2d = conv without bias, BN eps 1e-3, ReLU) from torch.nn."""
    tnn = torch.nn

    class Basic(tnn.Module):
        def __init__(self, cin, cout, kernel, padding=0):
            super().__init__()
            self.conv = tnn.Conv2d(cin, cout, kernel, padding=padding, bias=False)
            self.bn = tnn.BatchNorm2d(cout, eps=1e-3)

        def forward(self, x):
            return torch.relu(self.bn(self.conv(x)))

    class Inception(tnn.Module):
        def __init__(self):
            super().__init__()
            self.branch1 = Basic(c_in, c1, 1)
            self.branch2 = tnn.Sequential(Basic(c_in, r3, 1), Basic(r3, c3, 3, 1))
            self.branch3 = tnn.Sequential(Basic(c_in, r5, 1), Basic(r5, c5, k, k // 2))
            self.branch4 = tnn.Sequential(tnn.MaxPool2d(3, 1, 1, ceil_mode=True), Basic(c_in, pp, 1))

        def forward(self, x):
            return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)
    return Inception()


@requires_torch
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("k", [5, 3])
def test_inception_module_matches_torch(k, training):
    config = (5, 3, 4, 6, 2, 3, 2)
    ours = InceptionModule(*config, branch3_kernel=k)
    randomise_bn_stats(ours)
    theirs = _torch_inception(*config, k)
    x = np.random.default_rng(0).normal(size=(3, 5, 7, 6)).astype(np.float32)
    assert_parity(ours, theirs, theirs, x, training)


@requires_torch
def test_small_alexnet_matches_torch():
    tnn = torch.nn
    ours = alexnet(num_classes=5, in_channels=2, width_divisor=32)
    theirs = tnn.Module()
    theirs.features = tnn.Sequential(
        tnn.Conv2d(2, 2, 11, 4, 2), tnn.ReLU(), tnn.MaxPool2d(3, 2), tnn.Conv2d(2, 6, 5, padding=2), tnn.ReLU(),
        tnn.MaxPool2d(3, 2), tnn.Conv2d(6, 12, 3, padding=1), tnn.ReLU(), tnn.Conv2d(12, 8, 3, padding=1),
        tnn.ReLU(), tnn.Conv2d(8, 8, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(3, 2))
    theirs.classifier = tnn.Sequential(tnn.Dropout(), tnn.Linear(8 * 36, 128), tnn.ReLU(), tnn.Dropout(),
                                       tnn.Linear(128, 128), tnn.ReLU(), tnn.Linear(128, 5))
    x = np.random.default_rng(0).normal(size=(2, 2, 80, 67)).astype(np.float32)
    assert_parity(ours, theirs, lambda t: theirs.classifier(tnn.functional.adaptive_avg_pool2d(theirs.features(t), 6)
                                                             .flatten(1)), x, training=False)


def test_inception_net_learns_digits():
    model = inception_net(num_classes=10, in_channels=1, width_divisor=16)
    losses, acc = train_on_digits(model, epochs=3)
    assert np.mean(losses[-4:]) < 0.4 * np.mean(losses[:4]), losses
    assert acc > 0.85, acc
