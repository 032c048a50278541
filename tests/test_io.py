"""Checkpoints: round trips in both formats, atomic writes, damaged and foreign files."""
import os
import tempfile

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_img as tg
from tinygrad_img import io, nn, optim

FORMATS = [".safetensors", ".npz"]


def _checkpoint():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
    model(tg.randn(5, 3)).sum().backward()
    opt.step()
    return model, opt, {"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 7,
                        "history": {"loss": [0.5, 0.25], "best": None}, "name": "seed-cnn",
                        "shape": (2, 3), "counts": np.arange(4, dtype=np.int64), "mask": np.array([True, False]),
                        "half": np.ones((2, 2), np.float16), "double": np.full((1,), 1 / 3), "empty": {}}


@pytest.mark.parametrize("ext", FORMATS)
def test_round_trip_keeps_structure_values_and_dtypes(tmp_path, ext):
    model, opt, ck = _checkpoint()
    path = tmp_path / f"ck{ext}"
    tg.save(ck, path)
    back = tg.load(path)
    assert back["epoch"] == 7 and back["name"] == "seed-cnn" and back["shape"] == (2, 3)
    assert back["history"] == {"loss": [0.5, 0.25], "best": None} and back["empty"] == {}
    assert set(back["optim"]["state"]) == {0, 1, 2, 3}            # int keys come back as ints
    assert back["optim"]["state"][0]["step"] == 1
    for key in ("counts", "mask", "half", "double"):
        assert back[key].dtype == ck[key].dtype
        np.testing.assert_array_equal(back[key], ck[key])
    for k, v in ck["model"].items():
        assert isinstance(back["model"][k], np.ndarray)
        np.testing.assert_array_equal(back["model"][k], v.numpy())
    as_tensors = tg.load(path, device="cpu")
    assert isinstance(as_tensors["model"]["0.weight"], tg.Tensor)


@pytest.mark.parametrize("ext", FORMATS)
def test_resume_model_and_optimizer(tmp_path, ext):
    model, opt, ck = _checkpoint()
    tg.save(ck, tmp_path / f"ck{ext}")
    back = tg.load(tmp_path / f"ck{ext}")
    model2 = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    model2.load_state_dict(back["model"])
    opt2 = optim.Adam(model2.parameters())
    opt2.load_state_dict(back["optim"])
    assert opt2.param_groups[0]["betas"] == (0.9, 0.999) and opt2.param_groups[0]["amsgrad"]
    x = tg.randn(6, 3)
    for m, o in ((model, opt), (model2, opt2)):
        o.zero_grad()
        m(x).sum().backward()
        o.step()
    for p, q in zip(model.parameters(), model2.parameters()):
        np.testing.assert_array_equal(p.data, q.data)


@pytest.mark.parametrize("ext,fail_in", [(".safetensors", "fsync"), (".safetensors", "replace"),
                                         (".npz", "fsync"), (".npz", "replace"), (".npz", "write_array")])
def test_crash_mid_write_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch, ext, fail_in):
    path = tmp_path / f"ck{ext}"
    tg.save({"w": np.ones(3, np.float32)}, path)
    old = path.read_bytes()
    calls = []

    def boom(*a, **k):
        calls.append(1)
        if len(calls) == 2 or fail_in != "write_array":   # the npz writer dies after one member
            raise OSError("disk full (simulated)")
        return real(*a, **k)
    target = io.np.lib.format if fail_in == "write_array" else io.os
    real = getattr(target, fail_in)
    monkeypatch.setattr(target, fail_in, boom)
    with pytest.raises(OSError, match="simulated"):
        tg.save({"w": np.zeros(1000, np.float32), "v": np.zeros(9)}, path)
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == [path.name]
    monkeypatch.undo()
    np.testing.assert_array_equal(tg.load(path)["w"], np.ones(3, np.float32))


@pytest.mark.parametrize("ext", FORMATS)
def test_truncated_and_foreign_files_raise_value_error(tmp_path, ext):
    path = tmp_path / f"ck{ext}"
    tg.save({"w": np.arange(1000, dtype=np.float32)}, path)
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 3, 5):
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="truncated"):
            tg.load(path)
    path.write_bytes(b"this is a text file, not a checkpoint\n" * 4)
    with pytest.raises(ValueError, match="not a readable"):
        tg.load(path)
    with pytest.raises(FileNotFoundError):
        tg.load(tmp_path / f"missing{ext}")


_keys = st.text(st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)), min_size=1, max_size=6)
_arrays = hnp.arrays(st.sampled_from([np.float32, np.float64, np.int64, np.uint8, np.bool_]),
                     hnp.array_shapes(min_dims=0, max_dims=3, max_side=3))
_scalars = st.none() | st.booleans() | st.integers(-2 ** 40, 2 ** 40) | st.floats(allow_nan=False) | _keys
_trees = st.recursive(_arrays | _scalars, lambda inner: st.dictionaries(_keys, inner, max_size=3)
                      | st.lists(inner, max_size=3), max_leaves=8)


def _assert_same(a, b):
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    else:
        assert type(a) is type(b) and a == b


@settings(max_examples=25, deadline=None)
@given(tree=st.dictionaries(_keys.filter(lambda k: k != "__tinygrad_img__"), _trees, max_size=4),
       ext=st.sampled_from(FORMATS))
def test_random_nested_trees_round_trip(tree, ext):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "ck" + ext)
        tg.save(tree, path)
        _assert_same(tree, tg.load(path))


def test_pickled_npz_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, obj=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="not a readable"):
        tg.load(path)


def test_foreign_safetensors_nest_on_slashes(tmp_path):
    import safetensors.numpy
    path = tmp_path / "other.safetensors"
    safetensors.numpy.save_file({"enc/conv.weight": np.ones((2, 2), np.float32), "head": np.zeros(1, np.int32)},
                                str(path))
    back = tg.load(path)
    assert set(back) == {"enc", "head"} and back["enc"]["conv.weight"].shape == (2, 2)


def test_save_rejects_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match=r"\.safetensors or \.npz"):
        tg.save({"w": np.ones(1)}, tmp_path / "ck.pt")
    with pytest.raises(TypeError, match="dict"):
        tg.save(np.ones(1), tmp_path / "ck.npz")
    with pytest.raises(ValueError, match="contains '/'"):
        tg.save({"a/b": np.ones(1)}, tmp_path / "ck.npz")
    with pytest.raises(ValueError, match="or NUL"):  # a zip member name would end at the NUL
        tg.save({"a\x00": np.ones(1)}, tmp_path / "ck.npz")
    with pytest.raises(TypeError, match="cannot store"):
        tg.save({"f": lambda: 0}, tmp_path / "ck.npz")
    assert os.listdir(tmp_path) == []


def test_checkpoint_with_wrong_shapes_never_partially_loads(tmp_path):
    small = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    other = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 5))
    tg.save(other.state_dict(), tmp_path / "other.safetensors")
    before = small[0].weight.numpy().copy()
    with pytest.raises(ValueError) as e:
        small.load_state_dict(tg.load(tmp_path / "other.safetensors"))
    assert "1.weight" in str(e.value) and "1.bias" in str(e.value) and "0.weight" not in str(e.value)
    np.testing.assert_array_equal(small[0].weight.numpy(), before)


@pytest.mark.gpu
@pytest.mark.parametrize("ext", FORMATS)
def test_cuda_tensors_round_trip(tmp_path, ext):
    model = nn.Linear(3, 2).to("cuda")
    tg.save({"model": model.state_dict()}, tmp_path / f"ck{ext}")
    back = tg.load(tmp_path / f"ck{ext}", device="cuda")["model"]
    assert back["weight"].device == "cuda"
    np.testing.assert_array_equal(back["weight"].numpy(), model.weight.numpy())
