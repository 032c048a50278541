"""Data sets: bundled digits, MNIST IDX and CIFAR-10 readers (tiny files written here), make_shapes."""
import gzip
import os
import pickle
import struct

import numpy as np
import pytest

import tinygrad_img as tg
import tinygrad_img.functional as F
from tinygrad_img.data import datasets
from tinygrad_img.data.safe_pickle import safe_load


# ----- digits

def test_digits_shapes_values_and_split():
    (x, y), (xt, yt) = datasets.load_digits()
    assert x.shape == (1442, 1, 8, 8) and xt.shape == (355, 1, 8, 8)
    assert x.dtype == np.float32 and y.dtype == np.int64 and yt.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0 and xt.min() >= 0.0 and xt.max() <= 1.0
    np.testing.assert_allclose(np.unique(x * 16), np.arange(17))
    per_class = np.bincount(y, minlength=10) + np.bincount(yt, minlength=10)
    assert per_class.sum() == 1797
    np.testing.assert_array_equal(np.bincount(yt, minlength=10), np.floor(per_class * 0.2).astype(int))
    (x2, y2), (xt2, yt2) = datasets.load_digits()
    np.testing.assert_array_equal(xt, xt2)
    np.testing.assert_array_equal(y, y2)


def test_digits_split_is_disjoint_and_complete():
    train, test = datasets.stratified_split(np.repeat(np.arange(4), 10), 0.3)
    assert len(np.intersect1d(train, test)) == 0
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(40))
    assert np.bincount(np.repeat(np.arange(4), 10)[test]).tolist() == [3, 3, 3, 3]


def test_digits_resampled_and_layouts():
    (x8, _), _ = datasets.load_digits()
    (x, y), (xt, _) = datasets.load_digits(size=28)
    assert x.shape == (1442, 1, 28, 28) and xt.shape == (355, 1, 28, 28) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_allclose(x[:, 0, 0, 0], x8[:, 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(x[:, 0, -1, -1], x8[:, 0, -1, -1], atol=1e-6)
    np.testing.assert_allclose(x.mean(axis=(1, 2, 3)), x8.mean(axis=(1, 2, 3)), atol=0.06)
    (xl, _), _ = datasets.load_digits(size=32, channels_last=True)
    assert xl.shape == (1442, 32, 32, 1)
    (xu, _), _ = datasets.load_digits(dtype="uint8")
    assert xu.dtype == np.uint8 and xu.max() == 255
    with pytest.raises(ValueError, match="size"):
        datasets.load_digits(size=0)


def test_mlp_learns_digits_via_loader():
    (x, y), (xt, yt) = datasets.load_digits()
    rng = np.random.default_rng(0)
    w1 = tg.Tensor(rng.normal(0, 0.125, (64, 64)), requires_grad=True)
    w2 = tg.Tensor(rng.normal(0, 0.125, (64, 10)), requires_grad=True)
    b1, b2 = tg.zeros(64, requires_grad=True), tg.zeros(10, requires_grad=True)
    params = (w1, b1, w2, b2)
    loader = tg.data.DataLoader(tg.data.TensorDataset(x.reshape(len(x), -1), y), batch_size=32,
                                shuffle=True, seed=0)
    for _ in range(30):
        for xb, yb in loader:
            loss = F.cross_entropy((xb @ w1 + b1).relu() @ w2 + b2, yb)
            for p in params:
                p.grad = None
            loss.backward()
            for p in params:
                p.data -= 0.2 * p.grad.data
    pred = ((tg.Tensor(xt.reshape(len(xt), -1)) @ w1 + b1).relu() @ w2 + b2).numpy().argmax(1)
    assert (pred == yt).mean() >= 0.95


# ----- MNIST

def _idx(data, magic=None):
    data = np.asarray(data, dtype=np.uint8)
    magic = magic if magic is not None else 0x0800 | data.ndim
    return struct.pack(">I", magic) + struct.pack(f">{data.ndim}I", *data.shape) + data.tobytes()


def _write_mnist(folder, gz, n_train=5, n_test=3):
    rng = np.random.default_rng(1)
    parts = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        parts[prefix] = (imgs, labels)
        for kind, arr in (("images-idx3", imgs), ("labels-idx1", labels)):
            name = os.path.join(folder, f"{prefix}-{kind}-ubyte" + (".gz" if gz else ""))
            with (gzip.open if gz else open)(name, "wb") as f:
                f.write(_idx(arr))
    return parts


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reader(tmp_path, gz):
    parts = _write_mnist(tmp_path, gz)
    (x, y), (xt, yt) = datasets.load_mnist(tmp_path)
    assert x.shape == (5, 1, 28, 28) and xt.shape == (3, 1, 28, 28) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, 0], parts["train"][0] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, parts["train"][1])
    np.testing.assert_array_equal(yt, parts["t10k"][1])
    assert y.dtype == np.int64
    (xr, _), _ = datasets.load_mnist(str(tmp_path), channels_last=True, dtype="uint8")
    np.testing.assert_array_equal(xr[..., 0], parts["train"][0])


def test_mnist_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        datasets.load_mnist(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        datasets.load_mnist(tmp_path)
    _write_mnist(tmp_path, gz=False)
    bad = tmp_path / "train-images-idx3-ubyte"
    bad.write_bytes(_idx(np.zeros((5, 28, 28)), magic=0x0801))
    with pytest.raises(ValueError, match="magic number 0x00000801"):
        datasets.load_mnist(tmp_path)
    bad.write_bytes(_idx(np.zeros((5, 28, 28)))[:-10])
    with pytest.raises(ValueError, match="truncated"):
        datasets.load_mnist(tmp_path)
    bad.write_bytes(_idx(np.zeros((4, 28, 28))))
    with pytest.raises(ValueError, match="4 images but 5 labels"):
        datasets.load_mnist(tmp_path)
    bad.write_bytes(b"\x00\x00")
    with pytest.raises(ValueError, match="too short"):
        datasets.load_mnist(tmp_path)


def test_mnist_npz(tmp_path):
    rng = np.random.default_rng(0)
    arrays = dict(x_train=rng.integers(0, 256, (4, 28, 28), dtype=np.uint8), y_train=np.arange(4),
                  x_test=rng.integers(0, 256, (2, 28, 28), dtype=np.uint8), y_test=np.arange(2))
    np.savez(tmp_path / "mnist.npz", **arrays)
    (x, y), (xt, yt) = datasets.load_mnist(tmp_path / "mnist.npz")
    assert x.shape == (4, 1, 28, 28) and yt.tolist() == [0, 1]


# ----- CIFAR-10

def _cifar_batch(n, seed, label_key=b"labels", protocol=2):
    rng = np.random.default_rng(seed)
    batch = {b"batch_label": b"testing batch", label_key: rng.integers(0, 10, n).tolist(),
             b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
             b"filenames": [f"img_{i}.png".encode() for i in range(n)]}
    return batch, pickle.dumps(batch, protocol=protocol)


def _write_cifar(folder, protocol=2):
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        batch, raw = _cifar_batch(3 + i, i, protocol=protocol)
        (folder / name).write_bytes(raw)
        batches[name] = batch
    return batches


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_cifar_reader(tmp_path, protocol):
    batches = _write_cifar(tmp_path / "cifar-10-batches-py", protocol)
    (x, y), (xt, yt) = datasets.load_cifar10(tmp_path)
    assert x.shape == (3 + 4 + 5 + 6 + 7, 3, 32, 32) and xt.shape == (8, 3, 32, 32)
    first = batches["data_batch_1"]
    np.testing.assert_allclose(x[:3], first[b"data"].reshape(3, 3, 32, 32) / 255.0, rtol=1e-6)
    assert y[:3].tolist() == first[b"labels"] and y.dtype == np.int64
    assert yt.tolist() == batches["test_batch"][b"labels"]
    (xl, _), _ = datasets.load_cifar10(tmp_path / "cifar-10-batches-py", channels_last=True, dtype="uint8")
    np.testing.assert_array_equal(xl[0], first[b"data"][0].reshape(3, 32, 32).transpose(1, 2, 0))


class _Py2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 ``str`` opcodes (SHORT_BINSTRING/BINSTRING), like the real CIFAR files."""
    dispatch = pickle._Pickler.dispatch.copy()

    def save_bytes(self, obj):
        n = len(obj)
        head = pickle.SHORT_BINSTRING + bytes([n]) if n < 256 else pickle.BINSTRING + struct.pack("<i", n)
        self.write(head + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes


def test_cifar_python2_style_batch_with_numpy1_names(tmp_path):
    import io
    batches = _write_cifar(tmp_path)
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(batches["data_batch_2"])
    raw = buf.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in raw and pickle.SHORT_BINSTRING + bytes([4]) + b"data" in raw
    (tmp_path / "data_batch_2").write_bytes(raw)
    (x, y), _ = datasets.load_cifar10(tmp_path, dtype="uint8")
    np.testing.assert_array_equal(x[3:7].reshape(4, -1), batches["data_batch_2"][b"data"])
    assert y[3:7].tolist() == batches["data_batch_2"][b"labels"]


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_cifar_pickle_is_rejected_without_running(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar(folder)
    marker = tmp_path / "pwned"
    payload = pickle.dumps({b"data": _Evil(marker), b"labels": [0]}, protocol=2)
    (folder / "data_batch_3").write_bytes(payload)
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load global '(posix|os)\.system'"):
        datasets.load_cifar10(folder)
    assert not marker.exists(), "the pickled os.system call ran"
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(_Evil(control)))
    assert control.exists(), "the payload is live: plain pickle.loads runs it"


@pytest.mark.parametrize("obj", [print, eval, np.save, struct.pack], ids=lambda f: f.__name__)
def test_restricted_unpickler_rejects_any_other_global(tmp_path, obj):
    import io
    with pytest.raises(pickle.UnpicklingError, match="refusing to load global"):
        safe_load(io.BytesIO(pickle.dumps({"f": obj})), source="t")
    zlib_call = b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x04\x00\x00\x00zlib\x86R."
    with pytest.raises(pickle.UnpicklingError, match="only as"):
        safe_load(io.BytesIO(zlib_call), source="t")
    with pytest.raises(pickle.UnpicklingError, match="object arrays"):
        safe_load(io.BytesIO(pickle.dumps(np.array([1, "a"], dtype=object))), source="t")


def test_cifar_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="data_batch_1"):
        datasets.load_cifar10(tmp_path)
    batches = _write_cifar(tmp_path)
    bad = dict(batches["test_batch"])
    bad[b"data"] = bad[b"data"][:, :100]
    (tmp_path / "test_batch").write_bytes(pickle.dumps(bad))
    with pytest.raises(ValueError, match=r"shape \(N, 3072\)"):
        datasets.load_cifar10(tmp_path)
    (tmp_path / "test_batch").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(ValueError, match="expected a dict"):
        datasets.load_cifar10(tmp_path)


# ----- make_shapes

def test_make_shapes_balanced_deterministic():
    (x, y), (xt, yt) = datasets.make_shapes(n=300, size=16, seed=3)
    assert x.shape == (240, 3, 16, 16) and xt.shape == (60, 3, 16, 16) and x.dtype == np.float32
    assert np.bincount(y).tolist() == [24] * 10 and np.bincount(yt).tolist() == [6] * 10
    assert 0.0 <= x.min() and x.max() <= 1.0
    (x2, y2), _ = datasets.make_shapes(n=300, size=16, seed=3)
    np.testing.assert_array_equal(x, x2)
    (x3, _), _ = datasets.make_shapes(n=300, size=16, seed=4)
    assert not np.array_equal(x, x3)
    (x4, y4), _ = datasets.make_shapes(n=31, size=8, n_classes=3, channels_last=True)
    assert x4.shape[1:] == (8, 8, 3) and set(y4.tolist()) == {0, 1, 2}
    with pytest.raises(ValueError, match="n_classes"):
        datasets.make_shapes(n_classes=5)


def test_make_shapes_area_order_and_learnable():
    (x, y), (xt, yt) = datasets.make_shapes(n=900, size=16, n_classes=3, seed=1)

    def fg_fraction(a):  # share of pixels brighter than the image's mid-level
        g = a.mean(1)
        mid = (g.min(axis=(1, 2)) + g.max(axis=(1, 2))) / 2
        return (g > mid[:, None, None]).reshape(len(a), -1)

    area = fg_fraction(x).mean(1)
    means = [area[y == k].mean() for k in range(3)]
    assert means[0] > means[1] > means[2], "circle > square > triangle in area for equal radii"
    feats, feats_t = fg_fraction(x).astype(np.float32), fg_fraction(xt).astype(np.float32)
    rng = np.random.default_rng(0)
    w1 = tg.Tensor(rng.normal(0, 1 / 16, (256, 64)), requires_grad=True)
    w2 = tg.Tensor(rng.normal(0, 1 / 8, (64, 3)), requires_grad=True)
    loader = tg.data.DataLoader((feats, y), batch_size=32, shuffle=True, seed=0)
    for _ in range(20):
        for xb, yb in loader:
            loss = F.cross_entropy((xb @ w1).relu() @ w2, yb)
            w1.grad = w2.grad = None
            loss.backward()
            for p in (w1, w2):
                p.data -= 0.2 * p.grad.data
    acc = (((tg.Tensor(feats_t) @ w1).relu() @ w2).numpy().argmax(1) == yt).mean()
    assert acc >= 0.85
