"""Max and average pooling over (N, C, H, W), through the kernel registry.

max:  y[n,c,i,j] = max_{p<kh,q<kw} x_pad[n, c, i*sh + p, j*sw + q]   (padding is -inf);
      dx gets each window's gradient at the saved argmax.
avg:  y[n,c,i,j] = 1/D sum_{p<kh,q<kw} x_pad[n, c, i*sh + p, j*sw + q]  (zero padding),
      D = kh*kw, or the number of real pixels when count_include_pad is False.
"""
from ..autograd import Function
from ..backend import device_of, get_array_module
from ..kernels import registry
from ..kernels.geometry import pair


def pool_geometry(op, x_shape, kernel_size, stride, padding):
    """Validated (kh, kw, sh, sw, ph, pw) of a pooling window over an input of ``x_shape``."""
    if len(x_shape) != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got shape {tuple(x_shape)}")
    (kh, kw) = pair(kernel_size, "kernel_size", op)
    (sh, sw) = (kh, kw) if stride is None else pair(stride, "stride", op)
    (ph, pw) = pair(padding, "padding", op)
    if min(kh, kw) <= 0:
        raise ValueError(f"{op}: kernel_size must be positive, got {(kh, kw)}")
    if min(sh, sw) <= 0:
        raise ValueError(f"{op}: stride must be positive, got {(sh, sw)}")
    if min(ph, pw) < 0 or 2 * ph > kh or 2 * pw > kw:
        raise ValueError(f"{op}: padding {(ph, pw)} must be between 0 and half the kernel size {(kh, kw)}")
    h, w = x_shape[2:]
    if kh > h + 2 * ph or kw > w + 2 * pw:
        raise ValueError(f"{op}: kernel {(kh, kw)} is larger than the padded input "
                         f"{(h + 2 * ph, w + 2 * pw)} (input shape {tuple(x_shape)}, padding {(ph, pw)})")
    return kh, kw, sh, sw, ph, pw


class MaxPool2d(Function):
    """y = the maximum of each window; dx routes each gy to its window's argmax."""

    def __init__(self, kernel_size, stride=None, padding=0):
        self.options = (kernel_size, stride, padding)

    def forward(self, x):
        self.geo = pool_geometry("max_pool2d", x.shape, *self.options)
        self.x_shape = x.shape
        x = get_array_module(x).ascontiguousarray(x)
        y, self.argmax = registry.lookup("maxpool2d_forward", device_of(x))(x, *self.geo)
        return y

    def backward(self, gy):
        gy = get_array_module(gy).ascontiguousarray(gy)
        return registry.lookup("maxpool2d_backward", device_of(gy))(gy, self.argmax, self.x_shape, *self.geo)


class AvgPool2d(Function):
    """y = the mean of each window; dx spreads gy / D over the window."""

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad=True):
        self.options = (kernel_size, stride, padding)
        self.count_include_pad = bool(count_include_pad)

    def forward(self, x):
        self.geo = pool_geometry("avg_pool2d", x.shape, *self.options)
        self.x_shape = x.shape
        x = get_array_module(x).ascontiguousarray(x)
        return registry.lookup("avgpool2d_forward", device_of(x))(x, *self.geo, self.count_include_pad)

    def backward(self, gy):
        gy = get_array_module(gy).ascontiguousarray(gy)
        return registry.lookup("avgpool2d_backward", device_of(gy))(gy, self.x_shape, *self.geo,
                                                                     self.count_include_pad)
