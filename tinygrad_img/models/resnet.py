"""ResNet-18/34 (He et al., 2016) with torchvision's layer names and shapes.

Each BasicBlock computes  y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)),
where conv1/conv2 are 3x3 convolutions without bias (conv1 carries the block's
stride) and shortcut(x) = x, or bn(conv1x1(x, stride)) ("downsample") when the
stride or the channel count changes. The network is
conv1 (7x7, stride 2) - bn1 - relu - maxpool (3x3, stride 2) - layer1..layer4
(widths w, 2w, 4w, 8w; strides 1, 2, 2, 2) - global average pool - fc.
``small_input=True`` swaps the stem for a 3x3 stride-1 conv without max-pool,
for 28x28 / 32x32 images. With the defaults ``resnet18().state_dict()`` has
exactly torchvision's keys and shapes (11,689,512 parameters).
"""
from .. import nn
from .checks import check_positive_ints, check_sizes

__all__ = ["BasicBlock", "ResNet", "resnet18", "resnet34"]


class BasicBlock(nn.Module):
    """y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); shortcut = downsample(x) or x."""
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    """Residual network of BasicBlocks; ``layers`` gives the block count of each of the 4 stages.

    Initialisation follows torchvision: convs kaiming-normal (fan_out, relu), BN weight 1 and
    bias 0, fc PyTorch's Linear default.
    """

    def __init__(self, layers, num_classes=1000, in_channels=3, width=64, small_input=False):
        super().__init__()
        if len(layers) != 4 or min(layers) < 1:
            raise ValueError(f"ResNet: layers must be 4 positive block counts, got {layers}")
        check_positive_ints("ResNet", width=width)
        check_sizes("ResNet", num_classes, in_channels)
        self.small_input = bool(small_input)
        if self.small_input:
            self.conv1 = nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.maxpool = nn.Identity() if self.small_input else nn.MaxPool2d(3, stride=2, padding=1)
        planes = width
        for i, blocks in enumerate(layers):
            out = width * 2 ** i
            stage = [BasicBlock(planes, out, stride=1 if i == 0 else 2)]
            stage += [BasicBlock(out, out) for _ in range(blocks - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
            planes = out
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(planes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        """(N, in_channels, H, W) -> logits (N, num_classes)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


def resnet18(num_classes=1000, in_channels=3, width=64, small_input=False):
    """ResNet-18: BasicBlock stages of [2, 2, 2, 2] blocks."""
    return ResNet([2, 2, 2, 2], num_classes, in_channels, width, small_input)


def resnet34(num_classes=1000, in_channels=3, width=64, small_input=False):
    """ResNet-34: BasicBlock stages of [3, 4, 6, 3] blocks."""
    return ResNet([3, 4, 6, 3], num_classes, in_channels, width, small_input)
