"""Inception modules (GoogLeNet, Szegedy et al., 2015) with torchvision's layer names.

An Inception module runs four branches on the same input x (N, C_in, H, W) and concatenates
their outputs on the channel axis:
  branch1: 1x1 conv (ch1x1)
  branch2: 1x1 conv (ch3x3red) -> 3x3 conv, padding 1 (ch3x3)
  branch3: 1x1 conv (ch5x5red) -> k x k conv, padding k // 2 (ch5x5); k = 5 in the paper,
           3 in torchvision's GoogLeNet (``branch3_kernel``)
  branch4: 3x3 max-pool, stride 1, padding 1 -> 1x1 conv (pool_proj)
so y has ch1x1 + ch3x3 + ch5x5 + pool_proj channels and x's H x W. Every conv is a
BasicConv2d: relu(bn(conv(x))) with a bias-free conv and BatchNorm (eps 1e-3) as torchvision,
or relu(conv(x)) with a biased conv as the paper (``batch_norm=False``). The 1x1 "reduce"
convolutions before the 3x3 and k x k ones cut their cost (the paper's dimension reduction).
"""
from .. import nn
from ..tensor_functions import concatenate
from .checks import check_sizes, check_width_divisor

__all__ = ["INCEPTION_NET_BLOCKS", "BasicConv2d", "InceptionModule", "InceptionNet", "inception_net"]

# GoogLeNet's inception 3a, 3b and 4a: (ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)
INCEPTION_NET_BLOCKS = ((64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64), (192, 96, 208, 16, 48, 64))
STEM_CHANNELS = 192


class BasicConv2d(nn.Module):
    """relu(bn(conv(x))) (conv without bias, BN eps 1e-3), or relu(conv(x)) with ``batch_norm=False``."""

    def __init__(self, in_channels, out_channels, kernel_size, padding=0, batch_norm=True):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, bias=not batch_norm)
        self.bn = nn.BatchNorm2d(out_channels, eps=1e-3) if batch_norm else None
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.conv(x)
        return self.relu(x if self.bn is None else self.bn(x))


class InceptionModule(nn.Module):
    """cat([branch1(x), branch2(x), branch3(x), branch4(x)], channels) (see the module docstring)."""

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj, branch3_kernel=5,
                 batch_norm=True):
        super().__init__()
        sizes = (in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)
        if min(sizes) < 1 or branch3_kernel not in (3, 5):
            raise ValueError(f"InceptionModule: channel counts must be positive and branch3_kernel 3 or 5, got "
                             f"channels {sizes}, branch3_kernel {branch3_kernel}")
        self.in_channels = int(in_channels)
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj
        self.branch1 = BasicConv2d(in_channels, ch1x1, 1, batch_norm=batch_norm)
        self.branch2 = nn.Sequential(BasicConv2d(in_channels, ch3x3red, 1, batch_norm=batch_norm),
                                     BasicConv2d(ch3x3red, ch3x3, 3, padding=1, batch_norm=batch_norm))
        self.branch3 = nn.Sequential(BasicConv2d(in_channels, ch5x5red, 1, batch_norm=batch_norm),
                                     BasicConv2d(ch5x5red, ch5x5, branch3_kernel, padding=branch3_kernel // 2,
                                                 batch_norm=batch_norm))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1),
                                     BasicConv2d(in_channels, pool_proj, 1, batch_norm=batch_norm))

    def forward(self, x):
        """(N, in_channels, H, W) -> (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W)."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"InceptionModule: expected (N, {self.in_channels}, H, W) input, got shape {x.shape}")
        return concatenate([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], axis=1)


class InceptionNet(nn.Module):
    """A small GoogLeNet for 28x28 / 32x32 images:
    conv1 (3x3, 192/d) - maxpool1 (2x2) - inception3a - inception3b - maxpool2 (2x2) - inception4a -
    global average pool - dropout - fc, with GoogLeNet's 3a/3b/4a channel counts divided by d
    (``width_divisor``). Each max-pool halves H and W, so the net takes any H, W >= 4.
    """

    def __init__(self, num_classes=10, in_channels=1, width_divisor=4, branch3_kernel=5, batch_norm=True,
                 dropout=0.2):
        super().__init__()
        widths = (STEM_CHANNELS,) + sum(INCEPTION_NET_BLOCKS, ())
        check_width_divisor("InceptionNet", width_divisor, widths)
        check_sizes("InceptionNet", num_classes, in_channels)
        channels = STEM_CHANNELS // width_divisor
        self.conv1 = BasicConv2d(in_channels, channels, 3, padding=1, batch_norm=batch_norm)
        self.maxpool1 = nn.MaxPool2d(2, stride=2)
        blocks = []
        for config in INCEPTION_NET_BLOCKS:
            block = InceptionModule(channels, *(c // width_divisor for c in config), branch3_kernel=branch3_kernel,
                                    batch_norm=batch_norm)
            blocks.append(block)
            channels = block.out_channels
        self.inception3a, self.inception3b, self.inception4a = blocks
        self.maxpool2 = nn.MaxPool2d(2, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x):
        """(N, in_channels, H, W) with H, W >= 4 -> logits (N, num_classes)."""
        if x.ndim != 4 or min(x.shape[2:]) < 4:
            raise ValueError(f"InceptionNet: expected (N, C, H, W) images of at least 4x4 (two 2x2 max-pools), "
                             f"got shape {x.shape}")
        x = self.inception3b(self.inception3a(self.maxpool1(self.conv1(x))))
        x = self.inception4a(self.maxpool2(x))
        return self.fc(self.dropout(self.avgpool(x).flatten(1)))


def inception_net(num_classes=10, in_channels=1, width_divisor=4, branch3_kernel=5):
    """InceptionNet with GoogLeNet's inception 3a, 3b and 4a at 1/``width_divisor`` width."""
    return InceptionNet(num_classes, in_channels, width_divisor, branch3_kernel)
