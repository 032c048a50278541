"""The command line: a short default training run and bad arguments."""
import json
import os
import subprocess
import sys

import pytest

from tinygrad_img import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args):
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "tinygrad_img", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)


def test_train_one_epoch_writes_checkpoint_curves_and_confusion(tmp_path):
    out = tmp_path / "run"
    proc = _run("train", "--epochs", "1", "--limit", "400", "--batch-size", "16", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "test accuracy:" in proc.stdout and "\r" not in proc.stdout and "\x1b" not in proc.stdout
    assert sorted(os.listdir(out)) == ["confusion_matrix.png", "metrics.json", "model.safetensors",
                                       "training_curves.png"]
    report = json.load(open(out / "metrics.json"))
    assert report["model"] == "seed-cnn" and report["dataset"] == "digits" and report["epochs"] == 1
    assert report["test_accuracy"] > 0.5        # one epoch on 400 images (0.71 when written): far above chance
    for png in ("confusion_matrix.png", "training_curves.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    from tinygrad_img.keras.models import load_model
    assert load_model(out / "model.safetensors").count_params() == 121930


def test_train_mlp_on_shapes_with_augmentation_in_process(tmp_path, capsys):
    status = cli.main(["train", "--dataset", "shapes", "--model", "mlp", "--epochs", "1", "--limit", "200",
                       "--augment", "--verbose", "0", "--out", str(tmp_path)])
    assert status == 0 and "test accuracy" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["train", "--model", "resnet999"], "invalid choice: 'resnet999'"),
    (["train", "--dataset", "mnist"], "pass --data-dir"),
    (["train", "--dataset", "cifar10", "--data-dir", "/no/such/dir"], "is not a directory"),
    (["train", "--epochs", "0"], "--epochs must be at least 1"),
    (["train", "--dataset", "mnist", "--data-dir", ROOT], "load_mnist"),
])
def test_bad_arguments_exit_nonzero_with_one_line(args, message):
    proc = _run(*args)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr


def test_bench_without_the_module_is_a_clear_error(monkeypatch, capsys):
    import importlib

    real = importlib.import_module

    def fake(name, *a, **k):
        if name == "tinygrad_img.bench":
            raise ModuleNotFoundError("No module named 'tinygrad_img.bench'", name=name)
        return real(name, *a, **k)

    monkeypatch.setattr(cli.importlib, "import_module", fake)
    assert cli.main(["bench"]) == 1
    assert "tinygrad_img.bench is not available" in capsys.readouterr().err


def test_bench_forwards_its_arguments(monkeypatch):
    import types
    seen = {}
    fake = types.SimpleNamespace(main=lambda argv: seen.setdefault("argv", argv) and 0)
    monkeypatch.setattr(cli.importlib, "import_module", lambda name: fake)
    assert cli.main(["bench", "--quick", "--size", "3"]) == 0
    assert seen["argv"] == ["--quick", "--size", "3"]
