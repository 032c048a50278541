"""Sequential: a stack of Keras layers with shape inference, summary, weights and config.

Layers become child modules named as in Keras ("conv2d", "conv2d_1", "dense",
...), so the state dict reads "conv2d.kernel", "dense_1.bias", ... The input
shape comes from ``Input(shape=...)``, the first layer's ``input_shape=``,
``build((None, *shape))`` or the first batch the model sees.

Device: ``to(device)`` moves the built weights and is remembered, so layers
built later land there too; before any ``to``, new layers go to the device of
the first input Tensor (or CuPy array), else to ``tg.get_default_device()``.
"""
import numpy as np

from ..backend import check_device, get_default_device
from ..data.dataset import as_array
from ..nn.module import Module
from ..tensor import Tensor
from .layer import Layer
from .layers_core import Embedding, Input
from .training import TrainingMixin

__all__ = ["Sequential"]


class Sequential(TrainingMixin, Module):
    """``Sequential([layer, ...], name=None)``; ``add(layer)`` appends."""

    def __init__(self, layers=None, name=None):
        super().__init__()
        self.name = name or "sequential"
        self.layer_list = []
        self.sample_shape = None
        self.built = False
        self.compiled = False
        self.stop_training = False
        self.history = None
        self.target_device = None
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self):
        return list(self.layer_list)

    def _unique_name(self, base):
        taken = {layer.name for layer in self.layer_list}
        if base not in taken:
            return base
        i = 1
        while f"{base}_{i}" in taken:
            i += 1
        return f"{base}_{i}"

    def add(self, layer):
        """Append ``layer`` (or set the input shape with an ``Input``); builds it when shapes are known."""
        if isinstance(layer, Input):
            if self.layer_list:
                raise ValueError("Sequential.add: an Input must come before every layer")
            self.sample_shape = layer.input_shape
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a keras layer, got {type(layer).__name__}")
        if layer.name is None:
            layer.name = self._unique_name(layer.default_name())
        elif layer.name in {lay.name for lay in self.layer_list}:
            raise ValueError(f"Sequential.add: a layer named {layer.name!r} is already in the model")
        if not self.layer_list and self.sample_shape is None and layer.input_shape_arg is not None:
            self.sample_shape = layer.input_shape_arg
        self.layer_list.append(layer)
        self.add_module(layer.name, layer)
        if self.sample_shape is not None:
            self._build_layers(self.sample_shape)

    def pop(self):
        """Remove and return the last layer."""
        if not self.layer_list:
            raise ValueError("Sequential.pop: the model has no layers")
        layer = self.layer_list.pop()
        del self._modules[layer.name]
        return layer

    def to(self, device=None, dtype=None):
        """Move every weight to ``device`` (and/or cast it); layers built later go there too."""
        if device is not None:
            self.target_device = check_device(device)
        return super().to(device, dtype)

    def _build_device(self, x=None):
        """Where new weights go: the device from ``to``, else that of input ``x``, else the default."""
        if self.target_device is not None:
            return self.target_device
        if isinstance(x, Tensor):
            return x.device
        if type(x).__module__.startswith("cupy"):
            return "cuda"
        return get_default_device()

    def _build_layers(self, sample_shape, x=None):
        shape = tuple(int(d) for d in sample_shape)
        device = self._build_device(x)
        for layer in self.layer_list:
            try:
                layer.output_shape = shape = layer.ensure_built(shape, device)
            except ValueError as e:
                raise ValueError(f"{layer.name} ({type(layer).__name__}): {e}") from None
        self.built = bool(self.layer_list)
        return shape

    def build(self, input_shape):
        """Create every weight for inputs of ``input_shape`` = (batch, ...) (batch may be None)."""
        self.sample_shape = tuple(input_shape[1:])
        self._build_layers(self.sample_shape)
        if self.compiled and self.optimizer.impl is None:
            self.optimizer.build(self.trainable_parameters())

    def _ensure_built(self, sample_shape, x=None):
        """Check the sample shape and build the layers for it (on ``_build_device(x)``)."""
        if not self.layer_list:
            raise ValueError("Sequential: the model has no layers")
        if self.sample_shape is None:
            self.sample_shape = tuple(sample_shape)
        if tuple(sample_shape) != tuple(self.sample_shape):
            raise ValueError(f"{self.name}: expected inputs of shape (N, {', '.join(map(str, self.sample_shape))})"
                             f" but got (N, {', '.join(map(str, sample_shape))})")
        if not self.built:
            self._build_layers(self.sample_shape, x)

    @property
    def input_shape(self):
        return None if self.sample_shape is None else (None, *self.sample_shape)

    @property
    def output_shape(self):
        return (None, *self.layer_list[-1].output_shape) if self.built else None

    def _device(self):
        if self.target_device is not None:
            return self.target_device
        for p in self.parameters():
            return p.device
        return get_default_device()

    def _tensor(self, x):
        """A batch as a Tensor on the model's device (integer pixels become float32)."""
        if isinstance(x, Tensor):
            return x
        x = as_array(x)
        if x.dtype.kind in "uib" and not isinstance(self.layer_list[0], Embedding):
            x = x.astype(np.float32)
        return Tensor(x, device=self._device())

    def forward(self, x, skip_final_activation=False):
        """The layers in order; ``skip_final_activation`` returns the last layer's pre-activation
        (its ``call`` run through the layer's forward hooks, so a hook there sees those logits)."""
        if not self.built:
            self._ensure_built(np.shape(x)[1:], x)
        x = self._tensor(x)
        last = len(self.layer_list) - 1
        for i, layer in enumerate(self.layer_list):
            x = layer._call_with_hooks(layer.call, x) if (skip_final_activation and i == last) else layer(x)
        return x

    def trainable_parameters(self):
        return [p for layer in self.layer_list if layer.trainable for p in layer.parameters()]

    def count_params(self):
        return sum(layer.count_params() for layer in self.layer_list)

    def summary(self, print_fn=None):
        """Print the Keras table: layer (type), output shape and parameter count, then the totals."""
        if not self.built:
            raise ValueError(f"{self.name}: the model has not been built yet; give the first layer an "
                             f"input_shape=, add an Input(shape=...), call build() or fit it on data first")
        print_fn = print_fn or print
        widths = (29, 26, 12)
        rule = "_" * sum(widths)
        row = lambda cols: "".join(str(c).ljust(w) for c, w in zip(cols, widths)).rstrip()  # noqa: E731
        lines = [f'Model: "{self.name}"', rule, row(["Layer (type)", "Output Shape", "Param #"]), "=" * sum(widths)]
        for i, layer in enumerate(self.layer_list):
            shape = "(" + ", ".join(["None"] + [str(d) for d in layer.output_shape]) + \
                ("," if not layer.output_shape else "") + ")"
            lines.append(row([f"{layer.name} ({type(layer).__name__})", shape, f"{layer.count_params():,}"]))
            lines.append(rule if i < len(self.layer_list) - 1 else "=" * sum(widths))
        total = self.count_params()
        trainable = sum(layer.trainable_count() for layer in self.layer_list)
        lines += [f"Total params: {total:,}", f"Trainable params: {trainable:,}",
                  f"Non-trainable params: {total - trainable:,}", rule]
        for line in lines:
            print_fn(line)

    # ----- weights and config
    def get_weights_dict(self):
        """name -> NumPy array (a copy) for every weight, trainable or not."""
        return {k: np.array(v.numpy()) for k, v in self.state_dict().items()}

    def set_weights_dict(self, weights):
        self.load_state_dict(weights, strict=True)

    def get_weights(self):
        """Every weight as a list of NumPy arrays, layer by layer (Keras order)."""
        return list(self.get_weights_dict().values())

    def set_weights(self, weights):
        keys = list(self.state_dict())
        if len(weights) != len(keys):
            raise ValueError(f"set_weights: the model has {len(keys)} weights, got {len(weights)}")
        self.load_state_dict(dict(zip(keys, weights)))

    def get_config(self):
        return {"name": self.name, "input_shape": None if self.sample_shape is None else list(self.sample_shape),
                "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()}
                           for layer in self.layer_list]}

    @classmethod
    def from_config(cls, config):
        from . import layers as layer_classes
        built = []
        for spec in config["layers"]:
            klass = getattr(layer_classes, spec["class_name"], None)
            if not (isinstance(klass, type) and issubclass(klass, Layer)):
                raise ValueError(f"unknown layer class {spec['class_name']!r} in the model config")
            built.append(klass(**spec["config"]))
        model = cls(built, name=config.get("name"))
        if config.get("input_shape") is not None and not model.built:
            model.build((None, *config["input_shape"]))
        return model

    def save(self, filepath):
        """Write architecture, compile settings and weights to ONE safetensors file (atomically)."""
        from .saving import save_model
        save_model(self, filepath)

    def save_weights(self, filepath):
        from .saving import save_weights
        save_weights(self, filepath)

    def load_weights(self, filepath):
        from .saving import load_weights
        load_weights(self, filepath)

    def extra_repr(self):
        return f"name={self.name!r}"
