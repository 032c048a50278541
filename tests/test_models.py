"""Model zoo: torchvision-compatible names and sizes, PyTorch parity, shapes, errors, VAE loss, training."""
import numpy as np
import pytest

import tinygrad_img as tg
from tinygrad_img import nn
from tinygrad_img.models import (VAE, BasicBlock, ConvAutoencoder, DepthwiseSeparable, UNet, gaussian_kl,
                                 mobilenet_v1, resnet18, resnet34, vae_loss, vgg11)
from model_checks import assert_parity, randomise_bn_stats, train_on_digits
from torch_parity import requires_torch, torch

# torchvision.models.resnet18().state_dict().keys(), in order
TORCHVISION_RESNET18_KEYS = [
    "conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
    "bn1.num_batches_tracked",
    "layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias",
    "layer1.0.bn1.running_mean", "layer1.0.bn1.running_var",
    "layer1.0.bn1.num_batches_tracked",
    "layer1.0.conv2.weight", "layer1.0.bn2.weight", "layer1.0.bn2.bias",
    "layer1.0.bn2.running_mean", "layer1.0.bn2.running_var",
    "layer1.0.bn2.num_batches_tracked",
    "layer1.1.conv1.weight", "layer1.1.bn1.weight", "layer1.1.bn1.bias",
    "layer1.1.bn1.running_mean", "layer1.1.bn1.running_var",
    "layer1.1.bn1.num_batches_tracked",
    "layer1.1.conv2.weight", "layer1.1.bn2.weight", "layer1.1.bn2.bias",
    "layer1.1.bn2.running_mean", "layer1.1.bn2.running_var",
    "layer1.1.bn2.num_batches_tracked",
    "layer2.0.conv1.weight", "layer2.0.bn1.weight", "layer2.0.bn1.bias",
    "layer2.0.bn1.running_mean", "layer2.0.bn1.running_var",
    "layer2.0.bn1.num_batches_tracked",
    "layer2.0.conv2.weight", "layer2.0.bn2.weight", "layer2.0.bn2.bias",
    "layer2.0.bn2.running_mean", "layer2.0.bn2.running_var",
    "layer2.0.bn2.num_batches_tracked",
    "layer2.0.downsample.0.weight", "layer2.0.downsample.1.weight", "layer2.0.downsample.1.bias",
    "layer2.0.downsample.1.running_mean", "layer2.0.downsample.1.running_var",
    "layer2.0.downsample.1.num_batches_tracked",
    "layer2.1.conv1.weight", "layer2.1.bn1.weight", "layer2.1.bn1.bias",
    "layer2.1.bn1.running_mean", "layer2.1.bn1.running_var",
    "layer2.1.bn1.num_batches_tracked",
    "layer2.1.conv2.weight", "layer2.1.bn2.weight", "layer2.1.bn2.bias",
    "layer2.1.bn2.running_mean", "layer2.1.bn2.running_var",
    "layer2.1.bn2.num_batches_tracked",
    "layer3.0.conv1.weight", "layer3.0.bn1.weight", "layer3.0.bn1.bias",
    "layer3.0.bn1.running_mean", "layer3.0.bn1.running_var",
    "layer3.0.bn1.num_batches_tracked",
    "layer3.0.conv2.weight", "layer3.0.bn2.weight", "layer3.0.bn2.bias",
    "layer3.0.bn2.running_mean", "layer3.0.bn2.running_var",
    "layer3.0.bn2.num_batches_tracked",
    "layer3.0.downsample.0.weight", "layer3.0.downsample.1.weight", "layer3.0.downsample.1.bias",
    "layer3.0.downsample.1.running_mean", "layer3.0.downsample.1.running_var",
    "layer3.0.downsample.1.num_batches_tracked",
    "layer3.1.conv1.weight", "layer3.1.bn1.weight", "layer3.1.bn1.bias",
    "layer3.1.bn1.running_mean", "layer3.1.bn1.running_var",
    "layer3.1.bn1.num_batches_tracked",
    "layer3.1.conv2.weight", "layer3.1.bn2.weight", "layer3.1.bn2.bias",
    "layer3.1.bn2.running_mean", "layer3.1.bn2.running_var",
    "layer3.1.bn2.num_batches_tracked",
    "layer4.0.conv1.weight", "layer4.0.bn1.weight", "layer4.0.bn1.bias",
    "layer4.0.bn1.running_mean", "layer4.0.bn1.running_var",
    "layer4.0.bn1.num_batches_tracked",
    "layer4.0.conv2.weight", "layer4.0.bn2.weight", "layer4.0.bn2.bias",
    "layer4.0.bn2.running_mean", "layer4.0.bn2.running_var",
    "layer4.0.bn2.num_batches_tracked",
    "layer4.0.downsample.0.weight", "layer4.0.downsample.1.weight", "layer4.0.downsample.1.bias",
    "layer4.0.downsample.1.running_mean", "layer4.0.downsample.1.running_var",
    "layer4.0.downsample.1.num_batches_tracked",
    "layer4.1.conv1.weight", "layer4.1.bn1.weight", "layer4.1.bn1.bias",
    "layer4.1.bn1.running_mean", "layer4.1.bn1.running_var",
    "layer4.1.bn1.num_batches_tracked",
    "layer4.1.conv2.weight", "layer4.1.bn2.weight", "layer4.1.bn2.bias",
    "layer4.1.bn2.running_mean", "layer4.1.bn2.running_var",
    "layer4.1.bn2.num_batches_tracked",
    "fc.weight", "fc.bias",
]


def test_resnet18_matches_torchvision_names_shapes_and_size():
    sd = resnet18().state_dict()
    assert list(sd) == TORCHVISION_RESNET18_KEYS and len(sd) == 122
    shapes = {"conv1.weight": (64, 3, 7, 7), "layer2.0.conv1.weight": (128, 64, 3, 3),
              "layer2.0.downsample.0.weight": (128, 64, 1, 1), "layer4.1.bn2.running_var": (512,),
              "fc.weight": (1000, 512), "fc.bias": (1000,), "bn1.num_batches_tracked": ()}
    for k, shape in shapes.items():
        assert sd[k].shape == shape, k
    assert tg.models.resnet18 is resnet18
    assert sum(p.size for p in resnet18().parameters()) == 11_689_512
    assert sum(p.size for p in resnet34().parameters()) == 21_797_672


@pytest.mark.parametrize("small_input,size,in_channels", [(True, 28, 1), (True, 32, 3), (False, 64, 3)])
def test_resnet_output_shapes(small_input, size, in_channels):
    m = resnet18(num_classes=7, in_channels=in_channels, width=4, small_input=small_input)
    assert m(tg.randn(2, in_channels, size, size)).shape == (2, 7)
    assert m.conv1.weight.shape == ((4, in_channels, 3, 3) if small_input else (4, in_channels, 7, 7))
    assert isinstance(m.maxpool, nn.Identity) == small_input


def test_resnet_rejects_bad_configuration():
    with pytest.raises(ValueError, match="width"):
        resnet18(width=0)


_BAD_CONSTRUCTOR_ARGS = [
    (lambda: vgg11(num_classes=0), ValueError, "VGG: num_classes .* got 0"),
    (lambda: vgg11(in_channels=0), ValueError, "VGG: in_channels .* got 0"),
    (lambda: mobilenet_v1(num_classes=0), ValueError, "MobileNetV1: num_classes .* got 0"),
    (lambda: mobilenet_v1(in_channels=0), ValueError, "MobileNetV1: in_channels .* got 0"),
    (lambda: mobilenet_v1(width_mult="a"), TypeError, "MobileNetV1: width_mult .* got 'a'"),
    (lambda: mobilenet_v1(width_mult=0.0), ValueError, "MobileNetV1: width_mult .* got 0.0"),
    (lambda: mobilenet_v1(width_mult=float("nan")), ValueError, "MobileNetV1: width_mult .* got nan"),
    (lambda: UNet(num_classes=0), ValueError, "UNet: num_classes .* got 0"),
    (lambda: UNet(in_channels=0), ValueError, "UNet: in_channels .* got 0"),
    (lambda: UNet(base=2.5), TypeError, "UNet: base .* got 2.5"),
    (lambda: resnet18(in_channels=True), TypeError, "ResNet: in_channels .* got True"),
    (lambda: ConvAutoencoder(in_channels=0), ValueError, "ConvAutoencoder: in_channels .* got 0"),
    (lambda: ConvAutoencoder(base=0), ValueError, "ConvAutoencoder: base .* got 0"),
    (lambda: VAE(in_channels=0), ValueError, "VAE: in_channels .* got 0"),
    (lambda: VAE(base=0), ValueError, "VAE: base .* got 0"),
    (lambda: VAE(image_size=0), ValueError, "VAE: image_height .* got 0"),
    (lambda: VAE(image_size=(8, 0)), ValueError, "VAE: image_width .* got 0"),
    (lambda: VAE(image_size=(8,)), ValueError, r"VAE: image_size .* got \(8,\)"),
    (lambda: VAE(latent_dim=0), ValueError, "VAE: latent_dim .* got 0"),
]


@pytest.mark.parametrize("build, error, message", _BAD_CONSTRUCTOR_ARGS)
def test_model_builders_reject_bad_sizes_naming_model_and_value(build, error, message):
    with pytest.raises(error, match=message):
        build()


def _torch_block(in_planes, planes, stride):
    tnn = torch.nn

    class Block(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(planes)
            self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(planes)
            self.downsample = None
            if stride != 1 or in_planes != planes:
                self.downsample = tnn.Sequential(tnn.Conv2d(in_planes, planes, 1, stride, bias=False),
                                                 tnn.BatchNorm2d(planes))

        def forward(self, x):
            out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
            return torch.relu(out + (x if self.downsample is None else self.downsample(x)))
    return Block()


def _torch_resnet(num_classes, in_channels, width):
    """torchvision's ResNet-18 with the 3x3 stem (small_input), from torch.nn primitives."""
    tnn = torch.nn
    net = tnn.Module()
    net.conv1 = tnn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
    net.bn1 = tnn.BatchNorm2d(width)
    planes = width
    for i in range(4):
        out = width * 2 ** i
        setattr(net, f"layer{i + 1}", tnn.Sequential(_torch_block(planes, out, 1 if i == 0 else 2),
                                                     _torch_block(out, out, 1)))
        planes = out
    net.fc = tnn.Linear(planes, num_classes)

    def forward(x):
        x = torch.relu(net.bn1(net.conv1(x)))
        x = net.layer4(net.layer3(net.layer2(net.layer1(x))))
        return net.fc(x.mean(dim=(2, 3)))
    return net, forward


@requires_torch
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("in_planes,planes,stride", [(4, 4, 1), (4, 6, 2)])
def test_basic_block_matches_torch(in_planes, planes, stride, training):
    ours = BasicBlock(in_planes, planes, stride)
    randomise_bn_stats(ours)
    theirs = _torch_block(in_planes, planes, stride)
    x = np.random.default_rng(0).normal(size=(3, in_planes, 8, 8)).astype(np.float32)
    assert_parity(ours, theirs, theirs, x, training)


@requires_torch
@pytest.mark.parametrize("training", [False, True])
def test_small_resnet18_matches_torch(training):
    ours = resnet18(num_classes=5, in_channels=2, width=4, small_input=True)
    randomise_bn_stats(ours)
    theirs, forward = _torch_resnet(5, 2, 4)
    x = np.random.default_rng(0).normal(size=(2, 2, 16, 16)).astype(np.float32)
    assert_parity(ours, theirs, forward, x, training)


def test_vgg11_structure_and_shapes():
    m = vgg11(num_classes=10, in_channels=1, width_divisor=16, pool_size=1)
    convs = [l for l in m.features if isinstance(l, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [4, 8, 16, 16, 32, 32, 32, 32]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert sum(isinstance(l, nn.MaxPool2d) for l in m.features) == 5
    assert m(tg.randn(2, 1, 32, 32)).shape == (2, 10)
    # convs: sum 9 c_in c_out + c_out; classifier 32*1 -> 256 -> 256 -> 10
    conv_params = sum(9 * a * b + b for a, b in zip([1, 4, 8, 16, 16, 32, 32, 32], [4, 8, 16, 16, 32, 32, 32, 32]))
    assert sum(p.size for p in m.parameters()) == conv_params + (32 * 256 + 256) + (256 * 256 + 256) + (256 * 10 + 10)
    bn = vgg11(num_classes=3, width_divisor=64, batch_norm=True)
    assert isinstance(bn.features[1], nn.BatchNorm2d) and "features.1.running_mean" in bn.state_dict()
    assert bn(tg.randn(1, 3, 32, 32)).shape == (1, 3)
    with pytest.raises(ValueError, match="32x32"):
        m(tg.randn(1, 1, 16, 16))
    with pytest.raises(ValueError, match="width_divisor"):
        vgg11(width_divisor=3)


def test_vgg11_uses_torchvision_initialisation():
    tg.manual_seed(0)
    m = vgg11(num_classes=10, width_divisor=8, batch_norm=True)   # classifier 3136 -> 512 -> 512 -> 10
    convs = [l for l in m.features if isinstance(l, nn.Conv2d)]
    for c in convs:
        w = c.weight.numpy()
        assert (c.bias.numpy() == 0).all()
        if w.size >= 10_000:                                      # enough entries for a tight std estimate
            expect = np.sqrt(2.0 / (c.out_channels * 9))          # kaiming_normal_, fan_out, relu gain
            assert abs(w.std() / expect - 1) < 0.1 and abs(w.mean()) < 0.1 * expect, (w.std(), expect)
    assert sum(c.weight.size >= 10_000 for c in convs) >= 4
    for bn in (l for l in m.features if isinstance(l, nn.BatchNorm2d)):
        assert (bn.weight.numpy() == 1).all() and (bn.bias.numpy() == 0).all()
    linears = [l for l in m.classifier if isinstance(l, nn.Linear)]
    for lin in linears[:2]:                                   # PyTorch's default would give 1/sqrt(3 fan_in)
        w = lin.weight.numpy()
        assert abs(w.std() / 0.01 - 1) < 0.1 and abs(w.mean()) < 1e-3, w.std()
        assert np.abs(w).max() > 4 * 0.01                     # normal tails, not a uniform's bound
    assert all((lin.bias.numpy() == 0).all() for lin in linears)


def test_mobilenet_v1_keeps_pytorch_default_initialisation():
    tg.manual_seed(0)
    m = mobilenet_v1(num_classes=10, width_mult=0.5)
    pw = m.features[-1][3]                                    # 1x1 conv 512 -> 512
    bound = 1 / np.sqrt(pw.in_channels)                       # kaiming_uniform_(a=sqrt(5)): 1/sqrt(fan_in)
    w = pw.weight.numpy()
    assert np.abs(w).max() <= bound and abs(w.std() / (bound / np.sqrt(3)) - 1) < 0.1
    bns = [l for l in m.modules() if isinstance(l, nn.BatchNorm2d)]
    assert all((bn.weight.numpy() == 1).all() and (bn.bias.numpy() == 0).all() for bn in bns)
    fc_bound = 1 / np.sqrt(m.fc.in_features)
    assert np.abs(m.fc.bias.numpy()).max() <= fc_bound and (m.fc.bias.numpy() != 0).all()


def test_mobilenet_v1_depthwise_separable():
    assert sum(p.size for p in mobilenet_v1().parameters()) == 4_231_976  # the paper's 4.2M
    m = mobilenet_v1(num_classes=10, width_mult=0.25)
    blocks = [b for b in m.features if isinstance(b, DepthwiseSeparable)]
    assert len(blocks) == 13
    for b in blocks:
        dw, pw = b[0], b[3]
        assert dw.groups == dw.in_channels == dw.out_channels > 1
        assert dw.weight.shape == (dw.in_channels, 1, 3, 3) and dw.bias is None
        assert pw.groups == 1 and pw.kernel_size == (1, 1) and pw.in_channels == dw.out_channels
    assert [b[0].stride[0] for b in blocks] == [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]
    assert blocks[-1][3].out_channels == 256
    assert m(tg.randn(2, 3, 32, 32)).shape == (2, 10)


@requires_torch
def test_depthwise_separable_matches_torch():
    ours = DepthwiseSeparable(4, 6, stride=2)
    randomise_bn_stats(ours)
    tnn = torch.nn
    theirs = tnn.Sequential(tnn.Conv2d(4, 4, 3, 2, 1, groups=4, bias=False), tnn.BatchNorm2d(4), tnn.ReLU(),
                            tnn.Conv2d(4, 6, 1, bias=False), tnn.BatchNorm2d(6), tnn.ReLU())
    x = np.random.default_rng(0).normal(size=(2, 4, 9, 9)).astype(np.float32)
    assert_parity(ours, theirs, theirs, x, training=False)


@pytest.mark.parametrize("upsample", ["transpose", "bilinear"])
def test_unet_round_trips_shape(upsample):
    m = UNet(in_channels=2, num_classes=3, base=4, depth=3, upsample=upsample)
    assert len(m.down) == 3 and m.bottleneck[0].out_channels == 32
    assert m(tg.randn(2, 2, 16, 24)).shape == (2, 3, 16, 24)
    with pytest.raises(ValueError, match="divisible by 2\\*\\*depth = 8"):
        m(tg.randn(1, 2, 20, 16))
    with pytest.raises(ValueError, match="upsample"):
        UNet(upsample="cubic")


def test_conv_autoencoder_shapes():
    m = ConvAutoencoder(in_channels=1, base=4)
    x = tg.rand(2, 1, 28, 28)
    assert m.encode(x).shape == (2, 8, 7, 7)
    y = m(x).numpy()
    assert y.shape == (2, 1, 28, 28) and y.min() > 0 and y.max() < 1
    with pytest.raises(ValueError, match="divisible by 4"):
        m(tg.rand(1, 1, 30, 30))


def test_vae_forward_and_reparameterisation():
    m = VAE(in_channels=1, image_size=8, latent_dim=3, base=4)
    x = tg.rand(4, 1, 8, 8)
    recon, mu, logvar = m(x)
    assert recon.shape == (4, 1, 8, 8) and mu.shape == logvar.shape == (4, 3)
    tg.manual_seed(5)
    z1 = m.reparameterize(mu, logvar).numpy()
    tg.manual_seed(5)
    eps = np.random.default_rng(5).standard_normal((4, 3), dtype=np.float32)
    np.testing.assert_allclose(m.reparameterize(mu, logvar).numpy(), z1)
    np.testing.assert_allclose(z1, mu.numpy() + np.exp(0.5 * logvar.numpy()) * eps, rtol=1e-5, atol=1e-6)
    m.eval()
    np.testing.assert_array_equal(m.reparameterize(mu, logvar).numpy(), mu.numpy())
    with pytest.raises(ValueError, match="8x8"):
        m(tg.rand(1, 1, 12, 12))


def test_vae_loss_value_and_gradcheck():
    rng = np.random.default_rng(0)
    mu, logvar = rng.normal(size=(3, 4)), rng.normal(scale=0.5, size=(3, 4))
    recon, x = rng.uniform(0.1, 0.9, size=(3, 1, 2, 2)), rng.uniform(0, 1, size=(3, 1, 2, 2))
    kl = -0.5 * np.sum(1 + logvar - mu ** 2 - np.exp(logvar))
    t = [tg.Tensor(a, dtype="float64", requires_grad=True) for a in (recon, mu, logvar)]
    np.testing.assert_allclose(gaussian_kl(t[1], t[2]).item(), kl, rtol=1e-12)
    bce = -np.sum(x * np.log(recon) + (1 - x) * np.log(1 - recon))
    np.testing.assert_allclose(vae_loss(t[0], x, t[1], t[2]).item(), (bce + kl) / 3, rtol=1e-10)
    mse = np.sum((recon - x) ** 2)
    np.testing.assert_allclose(vae_loss(t[0], x, t[1], t[2], "mse", "sum").item(), mse + kl, rtol=1e-10)
    xt = tg.Tensor(x, dtype="float64")
    for kind in ("bce", "mse"):
        assert tg.gradcheck(lambda r, m, lv, kind=kind: vae_loss(r, xt, m, lv, kind), t)
    with pytest.raises(ValueError, match="recon_loss"):
        vae_loss(t[0], x, t[1], t[2], "l1")


def test_small_resnet_loss_decreases_on_digits():
    model = resnet18(num_classes=10, in_channels=1, width=8, small_input=True)
    losses, acc = train_on_digits(model, epochs=3)
    assert np.mean(losses[-4:]) < 0.5 * np.mean(losses[:4]), losses
    assert acc > 0.9, acc
