"""MobileNet v1 (Howard et al., 2017): a stack of depthwise separable convolutions.

A depthwise separable block factors a 3x3 convolution C_in -> C_out into
  depthwise: 3x3 conv with groups = C_in (one filter per channel), BN, ReLU, then
  pointwise: 1x1 conv C_in -> C_out, BN, ReLU,
costing 9 C_in + C_in C_out weights instead of 9 C_in C_out. The network is a
3x3 stride-2 conv (32 channels) - BN - ReLU, 13 such blocks (output channels and
depthwise strides below), global average pool, fc. ``width_mult`` (the paper's
alpha) scales every channel count. Convolutions carry no bias (the BN follows);
with the defaults the network has 4,231,976 parameters for 1000 classes.

torchvision has no MobileNet v1, so the layers keep PyTorch's default initialisation:
conv and Linear weights ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform_ with
a = sqrt(5)), the fc bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), BatchNorm weight 1 and bias 0.
"""
from .. import nn
from .checks import check_positive_numbers, check_sizes

__all__ = ["MOBILENET_V1_BLOCKS", "DepthwiseSeparable", "MobileNetV1", "mobilenet_v1"]

MOBILENET_V1_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
                       (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def _conv_bn_relu(in_channels, out_channels, kernel_size, stride, groups):
    return [nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2,
                      groups=groups, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU()]


class DepthwiseSeparable(nn.Sequential):
    """relu(bn(pointwise_1x1(relu(bn(depthwise_3x3(x, groups=C_in, stride)))))); children 0..5."""

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__(*_conv_bn_relu(in_channels, in_channels, 3, stride, groups=in_channels),
                         *_conv_bn_relu(in_channels, out_channels, 1, 1, groups=1))


class MobileNetV1(nn.Module):
    """features (stem + 13 DepthwiseSeparable blocks) -> global average pool -> fc."""

    def __init__(self, num_classes=1000, in_channels=3, width_mult=1.0, blocks=MOBILENET_V1_BLOCKS):
        super().__init__()
        check_positive_numbers("MobileNetV1", width_mult=width_mult)
        check_sizes("MobileNetV1", num_classes, in_channels)

        def scaled(c):
            return max(1, int(c * width_mult))

        channels = scaled(32)
        layers = [nn.Sequential(*_conv_bn_relu(in_channels, channels, 3, 2, groups=1))]
        for out, stride in blocks:
            layers.append(DepthwiseSeparable(channels, scaled(out), stride))
            channels = scaled(out)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x):
        """(N, in_channels, H, W) -> logits (N, num_classes); H and W shrink by 32 before the pool."""
        return self.fc(self.avgpool(self.features(x)).flatten(1))


def mobilenet_v1(num_classes=1000, in_channels=3, width_mult=1.0):
    """MobileNet v1 with width multiplier ``width_mult``."""
    return MobileNetV1(num_classes, in_channels, width_mult)
