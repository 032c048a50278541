"""Devices: errors without a GPU, the default device, TINYGRAD_IMG_DEVICE, and GPU round trips."""
import os
import subprocess
import sys

import numpy as np
import pytest

import tinygrad_img as tg
from tinygrad_img import backend

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
needs_no_gpu = pytest.mark.skipif(tg.cuda_available(), reason="checks the error raised when no GPU is usable")


@pytest.fixture
def restore_default_device():
    saved = backend._default_device
    yield
    backend._default_device = saved


def _run(code, **env):
    full_env = dict(os.environ, PYTHONPATH=ROOT, **env)
    return subprocess.run([sys.executable, "-c", code], env=full_env, capture_output=True, text=True, timeout=120)


@needs_no_gpu
@pytest.mark.parametrize("make", [
    lambda: tg.zeros(2, device="cuda"),
    lambda: tg.tensor([1.0], device="cuda"),
    lambda: tg.randn(2, device="cuda:0"),
    lambda: tg.tensor([1.0]).cuda(),
    lambda: tg.tensor([1.0]).to("cuda"),
    lambda: tg.set_default_device("cuda"),
])
def test_cuda_without_gpu_says_what_is_missing_and_how_to_fix(make, restore_default_device):
    with pytest.raises(RuntimeError) as info:
        make()
    msg = str(info.value)
    assert "cuda" in msg and ("CuPy" in msg or "GPU" in msg)
    assert "pip install" in msg or "device='cpu'" in msg


@needs_no_gpu
def test_cuda_available_is_false_without_gpu():
    assert tg.cuda_available() is False


def test_unknown_device_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        tg.zeros(2, device="tpu")
    with pytest.raises(ValueError, match="unknown device"):
        tg.tensor([1.0]).to("tpu")


def test_set_default_device_cpu(restore_default_device):
    tg.set_default_device("cpu")
    assert tg.get_default_device() == "cpu"
    t = tg.ones(2)
    assert t.device == "cpu" and isinstance(t.data, np.ndarray)
    with pytest.raises(ValueError, match="unknown device"):
        tg.set_default_device("metal")
    assert tg.get_default_device() == "cpu"


def test_env_var_cpu_is_honoured():
    r = _run("import tinygrad_img as tg; print(tg.get_default_device(), tg.zeros(1).device)",
             TINYGRAD_IMG_DEVICE="cpu")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["cpu", "cpu"]


def test_env_var_unknown_device_names_the_variable():
    r = _run("import tinygrad_img as tg; tg.zeros(1)", TINYGRAD_IMG_DEVICE="tpu")
    assert r.returncode != 0
    assert "unknown device 'tpu'" in r.stderr and "TINYGRAD_IMG_DEVICE" in r.stderr


@needs_no_gpu
def test_env_var_cuda_without_gpu_raises_clear_error():
    r = _run("import tinygrad_img as tg; tg.zeros(1)", TINYGRAD_IMG_DEVICE="cuda")
    assert r.returncode != 0
    assert "RuntimeError" in r.stderr and "TINYGRAD_IMG_DEVICE" in r.stderr
    assert "CuPy" in r.stderr or "GPU" in r.stderr


def test_get_array_module_and_device_of_numpy():
    a = np.zeros(3)
    assert backend.get_array_module(a) is np and tg.get_array_module(a, a) is np
    assert backend.device_of(a) == "cpu"


def test_to_cpu_returns_self_and_numpy_is_host_array():
    t = tg.tensor([1.0, 2.0])
    assert t.to("cpu") is t and t.cpu() is t
    assert isinstance(t.numpy(), np.ndarray)


@pytest.mark.gpu
def test_cuda_round_trip_keeps_values_dtype_and_gradient():
    import cupy
    x = tg.tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True)
    g = x.cuda()
    assert g.device == "cuda" and isinstance(g.data, cupy.ndarray) and g.dtype == np.float32
    y = (g * g).sum() + g.relu().sum()
    y.backward()
    assert x.grad.device == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() + (x.numpy() > 0))
    back = g.cpu()
    assert back.device == "cpu"
    np.testing.assert_array_equal(back.numpy(), x.numpy())


@pytest.mark.gpu
def test_mixing_cpu_and_cuda_in_one_op_raises():
    a = tg.ones(3)
    b = tg.ones(3, device="cuda")
    with pytest.raises(RuntimeError, match="different devices"):
        a + b
    with pytest.raises(RuntimeError, match="different devices"):
        tg.matmul(a.reshape(1, 3), b.reshape(3, 1))


@pytest.mark.gpu
def test_default_device_cuda_places_factories_on_gpu(restore_default_device):
    tg.set_default_device("cuda")
    assert tg.zeros(2).device == "cuda" and tg.randn(2).device == "cuda" and tg.tensor([1.0]).device == "cuda"
