"""Image data sets: the bundled digits, local MNIST and CIFAR-10 files, synthetic shapes.

Each loader returns ``(x_train, y_train), (x_test, y_test)`` as NumPy arrays:
``x`` float32 in [0, 1] shaped (N, C, H, W) (``channels_last=True`` gives
Keras' (N, H, W, C); ``dtype="uint8"`` gives pixels 0..255 instead) and ``y``
int64 class indices. Nothing here downloads: MNIST and CIFAR-10 are read from
local files, and a missing file raises FileNotFoundError naming what is
expected.

The bundled ``digits.npz`` is the UCI ML "Optical Recognition of Handwritten
Digits" data set (E. Alpaydin and C. Kaynak, 1998; UCI Machine Learning
Repository, https://doi.org/10.24432/C50P49), licensed CC BY 4.0, in the 8x8
form that scikit-learn ships: 1,797 images with pixel values 0..16.
"""
import gzip
import os

import numpy as np

from . import safe_pickle

__all__ = ["load_digits", "load_mnist", "load_cifar10", "make_shapes", "SHAPE_NAMES", "stratified_split", "read_idx"]

_DIGITS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits.npz")


def finish(x, y, dtype="float32", channels_last=False):
    """NCHW uint8 (0..255) or float ([0, 1]) images -> the requested dtype and layout; y -> int64."""
    if dtype not in ("float32", "uint8", np.float32, np.uint8):
        raise ValueError(f"dtype must be 'float32' or 'uint8', got {dtype!r}")
    want_uint8 = np.dtype(dtype) == np.uint8
    if want_uint8 and x.dtype != np.uint8:
        x = np.round(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)
    elif not want_uint8:
        x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32, copy=False)
    if channels_last:
        x = x.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), np.asarray(y, dtype=np.int64)


def stratified_split(labels, test_fraction):
    """Deterministic stratified split: within each class (in data order) sample k goes to the
    test set when floor((k + 1) * f) > floor(k * f): evenly spread, floor(n_c * f) per
    class. Returns (train_indices, test_indices), each in data order."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    test = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = np.arange(len(idx))
        test[idx] = np.floor((k + 1) * test_fraction + 1e-9) > np.floor(k * test_fraction + 1e-9)
    return np.flatnonzero(~test), np.flatnonzero(test)


def load_digits(size=8, test_fraction=0.2, channels_last=False, dtype="float32"):
    """The bundled UCI 8x8 handwritten digits (1,797 images, 10 classes), offline.

    Pixels 0..16 are scaled to [0, 1]; ``size`` other than 8 (e.g. 28 for
    MNIST-shaped or 32 for CIFAR-shaped models) resamples bilinearly
    (``scipy.ndimage.zoom``, order 1, corners aligned). The split is fixed and
    stratified (:func:`stratified_split`, 20% test: 1,442 train / 355 test).
    Returns ``(x_train, y_train), (x_test, y_test)``, x (N, 1, size, size).
    """
    if not isinstance(size, (int, np.integer)) or size < 2:
        raise ValueError(f"load_digits: size must be an integer >= 2, got {size!r}")
    with np.load(_DIGITS, allow_pickle=False) as f:
        images, labels = f["images"], f["labels"]
    x = images.astype(np.float32)[:, None] / 16.0
    if size != 8:
        from scipy import ndimage
        x = np.clip(ndimage.zoom(x, (1, 1, size / 8.0, size / 8.0), order=1), 0.0, 1.0)
    train, test = stratified_split(labels, test_fraction)
    return (finish(x[train], labels[train], dtype, channels_last),
            finish(x[test], labels[test], dtype, channels_last))


def _find(path, names):
    """The first existing file among ``names`` (each tried plain and with .gz) under ``path``, or None."""
    for name in names:
        for candidate in (name, name + ".gz"):
            full = os.path.join(path, candidate)
            if os.path.isfile(full):
                return full
    return None


def _open(file):
    return gzip.open(file, "rb") if file.endswith(".gz") else open(file, "rb")


def read_idx(file, ndim):
    """An IDX file of unsigned bytes (the MNIST format): magic 0x0000080<ndim>, then ``ndim``
    big-endian uint32 sizes, then exactly prod(sizes) bytes."""
    with _open(file) as f:
        raw = f.read()
    if len(raw) < 4 + 4 * ndim:
        raise ValueError(f"read_idx: {file} is too short ({len(raw)} bytes) for an IDX header")
    magic = raw[:4]
    if magic[:2] != b"\x00\x00" or magic[2] != 0x08 or magic[3] != ndim:
        raise ValueError(f"read_idx: {file} has magic number 0x{magic.hex()}, expected 0x000008{ndim:02x} "
                         f"(unsigned bytes, {ndim} dims); is it an IDX file of the right kind?")
    shape = tuple(int(v) for v in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    body = raw[4 + 4 * ndim:]
    if len(body) != int(np.prod(shape)):
        raise ValueError(f"read_idx: {file} header says shape {shape} ({int(np.prod(shape))} bytes) but "
                         f"holds {len(body)} data bytes (truncated or corrupt)")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                "t10k-labels-idx1-ubyte")


def _mnist_files(path):
    """The four IDX files (plain or .gz; Kaggle's '.idx3-ubyte' spelling too), or FileNotFoundError."""
    found = {name: _find(path, [name, name.replace("-idx", ".idx")]) for name in _MNIST_FILES}
    missing = [name for name, file in found.items() if file is None]
    if missing or not os.path.isdir(path):
        raise FileNotFoundError(f"load_mnist: {path!r} lacks {missing}; expected the IDX files "
                                f"{list(_MNIST_FILES)} there, each plain or .gz (nothing is downloaded)")
    return found


def _mnist_part(files, prefix):
    images = read_idx(files[f"{prefix}-images-idx3-ubyte"], 3)
    labels = read_idx(files[f"{prefix}-labels-idx1-ubyte"], 1)
    if len(images) != len(labels):
        raise ValueError(f"load_mnist: {prefix} has {len(images)} images but {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise ValueError(f"load_mnist: {prefix} labels must be 0..9, found {labels.max()}")
    return images[:, None], labels


def load_mnist(path, channels_last=False, dtype="float32"):
    """MNIST (or Fashion-MNIST) from local IDX files in the folder ``path``:
    train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
    t10k-labels-idx1-ubyte, each plain or .gz. A Keras-style ``mnist.npz``
    (x_train, y_train, x_test, y_test) given as ``path`` is read too. x is
    (N, 1, 28, 28) float32 in [0, 1]."""
    path = os.fspath(path)
    if path.endswith(".npz"):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"load_mnist: {path!r} does not exist (expected an npz with "
                                    f"x_train, y_train, x_test, y_test)")
        with np.load(path, allow_pickle=False) as f:
            parts = [(f[f"x_{s}"][:, None], f[f"y_{s}"]) for s in ("train", "test")]
    else:
        files = _mnist_files(path)
        parts = [_mnist_part(files, "train"), _mnist_part(files, "t10k")]
    return tuple(finish(x, y, dtype, channels_last) for x, y in parts)


def _cifar_batch(file):
    with open(file, "rb") as f:
        batch = safe_pickle.safe_load(f, source=f"load_cifar10: {file}")
    if not isinstance(batch, dict):
        raise ValueError(f"load_cifar10: {file} holds a {type(batch).__name__}, expected a dict")
    get = {(k.decode() if isinstance(k, bytes) else k): v for k, v in batch.items()}
    if "data" not in get or "labels" not in get:
        raise ValueError(f"load_cifar10: {file} lacks 'data' or 'labels' (keys {sorted(get)})")
    data, labels = get["data"], np.asarray(get["labels"])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"load_cifar10: {file}: 'data' must be a uint8 array of shape (N, 3072), got "
                         f"{getattr(data, 'dtype', type(data).__name__)} {getattr(data, 'shape', '')}")
    if labels.shape != (len(data),) or labels.dtype.kind not in "iu" or (labels.size and labels.max() > 9):
        raise ValueError(f"load_cifar10: {file}: 'labels' must be {len(data)} integers in 0..9")
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar10(path, channels_last=False, dtype="float32"):
    """CIFAR-10 from the python version's folder ``cifar-10-batches-py`` (or its parent):
    data_batch_1..5 for training and test_batch, parsed with a restricted unpickler
    (:mod:`~tinygrad_img.data.safe_pickle`) that never runs code from the file.
    x is (N, 3, 32, 32) float32 in [0, 1]."""
    path = os.fspath(path)
    if os.path.isdir(os.path.join(path, "cifar-10-batches-py")):
        path = os.path.join(path, "cifar-10-batches-py")
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    missing = [n for n in names if not os.path.isfile(os.path.join(path, n))]
    if missing:
        raise FileNotFoundError(f"load_cifar10: {path!r} lacks {missing}; expected the python version's "
                                f"files {names} (nothing is downloaded)")
    train = [_cifar_batch(os.path.join(path, n)) for n in names[:5]]
    x_test, y_test = _cifar_batch(os.path.join(path, "test_batch"))
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return finish(x_train, y_train, dtype, channels_last), finish(x_test, y_test, dtype, channels_last)


def _masks():
    """Shape membership tests in coordinates normalised by the shape's radius."""
    def mx(dy, dx):
        return np.maximum(np.abs(dy), np.abs(dx))
    return {
        "circle": lambda dy, dx: dy * dy + dx * dx <= 1.0,
        "square": lambda dy, dx: mx(dy, dx) <= 0.8,
        "triangle": lambda dy, dx: (dy <= 0.8) & (np.abs(dx) <= 0.55 * (dy + 0.9)),
        "diamond": lambda dy, dx: np.abs(dy) + np.abs(dx) <= 1.0,
        "plus": lambda dy, dx: (np.minimum(np.abs(dy), np.abs(dx)) <= 0.3) & (mx(dy, dx) <= 1.0),
        "ring": lambda dy, dx: (dy * dy + dx * dx <= 1.0) & (dy * dy + dx * dx >= 0.3),
        "frame": lambda dy, dx: (mx(dy, dx) <= 0.85) & (mx(dy, dx) >= 0.5),
        "hbar": lambda dy, dx: (np.abs(dy) <= 0.35) & (np.abs(dx) <= 1.0),
        "vbar": lambda dy, dx: (np.abs(dx) <= 0.35) & (np.abs(dy) <= 1.0),
        "x": lambda dy, dx: (np.abs(np.abs(dy) - np.abs(dx)) <= 0.3) & (mx(dy, dx) <= 0.9),
    }


SHAPE_NAMES = tuple(_masks())


def make_shapes(n=2000, size=32, seed=0, n_classes=10, test_fraction=0.2, channels_last=False,
                dtype="float32"):
    """A synthetic RGB image set: one filled shape per image on a plain background.

    Classes (``SHAPE_NAMES`` order): circle, square, triangle (the 3-class set),
    then diamond, plus, ring, frame, hbar, vbar, x. Each image has a random radius
    (0.25..0.4 of ``size``), position (inside the frame), bright shape colour
    (each channel 0.55..1), dark background (0..0.35) and N(0, 0.03) pixel noise.
    Labels are balanced (n // n_classes or one more each); the split is stratified.
    Deterministic for a given ``seed``.
    """
    if n_classes not in (3, 10):
        raise ValueError(f"make_shapes: n_classes must be 3 or 10, got {n_classes}")
    if size < 8 or n < 2 * n_classes:
        raise ValueError(f"make_shapes: need size >= 8 and n >= {2 * n_classes}, got size={size}, n={n}")
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    rng.shuffle(y)
    r = rng.uniform(0.25, 0.4, n) * size
    cy, cx = (rng.uniform(r, size - 1 - r) for _ in range(2))
    grid = np.arange(size, dtype=np.float64)
    dy = (grid[None, :, None] - cy[:, None, None]) / r[:, None, None]
    dx = (grid[None, None, :] - cx[:, None, None]) / r[:, None, None]
    dy, dx = np.broadcast_arrays(dy, dx)
    mask = np.zeros((n, size, size), dtype=bool)
    for k, test in enumerate(list(_masks().values())[:n_classes]):
        sel = y == k
        mask[sel] = test(dy[sel], dx[sel])
    fg = rng.uniform(0.55, 1.0, (n, 3, 1, 1))
    bg = rng.uniform(0.0, 0.35, (n, 3, 1, 1))
    x = np.where(mask[:, None], fg, bg) + rng.normal(0.0, 0.03, (n, 3, size, size))
    x = np.clip(x, 0.0, 1.0).astype(np.float32)
    train, test = stratified_split(y, test_fraction)
    return (finish(x[train], y[train], dtype, channels_last),
            finish(x[test], y[test], dtype, channels_last))
