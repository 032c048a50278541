"""AlexNet (Krizhevsky et al., 2012) in torchvision's single-tower form, with its layer names.

features: conv 11x11 stride 4 pad 2 (64) - ReLU - maxpool 3x3 stride 2 - conv 5x5 pad 2 (192) -
ReLU - maxpool - conv 3x3 pad 1 (384) - ReLU - conv 3x3 (256) - ReLU - conv 3x3 (256) - ReLU -
maxpool (children 0..12, convolutions at 0, 3, 6, 8, 10);
avgpool: adaptive average pool to 6x6;
classifier: Dropout - Linear(256 * 36, 4096) - ReLU - Dropout - Linear(4096, 4096) - ReLU -
Linear(4096, num_classes) (Linear layers at 1, 4, 6).
``width_divisor`` d divides every channel count and the 4096 hidden units by d; d = 1 is
torchvision's network, 61,100,840 parameters for 1000 classes. Inputs must be at least 63x63
(the smallest size whose three max-pools still see a 3x3 window); torchvision uses 224x224.
"""
from .. import nn
from .checks import check_sizes, check_width_divisor

__all__ = ["ALEXNET_CONVS", "AlexNet", "alexnet"]

# (out_channels, kernel_size, stride, padding, followed by a max-pool)
ALEXNET_CONVS = ((64, 11, 4, 2, True), (192, 5, 1, 2, True), (384, 3, 1, 1, False), (256, 3, 1, 1, False),
                 (256, 3, 1, 1, True))
MIN_SIZE = 63


class AlexNet(nn.Module):
    """features (5 convolutions, 3 max-pools) -> avgpool (6x6) -> flatten -> classifier."""

    def __init__(self, num_classes=1000, in_channels=3, width_divisor=1, dropout=0.5):
        super().__init__()
        widths = [c[0] for c in ALEXNET_CONVS] + [4096]
        check_width_divisor("AlexNet", width_divisor, widths)
        check_sizes("AlexNet", num_classes, in_channels)
        layers, channels = [], in_channels
        for out, kernel, stride, padding, pool in ALEXNET_CONVS:
            out //= width_divisor
            layers += [nn.Conv2d(channels, out, kernel, stride=stride, padding=padding), nn.ReLU()]
            if pool:
                layers.append(nn.MaxPool2d(3, stride=2))
            channels = out
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(6)
        hidden = 4096 // width_divisor
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(channels * 36, hidden), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, num_classes))

    def forward(self, x):
        """(N, in_channels, H, W) with H, W >= 63 -> logits (N, num_classes)."""
        if x.ndim != 4 or min(x.shape[2:]) < MIN_SIZE:
            raise ValueError(f"AlexNet: expected (N, C, H, W) images of at least {MIN_SIZE}x{MIN_SIZE}, "
                             f"got shape {x.shape}")
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


def alexnet(num_classes=1000, in_channels=3, width_divisor=1):
    """AlexNet as torchvision builds it (``width_divisor`` 1)."""
    return AlexNet(num_classes, in_channels, width_divisor)
