"""Checkpoints without pickle: ``tg.save(obj, path)`` and ``tg.load(path)``.

``obj`` is a dict, possibly nested (e.g. ``{"model": model.state_dict(),
"optim": opt.state_dict(), "epoch": 3}``), whose leaves are Tensors, arrays,
numbers, strings, None, or lists/tuples of those. Arrays are stored under
their path joined with "/" (``"model/fc.weight"``, ``"optim/state/0/exp_avg"``)
in a ``.safetensors`` file (the ``safetensors`` NumPy API) or a ``.npz`` zip
of ``.npy`` members (read back with ``allow_pickle=False``). Everything else
goes into a JSON description of the tree (safetensors metadata, or a uint8
member of the npz), so the exact nesting, int keys, tuples and empty dicts
come back.

Writes are atomic: the bytes go to a temp file in the target's folder, are
fsynced, and only then replace the target (``os.replace``), so a crash leaves
either the old file or the new one, never a mix or a stray temp file.
"""
import contextlib
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping

import numpy as np

from . import backend
from .tensor import Tensor

__all__ = ["save", "load"]

_META = "__tinygrad_img__"
_FORMATS = (".safetensors", ".npz")


def _format(path, op):
    path = os.fspath(path)
    for ext in _FORMATS:
        if path.endswith(ext):
            return path, ext
    raise ValueError(f"{op}: {path!r} must end in .safetensors or .npz (pickle is never used)")


def storable_array(x):
    """A contiguous host array of a Tensor or array as a checkpoint stores it: numeric dtypes only,
    shape kept (0-d stays 0-d)."""
    arr = backend.to_device(x.data if isinstance(x, Tensor) else x, "cpu")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"save: arrays of dtype {arr.dtype} cannot be stored")
    return np.ascontiguousarray(arr).reshape(arr.shape)  # ascontiguousarray makes 0-d arrays 1-d


def _flatten(obj, prefix, arrays):
    """The JSON tree of ``obj``; arrays go into ``arrays`` under their '/'-joined path."""
    if isinstance(obj, Mapping):
        node, int_keys = {}, []
        for k, v in obj.items():
            if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
                int_keys.append(str(int(k)))
            elif not isinstance(k, str):
                raise TypeError(f"save: dict keys must be str or int, got {k!r} under {prefix or 'the top level'!r}")
            k = str(int(k)) if not isinstance(k, str) else k
            if not k or "/" in k or "\x00" in k or k == _META:  # a zip member name ends at NUL
                raise ValueError(f"save: key {k!r} under {prefix or 'the top level'!r} is empty, contains "
                                 f"'/' or NUL, or is reserved")
            node[k] = _flatten(v, f"{prefix}/{k}" if prefix else k, arrays)
        return {"d": node, "int_keys": int_keys} if int_keys else {"d": node}
    if isinstance(obj, (list, tuple)):
        items = [_flatten(v, f"{prefix}/{i}" if prefix else str(i), arrays) for i, v in enumerate(obj)]
        return {"l": items, "tuple": isinstance(obj, tuple)}
    if isinstance(obj, Tensor) or hasattr(obj, "__array_interface__") or backend.is_cupy_array(obj):
        if isinstance(obj, np.generic):
            return {"v": obj.item()}
        arrays[prefix] = storable_array(obj)
        return {"a": prefix}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"v": obj}
    raise TypeError(f"save: cannot store a {type(obj).__name__} at {prefix!r} "
                    "(use tensors, arrays, numbers, strings, None, lists or dicts)")


def _unflatten(node, arrays, path):
    if "d" in node:
        ints = set(node.get("int_keys", ()))
        return {(int(k) if k in ints else k): _unflatten(v, arrays, path) for k, v in node["d"].items()}
    if "l" in node:
        items = [_unflatten(v, arrays, path) for v in node["l"]]
        return tuple(items) if node.get("tuple") else items
    if "a" in node:
        if node["a"] not in arrays:
            raise ValueError(f"load: {path} is damaged: array {node['a']!r} is listed but missing")
        return arrays[node["a"]]
    if "v" in node:
        return node["v"]
    raise ValueError(f"load: {path} has an unreadable description entry {node!r}")


def _nest(arrays):
    """A file written by another program: split its keys on '/' into nested dicts."""
    out = {}
    for key, arr in arrays.items():
        *parents, leaf = key.split("/")
        d = out
        for p in parents:
            d = d.setdefault(p, {})
            if not isinstance(d, dict):
                raise ValueError(f"load: key {key!r} nests under an array")
        d[leaf] = arr
    return out


def atomic_write(path, write):
    """Call ``write(f)`` on a temp file beside ``path``, fsync it, then rename it over ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable (not possible on every OS)
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _write_npz(f, arrays):
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, arr in arrays.items():
            with zf.open(key + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, arr, allow_pickle=False)


def save(obj, path):
    """Write the nested dict ``obj`` to ``path`` (.safetensors or .npz) atomically."""
    path, ext = _format(path, "save")
    if not isinstance(obj, Mapping):
        raise TypeError(f"save: expected a dict (e.g. a state_dict), got {type(obj).__name__}")
    arrays = {}
    tree = _flatten(obj, "", arrays)
    meta = json.dumps({"format": "tinygrad_img", "version": 1, "tree": tree})
    if ext == ".safetensors":
        import safetensors.numpy
        payload = safetensors.numpy.save(arrays, metadata={_META: meta})
        atomic_write(path, lambda f: f.write(payload))
    else:
        arrays[_META] = np.frombuffer(meta.encode("utf-8"), dtype=np.uint8)
        atomic_write(path, lambda f: _write_npz(f, arrays))


def _read(path, ext):
    if ext == ".safetensors":
        from safetensors import safe_open
        with safe_open(path, framework="np") as f:
            meta = (f.metadata() or {}).get(_META)
            return {k: f.get_tensor(k) for k in f.keys()}, meta
    with np.load(path, allow_pickle=False) as z:
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive")
        arrays = {k: z[k] for k in z.files}
    meta = arrays.pop(_META, None)
    return arrays, None if meta is None else meta.tobytes().decode("utf-8")


def load(path, device=None):
    """Read a checkpoint written by :func:`save` (or any .safetensors / pickle-free .npz file).

    Returns the nested dict with NumPy arrays as leaves, or Tensors on
    ``device`` when one is given. A truncated, corrupted or foreign file raises
    ``ValueError`` naming the file; nothing is returned half-read.
    """
    path, ext = _format(path, "load")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load: no checkpoint file at {path!r}")
    try:
        arrays, meta = _read(path, ext)
        if meta is not None:
            info = json.loads(meta)
            if not isinstance(info, dict) or info.get("format") != "tinygrad_img":
                raise ValueError("unknown description entry")
    except Exception as e:
        raise ValueError(f"load: {path!r} is not a readable {ext} checkpoint (truncated, corrupted or "
                         f"foreign file): {type(e).__name__}: {e}") from e
    if device is not None:
        arrays = {k: Tensor(a, dtype=a.dtype, device=device) for k, a in arrays.items()}
    return _nest(arrays) if meta is None else _unflatten(info["tree"], arrays, path)
