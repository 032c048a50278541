"""Every example program runs end to end in its quick (smoke-test) mode."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = sorted(f for f in os.listdir(os.path.join(ROOT, "examples")) if f.endswith(".py"))


def test_every_article_program_has_an_example():
    assert {"mnist_cnn_keras.py", "cifar10_cnn_keras.py", "cifar10_cnn_sgd.py", "pytorch_style_loop.py",
            "augmentation_grid.py"} <= set(EXAMPLES)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_quick_run(name, tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", name), "--quick"], cwd=tmp_path,
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert "accuracy" in proc.stdout.lower() or "wrote" in proc.stdout
    pngs = [f for f in os.listdir(tmp_path) if f.endswith(".png")]
    if name in ("augmentation_grid.py", "cifar10_cnn_keras.py"):
        assert pngs and (tmp_path / pngs[0]).read_bytes()[:4] == b"\x89PNG"
    for line in proc.stdout.splitlines():  # every "wrote <path>" names a real PNG
        if line.startswith("wrote ") and line.endswith(".png"):
            path = tmp_path / line[len("wrote "):]
            assert path.read_bytes()[:4] == b"\x89PNG", line
