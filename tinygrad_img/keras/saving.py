"""save / load_model: one ``.safetensors`` file holding the weights as tensors and the
architecture + compile settings as JSON in its metadata (no pickle anywhere).

The optimiser's moment estimates are not stored: a loaded model resumes
training with fresh optimiser state, its learning rate and settings restored.
"""
import json
import os

import safetensors.numpy
from safetensors import safe_open

from ..io import atomic_write, storable_array
from . import losses, optimizers

__all__ = ["save_model", "load_model", "save_weights", "load_weights"]

_KEY = "tinygrad_img.keras"


def _atomic_save(tensors, path, metadata):
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    payload = safetensors.numpy.save({k: storable_array(v) for k, v in tensors.items()}, metadata=metadata)
    atomic_write(path, lambda f: f.write(payload))


def _read(path):
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load_model: no such file {path!r}")
    try:
        with safe_open(path, framework="np") as f:
            return f.metadata() or {}, {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:
        if isinstance(e, (FileNotFoundError, PermissionError)):
            raise
        raise ValueError(f"load_model: {path!r} is not a safetensors file ({e})") from None


def save_model(model, path):
    config = {"model": model.get_config(), "compile": model.compile_config()}
    _atomic_save(model.get_weights_dict(), path, {_KEY: json.dumps(config)})


def load_model(path, compile=True):
    """Rebuild a model written by ``model.save(path)``, weights and (optionally) compile settings."""
    from .model import Sequential
    metadata, tensors = _read(path)
    if _KEY not in metadata:
        raise ValueError(f"load_model: {os.fspath(path)!r} holds weights but no model architecture "
                         f"(use model.load_weights for files written by save_weights)")
    config = json.loads(metadata[_KEY])
    model = Sequential.from_config(config["model"])
    if not model.built:
        raise ValueError("load_model: the saved model has no input shape, so its weights cannot be placed")
    model.set_weights_dict(tensors)
    spec = config.get("compile")
    if compile and spec:
        loss_class = getattr(losses, spec["loss"]["class_name"])
        model.compile(optimizer=optimizers.get(spec["optimizer"]["class_name"], spec["optimizer"]["config"]),
                      loss=loss_class(**spec["loss"]["config"]), metrics=spec["metrics"])
    return model


def save_weights(model, path):
    _atomic_save(model.get_weights_dict(), path, {"format": "tinygrad_img.keras.weights"})


def load_weights(model, path):
    model.set_weights_dict(_read(path)[1])
