"""Depthwise convolution (groups == C): each channel convolved with its own m filters.

y[n, c*m + k] = sum_{i,j} W[c*m + k, 0, i, j] x_pad[n, c, y*sh + i*dh, x*sw + j*dw].
Its per-group GEMMs would be (m x kh*kw) thin, so it runs instead through the
device's ``depthwise_conv2d_*`` kernels (Numba on the CPU) or, where a device
has none, as kh*kw shifted multiply-adds over whole ``xp`` slices.
"""
from ..backend import device_of, get_array_module
from ..kernels import registry
from ..kernels.geometry import window


def applies(x_shape, w_shape, groups):
    """True for a depthwise convolution: one input channel per group, more than one group."""
    return groups > 1 and groups == x_shape[1] and w_shape[1] == 1


def _shifts(geo, oh, ow):
    for i in range(geo.kh):
        for j in range(geo.kw):
            yield i, j, (window(i * geo.dh, geo.sh, oh), window(j * geo.dw, geo.sw, ow))


def _kernel(name, a):
    return registry.lookup("depthwise_conv2d_" + name, device_of(a), required=False)


def _pad(xp, x, geo):
    return xp.pad(x, ((0, 0), (0, 0), (geo.ph, geo.ph), (geo.pw, geo.pw)))


def forward(x, w, geo):
    """y = sum over the kh*kw taps of W[:, :, i, j] times the shifted, strided slice of x_pad."""
    if _kernel("forward", x) is not None:
        return _kernel("forward", x)(x, w, *geo.args)
    xp = get_array_module(x)
    n, c, h, wd = x.shape
    m = w.shape[0] // c
    oh, ow = geo.out_hw(h, wd)
    padded = _pad(xp, x, geo)[:, :, None]
    wk = w.reshape(1, c, m, geo.kh, geo.kw, 1, 1)
    y = xp.zeros((n, c, m, oh, ow), dtype=x.dtype)
    for i, j, (rows, cols) in _shifts(geo, oh, ow):
        y += padded[..., rows, cols] * wk[:, :, :, i, j]
    return y.reshape(n, c * m, oh, ow)


def backward_data(gy, w, x_shape, geo):
    """dx_pad[shifted slice (i, j)] += sum over the multiplier m of W[c*m + k, 0, i, j] gy; then crop."""
    if _kernel("backward_data", gy) is not None:
        return _kernel("backward_data", gy)(gy, w, tuple(x_shape), *geo.args)
    xp = get_array_module(gy)
    n, c, h, wd = x_shape
    m = w.shape[0] // c
    oh, ow = gy.shape[2:]
    g5 = gy.reshape(n, c, m, oh, ow)
    wk = w.reshape(1, c, m, geo.kh, geo.kw, 1, 1)
    padded = xp.zeros((n, c, h + 2 * geo.ph, wd + 2 * geo.pw), dtype=gy.dtype)
    for i, j, (rows, cols) in _shifts(geo, oh, ow):
        padded[:, :, rows, cols] += (g5 * wk[:, :, :, i, j]).sum(axis=2)
    return xp.ascontiguousarray(padded[:, :, geo.ph:geo.ph + h, geo.pw:geo.pw + wd])


def backward_weight(gy, x, w_shape, geo):
    """dW[c*m + k, 0, i, j] = sum over n, y, x of gy[n, c*m + k] x_pad[shifted slice (i, j)]."""
    if _kernel("backward_weight", x) is not None:
        return _kernel("backward_weight", x)(gy, x, tuple(w_shape), *geo.args)
    xp = get_array_module(x)
    n, c = x.shape[:2]
    m = w_shape[0] // c
    oh, ow = gy.shape[2:]
    g5 = gy.reshape(n, c, m, oh, ow)
    padded = _pad(xp, x, geo)
    gw = xp.empty((c, m, geo.kh, geo.kw), dtype=x.dtype)
    for i, j, (rows, cols) in _shifts(geo, oh, ow):
        gw[:, :, i, j] = xp.einsum("ncmyx,ncyx->cm", g5, padded[:, :, rows, cols])
    return gw.reshape(w_shape)
