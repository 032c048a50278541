"""float64 convolution oracle built on kernels/reference.py, for the CUDA kernel tests."""
import numpy as np

from tinygrad_img.kernels import cuda_launch, reference


def conv_reference(x, w, gy, stride, padding, dilation, groups):
    """(y, gx, gw) of y = conv2d(x, w) (no bias) and the gradients for upstream ``gy``, in float64:
    per group g, y_g = W_g col_g, gW_g = gy_g col_g^T, gx = col2im(W_g^T gy_g)."""
    g = cuda_launch.conv_geometry("oracle", x.shape, w.shape, stride, padding, dilation, groups)
    opts = (g.KH, g.KW, g.SH, g.SW, g.PH, g.PW, g.DH, g.DW)
    col = reference.im2col(np.asarray(x, np.float64), *opts).reshape(g.G, -1, g.N * g.OH * g.OW)
    wg = np.asarray(w, np.float64).reshape(g.G, g.O // g.G, -1)
    y = np.matmul(wg, col).reshape(g.O, g.N, g.OH, g.OW).transpose(1, 0, 2, 3)
    if gy is None:
        return y, None, None
    gy_g = np.asarray(gy, np.float64).transpose(1, 0, 2, 3).reshape(g.G, g.O // g.G, -1)
    gw = np.matmul(gy_g, col.transpose(0, 2, 1)).reshape(w.shape)
    gcol = np.matmul(wg.transpose(0, 2, 1), gy_g).reshape(g.C, g.KH, g.KW, g.N, g.OH, g.OW)
    return y, reference.col2im(gcol, x.shape, *opts), gw
