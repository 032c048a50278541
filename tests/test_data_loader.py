"""Dataset, TensorDataset, DataLoader and random_split: ordering, batching, shuffling, devices."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinygrad_img as tg
from tinygrad_img.data import DataLoader, Dataset, Subset, TensorDataset, random_split


def _data(n=10):
    x = np.arange(n * 4, dtype=np.float32).reshape(n, 1, 2, 2)
    y = np.arange(n, dtype=np.uint8) % 3
    return x, y


def _ids(loader):
    """The sample ids of one epoch, read back from the images (x[i, 0, 0, 0] == 4 * i)."""
    return [(xb.numpy()[:, 0, 0, 0] // 4).astype(int).tolist() for xb, _ in loader]


class _NoItemAccess(TensorDataset):
    def __getitem__(self, index):
        raise AssertionError("the loader must gather batches, not index samples one by one")


class _ListDataset(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.full((2, 3), i, dtype=np.float64), i


def test_tensor_dataset_indexing_and_length_check():
    x, y = _data()
    ds = TensorDataset(x, tg.Tensor(y))
    assert len(ds) == 10
    xi, yi = ds[3]
    np.testing.assert_array_equal(xi, x[3])
    assert yi == y[3]
    with pytest.raises(ValueError, match=r"differ in length.*\[10, 9\]"):
        TensorDataset(x, y[:9])
    with pytest.raises(ValueError):
        TensorDataset()


def test_sequential_order_batches_and_last_partial_batch():
    x, y = _data(10)
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    assert len(loader) == 3
    batches = list(loader)
    assert [b[0].shape[0] for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b[0].numpy() for b in batches]), x)
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in batches]), y)


def test_dtypes_labels_int64_images_float32():
    x, y = _data()
    xb, yb = next(iter(DataLoader(TensorDataset(x.astype(np.float64), y), batch_size=5)))
    assert isinstance(xb, tg.Tensor) and isinstance(yb, tg.Tensor)
    assert xb.dtype == np.float32 and yb.dtype == np.int64
    assert xb.device == "cpu" and yb.device == "cpu"
    u8, _ = next(iter(DataLoader(TensorDataset(x.astype(np.uint8), y), batch_size=5)))
    assert u8.dtype == np.uint8


def test_drop_last():
    x, y = _data(10)
    loader = DataLoader(TensorDataset(x, y), batch_size=4, drop_last=True, shuffle=True, seed=1)
    assert len(loader) == 2
    sizes = [b[0].shape[0] for b in loader]
    assert sizes == [4, 4]
    assert len(DataLoader(TensorDataset(x, y), batch_size=5, drop_last=True)) == 2


def test_shuffle_reproducible_with_seed_and_new_order_each_epoch():
    x, y = _data(50)
    a = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, seed=7)
    b = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, seed=7)
    epochs_a = [_ids(a) for _ in range(3)]
    epochs_b = [_ids(b) for _ in range(3)]
    assert epochs_a == epochs_b
    flat = [sum(e, []) for e in epochs_a]
    for f in flat:
        assert sorted(f) == list(range(50))
    assert flat[0] != flat[1] and flat[1] != flat[2]
    assert flat[0] != list(range(50))
    other = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, seed=8)
    assert sum(_ids(other), []) != flat[0]


def test_shuffle_reproducible_with_manual_seed():
    x, y = _data(40)
    tg.manual_seed(123)
    first = _ids(DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True))
    tg.manual_seed(123)
    second = _ids(DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True))
    assert first == second
    assert sorted(sum(first, [])) == list(range(40))


def test_labels_follow_their_images_when_shuffled():
    x, y = _data(30)
    for xb, yb in DataLoader(TensorDataset(x, y), batch_size=7, shuffle=True, seed=0):
        ids = (xb.numpy()[:, 0, 0, 0] // 4).astype(int)
        np.testing.assert_array_equal(yb.numpy(), y[ids])


def test_array_backed_dataset_is_gathered_in_one_index():
    x, y = _data(12)
    batches = list(DataLoader(_NoItemAccess(x, y), batch_size=5, shuffle=True, seed=0))
    assert sum(b[0].shape[0] for b in batches) == 12


def test_generic_dataset_stacks_samples():
    loader = DataLoader(_ListDataset(5), batch_size=2)
    batches = list(loader)
    xb, yb = batches[0]
    assert xb.shape == (2, 2, 3) and xb.dtype == np.float32
    assert yb.dtype == np.int64 and yb.tolist() == [0, 1]
    assert batches[-1][1].tolist() == [4]
    pairs = [(np.array([i, i], dtype=np.float32), i) for i in range(3)]
    xb, yb = next(iter(DataLoader(pairs, batch_size=3)))
    assert xb.tolist() == [[0, 0], [1, 1], [2, 2]] and yb.tolist() == [0, 1, 2]


def test_transform_applies_to_images_only():
    x, y = _data(6)
    loader = DataLoader(TensorDataset(x, y), batch_size=3, transform=lambda a: a * 0 + 1)
    for xb, yb in loader:
        assert np.all(xb.numpy() == 1)
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in loader]), y)


def test_transform_pipeline_on_uint8_nhwc():
    from tinygrad_img.data import transforms as T
    imgs = np.random.default_rng(0).integers(0, 256, (6, 5, 5, 1), dtype=np.uint8)
    labels = np.arange(6)
    aug = T.Compose([T.ToTensor(), T.Normalize(0.5, 0.5)])
    xb, _ = next(iter(DataLoader(TensorDataset(imgs, labels), batch_size=6, transform=aug)))
    assert xb.shape == (6, 1, 5, 5) and xb.dtype == np.float32
    np.testing.assert_allclose(xb.numpy(), (imgs.transpose(0, 3, 1, 2) / 255.0 - 0.5) / 0.5, atol=1e-6)


def test_bad_arguments():
    x, y = _data()
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(TensorDataset(x, y), batch_size=0)
    with pytest.raises(TypeError, match="transform"):
        DataLoader(TensorDataset(x, y), transform=3)
    with pytest.raises(ValueError, match="unknown device"):
        DataLoader(TensorDataset(x, y), device="tpu")


def test_arrays_accepted_directly():
    x, y = _data(4)
    batches = list(DataLoader((x, y), batch_size=4))
    assert len(batches) == 1 and batches[0][1].dtype == np.int64


def test_random_split_counts_fractions_and_reproducibility():
    x, y = _data(10)
    ds = TensorDataset(x, y)
    a, b = random_split(ds, [7, 3], seed=0)
    assert (len(a), len(b)) == (7, 3)
    assert sorted(np.concatenate([a.indices, b.indices]).tolist()) == list(range(10))
    a2, _ = random_split(ds, [7, 3], seed=0)
    np.testing.assert_array_equal(a.indices, a2.indices)
    parts = random_split(ds, [0.5, 0.3, 0.2], seed=1)
    assert [len(p) for p in parts] == [5, 3, 2]
    parts = random_split(TensorDataset(*_data(11)), [0.5, 0.5], seed=1)
    assert [len(p) for p in parts] == [6, 5]
    with pytest.raises(ValueError, match="sum to 9"):
        random_split(ds, [6, 3])
    with pytest.raises(ValueError, match="not 1"):
        random_split(ds, [0.5, 0.4])


def test_subset_batches_through_parent_fast_path():
    x, y = _data(12)
    sub = Subset(_NoItemAccess(x, y), [11, 3, 5])
    xb, yb = next(iter(DataLoader(sub, batch_size=3)))
    assert (xb.numpy()[:, 0, 0, 0] // 4).astype(int).tolist() == [11, 3, 5]
    np.testing.assert_array_equal(yb.numpy(), y[[11, 3, 5]])


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 40), bs=st.integers(1, 12), shuffle=st.booleans(), drop_last=st.booleans())
def test_every_epoch_visits_each_sample_at_most_once(n, bs, shuffle, drop_last):
    x, y = _data(n)
    loader = DataLoader(TensorDataset(x, y), batch_size=bs, shuffle=shuffle, drop_last=drop_last, seed=3)
    ids = _ids(loader)
    assert len(ids) == len(loader)
    flat = sum(ids, [])
    assert len(set(flat)) == len(flat)
    assert len(flat) == (n // bs * bs if drop_last else n)
    assert all(len(b) == bs for b in ids[:-1])


@pytest.mark.gpu
def test_loader_yields_cuda_tensors_and_transforms_on_gpu():
    from tinygrad_img.data import transforms as T
    x, y = _data(9)
    loader = DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True, seed=0, device="cuda",
                        transform=T.RandomHorizontalFlip(1.0))
    seen = []
    for xb, yb in loader:
        assert xb.device == "cuda" and yb.device == "cuda" and yb.dtype == np.int64
        ids = (xb.numpy()[:, 0, 0, 1] // 4).astype(int)
        np.testing.assert_array_equal(xb.numpy(), x[ids][..., ::-1])
        seen += ids.tolist()
    assert sorted(seen) == list(range(9))
    ds = TensorDataset(tg.Tensor(x, device="cuda"), tg.Tensor(y, device="cuda"))
    xb, _ = next(iter(DataLoader(ds, batch_size=9, shuffle=True, seed=0, device="cuda")))
    assert sorted((xb.numpy()[:, 0, 0, 0] // 4).astype(int).tolist()) == list(range(9))


class _ShortSampler:
    """Claims 6 indices but yields 3 (len() and iteration disagree)."""

    def __len__(self):
        return 6

    def __iter__(self):
        return iter([2, 0, 1])


def test_sampler_must_yield_integer_indices():
    x, y = _data(5)
    for bad in (np.array([0.0, 2.7, 1.0]), [0.0, 2.7]):
        with pytest.raises(TypeError, match="DataLoader: the sampler must yield integer dataset indices, "
                                            "got dtype float"):
            list(DataLoader((x, y), sampler=bad))
    mask = np.array([True, False, True, False, True])
    with pytest.raises(TypeError, match=r"got dtype bool; for a boolean mask pass np.flatnonzero\(mask\)"):
        DataLoader((x, y), sampler=mask)
    with pytest.raises(TypeError, match="got dtype bool"):
        list(DataLoader((x, y), sampler=mask.tolist()))
    ids = _ids(DataLoader((x, y), batch_size=2, sampler=np.flatnonzero(mask)))
    assert ids == [[0, 2], [4]]
    assert _ids(DataLoader((x, y), batch_size=2, sampler=np.array([3, 1], dtype=np.uint8))) == [[3, 1]]


def test_batches_cover_exactly_the_indices_the_sampler_yields():
    x, y = _data(5)
    loader = DataLoader((x, y), batch_size=2, sampler=_ShortSampler())
    assert len(loader) == 3                                   # what the sampler claims
    batches = _ids(loader)
    assert batches == [[2, 0], [1]]                           # no empty trailing batch
    assert _ids(DataLoader((x, y), batch_size=2, drop_last=True, sampler=_ShortSampler())) == [[2, 0]]
    assert _ids(DataLoader((x, y), sampler=[])) == []
