"""A Keras-style front end: ``from tinygrad_img.keras import Sequential, layers``.

Channels-last images, ``compile``/``fit``/``evaluate``/``predict``,
``save``/``models.load_model`` (one safetensors file), callbacks and the local
data sets, so the articles' Keras programs run with only their imports changed.
"""
from . import callbacks, datasets, layers, losses, metrics, models, optimizers, regularizers, utils
from .layers_core import Input
from .model import Sequential
from .saving import load_model

__all__ = ["Sequential", "Input", "load_model", "callbacks", "datasets", "layers", "losses", "metrics",
           "models", "optimizers", "regularizers", "utils"]
