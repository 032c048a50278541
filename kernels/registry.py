"""Kernel registry: one name, one implementation per backend.

Backends are "reference" (plain NumPy, the oracle), "numba" (CPU) and "cuda"
(raw CUDA through CuPy). ``lookup(name, device)`` picks the fastest backend
registered for the device; ``use(backend)`` forces one (tests compare them).

Contract of the names used by the conv and pool ops (all arrays contiguous,
kh/kw the kernel, sh/sw stride, ph/pw padding, dh/dw dilation):

- ``im2col(x, kh, kw, sh, sw, ph, pw, dh, dw) -> col``
  x (N, C, H, W) -> col (C, kh, kw, N, OH, OW), col[c, i, j, n, y, x] =
  x_padded[n, c, y*sh + i*dh, x*sw + j*dw].
- ``col2im(col, x_shape, kh, kw, sh, sw, ph, pw, dh, dw) -> gx`` the adjoint
  (sums every column entry back onto its pixel; each parallel unit owns the pixels it writes, so
  no two units add into the same memory).
- ``maxpool2d_forward(x, kh, kw, sh, sw, ph, pw) -> (y, argmax)``; argmax int64
  holds the winner's flat index h*W + w in its (n, c) plane; padding is -inf.
- ``maxpool2d_backward(gy, argmax, x_shape, kh, kw, sh, sw, ph, pw) -> gx``
- ``avgpool2d_forward(x, kh, kw, sh, sw, ph, pw, count_include_pad) -> y``
- ``avgpool2d_backward(gy, x_shape, kh, kw, sh, sw, ph, pw, count_include_pad) -> gx``
- optional direct convolutions (a device registers them when it has them):
  ``conv2d_forward(x, w, b, stride, padding, dilation, groups, relu=False) -> y``,
  ``conv2d_backward_data(gy, w, x_shape, stride, padding, dilation, groups) -> gx``,
  ``conv2d_backward_weight(gy, x, w_shape, stride, padding, dilation, groups) -> gw``
  (stride/padding/dilation are (h, w) pairs).
- optional depthwise kernels (groups == C, w (C*m, 1, kh, kw); the ops fall back to
  ``xp`` shift-and-add without them): ``depthwise_conv2d_forward(x, w, kh, kw, sh, sw,
  ph, pw, dh, dw) -> y``, ``depthwise_conv2d_backward_data(gy, w, x_shape, ...) -> gx``,
  ``depthwise_conv2d_backward_weight(gy, x, w_shape, ...) -> gw`` (same trailing args).
"""
import contextlib

_DEVICE_BACKENDS = {"cpu": ("numba", "reference"), "cuda": ("cuda",)}
_kernels = {}
_forced = None


def register(name, backend):
    """Decorator: ``@register("im2col", "numba")``."""
    def deco(fn):
        _kernels[(name, backend)] = fn
        return fn
    return deco


_loaded = set()


def _load_backends(device):
    # Importing a backend module registers its kernels; done once per device (lookup is on every op call).
    if device in _loaded:
        return
    if device == "cpu":
        from ..host_memory import keep_freed_memory
        from . import cpu_numba, reference  # noqa: F401
        keep_freed_memory()
    elif device == "cuda":
        from . import cuda  # noqa: F401
    _loaded.add(device)


def lookup(name, device, required=True):
    """The kernel ``name`` for ``device`` (None when absent and not ``required``)."""
    _load_backends(device)
    order = _DEVICE_BACKENDS[device]
    if _forced is not None and device == "cpu":
        order = (_forced,)
    for backend in order:
        fn = _kernels.get((name, backend))
        if fn is not None:
            return fn
    if required:
        raise NotImplementedError(f"no kernel {name!r} registered for device {device!r} "
                                  f"(backends tried: {', '.join(order)})")
    return None


def get(name, backend):
    """The kernel ``name`` of one backend, for tests and benchmarks."""
    _load_backends("cuda" if backend == "cuda" else "cpu")
    try:
        return _kernels[(name, backend)]
    except KeyError:
        raise NotImplementedError(f"backend {backend!r} has no kernel {name!r}") from None


@contextlib.contextmanager
def use(backend):
    """Force a CPU backend ("reference" or "numba") inside the block."""
    global _forced
    if backend not in ("reference", "numba"):
        raise ValueError(f"use: unknown CPU backend {backend!r}; expected 'reference' or 'numba'")
    prev, _forced = _forced, backend
    try:
        yield
    finally:
        _forced = prev
