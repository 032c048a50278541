"""The flat-loop Numba kernels read and write only inside their arrays.

Several kernels (same-width and row-stepping im2col, separable and global avg-pool, max-pool
rows, fused 3x3 depthwise) run long loops over many rows and rely on clamped ranges to stay inside the arrays at the first and
last planes; an overrun there reads neighbouring memory whose values are then masked or
recomputed, so the parity tests cannot see it. Here the kernels run in a fresh process with
Numba's bounds checking on (and an empty cache, so that they are compiled with it), where any
out-of-range index raises IndexError.
"""
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import numpy as np
    from tinygrad_img.kernels import get
    from tinygrad_img.kernels.geometry import out_size

    rng = np.random.default_rng(0)
    # shifted im2col (stride 1 same width, stride 2 on phase planes) / col2im: taps whose block
    # starts before the first plane or ends past the last
    for shape, geo in [((1, 1, 1, 1), (3, 3, 1, 1, 1, 1, 1, 1)), ((2, 3, 5, 7), (3, 3, 1, 1, 1, 1, 1, 1)),
                       ((3, 2, 6, 4), (5, 5, 1, 1, 2, 2, 1, 1)), ((1, 2, 2, 3), (4, 5, 1, 1, 1, 2, 1, 1)),
                       ((2, 1, 3, 2), (7, 7, 1, 1, 3, 3, 1, 1)), ((1, 2, 2, 2), (3, 3, 2, 2, 1, 1, 1, 1)),
                       ((1, 2, 8, 8), (7, 7, 2, 2, 3, 3, 1, 1)), ((2, 2, 6, 10), (3, 5, 2, 2, 2, 4, 2, 2)),
                       # the row-stepping general im2col: valid, strided, dilated, taps with no valid row
                       ((2, 3, 6, 5), (3, 3, 1, 1, 0, 0, 1, 1)), ((2, 2, 7, 6), (3, 2, 3, 2, 1, 1, 1, 1)),
                       ((1, 2, 4, 8), (1, 1, 2, 2, 0, 0, 1, 1)), ((2, 1, 2, 1), (5, 5, 1, 3, 2, 2, 1, 1)),
                       ((1, 2, 9, 7), (3, 3, 2, 1, 2, 1, 2, 3))]:
        x = rng.standard_normal(shape).astype(np.float32)
        col = get("im2col", "numba")(x, *geo)
        get("col2im", "numba")(col, shape, *geo)
    # average pooling, both directions, flat and per-row paths, rows 1 and 2 pixels wide
    for shape, geo in [((2, 3, 8, 8), (3, 3, 2, 2, 1, 1)), ((1, 2, 1, 2), (3, 3, 2, 2, 1, 1)),
                       ((2, 2, 3, 1), (3, 3, 1, 1, 1, 1)), ((1, 1, 1, 2), (2, 2, 2, 2, 0, 0)),
                       ((2, 3, 6, 9), (3, 3, 1, 1, 1, 1)), ((2, 2, 7, 7), (3, 3, 2, 2, 1, 1)),
                       ((2, 3, 7, 7), (7, 7, 7, 7, 0, 0)), ((2, 3, 7, 9), (2, 2, 2, 2, 0, 0))]:
        x = rng.standard_normal(shape).astype(np.float32)
        y = get("avgpool2d_forward", "numba")(x, *geo, True)
        get("avgpool2d_backward", "numba")(y, shape, *geo, False)
    # max pooling's row kernel (output rows >= ROW_KERNEL_MIN_WIDTH wide), strides 1-3, padding
    for shape, geo in [((2, 3, 5, 40), (3, 3, 2, 2, 1, 1)), ((1, 2, 7, 50), (2, 3, 3, 3, 1, 1)),
                       ((1, 2, 9, 20), (5, 5, 1, 1, 2, 2))]:
        x = rng.standard_normal(shape).astype(np.float32)
        get("maxpool2d_forward", "numba")(x, *geo)
    # fused 3x3 depthwise, every padding, planes down to 1x1, filter multiplier 2
    for shape, (ph, pw) in [((2, 2, 1, 1), (1, 1)), ((1, 2, 2, 5), (0, 2)), ((2, 2, 6, 6), (2, 0)),
                            ((1, 1, 3, 3), (0, 0)), ((1, 2, 3, 1), (1, 2))]:
        geo = (3, 3, 1, 1, ph, pw, 1, 1)
        x = rng.standard_normal(shape).astype(np.float32)
        w = rng.standard_normal((2 * shape[1], 1, 3, 3)).astype(np.float32)
        y = get("depthwise_conv2d_forward", "numba")(x, w, *geo)
        get("depthwise_conv2d_backward_data", "numba")(y, w, shape, *geo)
        get("depthwise_conv2d_backward_weight", "numba")(y, x, w.shape, *geo)
    print("in bounds")
""")


def test_flat_kernels_stay_in_bounds(tmp_path):
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "in bounds" in done.stdout
