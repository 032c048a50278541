"""VGG-11 (Simonyan and Zisserman, 2015, configuration "A") with torchvision's layer names.

features: 3x3 convolutions (padding 1, so they keep the size) with ReLU (and BatchNorm
before the ReLU when ``batch_norm``), channels 64, M, 128, M, 256, 256, M, 512, 512, M,
512, 512, M, where M is a 2x2 max-pool of stride 2 (so H and W shrink by 32);
avgpool: adaptive average pool to ``pool_size`` x ``pool_size`` (7 in torchvision);
classifier: Linear(512 p^2, 4096) - ReLU - Dropout - Linear(4096, 4096) - ReLU - Dropout -
Linear(4096, num_classes). ``width_divisor`` d divides every channel count and the 4096
hidden units by d (d = 1 is the paper's network, 132,863,336 parameters for 1000 classes).

Initialisation as torchvision's VGG: conv weights ~ N(0, 2 / fan_out) (Kaiming normal,
fan_out = C_out * 3 * 3, ReLU gain), conv biases 0; BatchNorm weight 1, bias 0;
Linear weights ~ N(0, 0.01^2), Linear biases 0.
"""
from .. import nn
from .checks import check_sizes, check_width_divisor

__all__ = ["VGG", "VGG11_CONFIG", "vgg11"]

VGG11_CONFIG = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


class VGG(nn.Module):
    """features (the conv stack of ``config``) -> avgpool -> flatten -> classifier."""

    def __init__(self, config, num_classes=1000, in_channels=3, width_divisor=1, batch_norm=False,
                 pool_size=7, dropout=0.5):
        super().__init__()
        check_width_divisor("VGG", width_divisor, [c for c in config if c != "M"] + [4096])
        check_sizes("VGG", num_classes, in_channels)
        layers, channels = [], in_channels
        for c in config:
            if c == "M":
                layers.append(nn.MaxPool2d(2, stride=2))
                continue
            c //= width_divisor
            layers.append(nn.Conv2d(channels, c, 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(c))
            layers.append(nn.ReLU())
            channels = c
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(pool_size)
        hidden = 4096 // width_divisor
        self.classifier = nn.Sequential(
            nn.Linear(channels * pool_size * pool_size, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes))
        self._init_weights()

    def _init_weights(self):
        """torchvision's VGG initialisation (see the module docstring)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        """(N, in_channels, H, W) with H, W >= 32 -> logits (N, num_classes)."""
        if x.ndim != 4 or min(x.shape[2:]) < 32:
            raise ValueError(f"VGG: expected (N, C, H, W) images of at least 32x32 (five 2x2 max-pools), "
                             f"got shape {x.shape}")
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


def vgg11(num_classes=1000, in_channels=3, width_divisor=1, batch_norm=False, pool_size=7):
    """VGG-11 (configuration A: 8 conv layers + 3 fully connected layers)."""
    return VGG(VGG11_CONFIG, num_classes, in_channels, width_divisor, batch_norm, pool_size)
