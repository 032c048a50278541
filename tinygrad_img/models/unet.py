"""U-Net (Ronneberger et al., 2015) for per-pixel labels, with "same" padding.

Encoder level i (i = 0..depth-1): DoubleConv to base * 2^i channels, kept as the skip
s_i, then a 2x2 max-pool. Bottleneck: DoubleConv to base * 2^depth channels. Decoder
level i (i = depth-1..0): upsample by 2 (a 2x2 stride-2 transposed conv halving the
channels, or bilinear interpolation followed by a 1x1 conv when ``upsample="bilinear"``),
concatenate with s_i along the channels, DoubleConv to base * 2^i. A final 1x1 conv gives
``num_classes`` logits per pixel, so the output is (N, num_classes, H, W) for an input
(N, in_channels, H, W) whose H and W are divisible by 2^depth.
"""
from .. import functional as F
from .. import nn
from ..tensor_functions import cat
from .checks import check_positive_ints, check_sizes

__all__ = ["DoubleConv", "UNet"]


class DoubleConv(nn.Sequential):
    """(3x3 conv, padding 1 -> BN -> ReLU) twice; keeps H and W."""

    def __init__(self, in_channels, out_channels):
        super().__init__(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(),
                         nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU())


class _BilinearUp(nn.Module):
    """x -> conv1x1(interpolate(x, 2, bilinear)): doubles H and W, maps channels in -> out."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="bilinear"))


class UNet(nn.Module):
    """Encoder-decoder with skip concatenations; see the module docstring for the structure."""

    def __init__(self, in_channels=1, num_classes=2, base=16, depth=3, upsample="transpose"):
        super().__init__()
        check_positive_ints("UNet", depth=depth, base=base)
        check_sizes("UNet", num_classes, in_channels)
        if upsample not in ("transpose", "bilinear"):
            raise ValueError(f"UNet: upsample must be 'transpose' or 'bilinear', got {upsample!r}")
        self.depth = int(depth)
        widths = [base * 2 ** i for i in range(depth + 1)]
        self.down = nn.ModuleList([DoubleConv(c_in, c_out) for c_in, c_out
                                   in zip([in_channels] + widths[:depth - 1], widths[:depth])])
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = DoubleConv(widths[depth - 1], widths[depth])
        up_cls = nn.ConvTranspose2d if upsample == "transpose" else _BilinearUp
        up_args = {"kernel_size": 2, "stride": 2} if upsample == "transpose" else {}
        self.up = nn.ModuleList([up_cls(widths[i + 1], widths[i], **up_args) for i in reversed(range(depth))])
        self.dec = nn.ModuleList([DoubleConv(2 * widths[i], widths[i]) for i in reversed(range(depth))])
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x):
        """(N, in_channels, H, W) -> per-pixel logits (N, num_classes, H, W)."""
        k = 2 ** self.depth
        if x.ndim != 4 or x.shape[2] % k or x.shape[3] % k:
            raise ValueError(f"UNet: expected (N, C, H, W) with H and W divisible by 2**depth = {k}, "
                             f"got shape {x.shape}")
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for up, dec, skip in zip(self.up, self.dec, reversed(skips)):
            x = dec(cat([up(x), skip], axis=1))
        return self.head(x)
