"""The command line: a short default training run and bad arguments."""
import json
import os
import subprocess
import sys

import numpy as np
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
    status = cli.main(["train", "--dataset", "shapes", "--model", "mlp", "--epochs", "4", "--limit", "800",
                       "--augment", "--seed", "0", "--verbose", "0", "--out", str(tmp_path)])
    assert status == 0 and "test accuracy" in capsys.readouterr().out
    report = json.load(open(tmp_path / "metrics.json"))
    assert report["dataset"] == "shapes" and report["model"] == "mlp"
    assert report["test_accuracy"] > 0.3  # 10 classes: chance is 0.1 (0.52 when written)


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


def test_bench_forwards_its_arguments(monkeypatch):
    from tinygrad_img import bench
    seen = {}
    monkeypatch.setattr(bench, "main", lambda argv: seen.setdefault("argv", argv) and 0)
    assert cli.main(["bench", "--quick", "--size", "3"]) == 0
    assert seen["argv"] == ["--quick", "--size", "3"]


@pytest.mark.parametrize("limit", ["0", "-5"])
def test_limit_below_one_is_a_one_line_error(limit, capsys):
    assert cli.main(["train", "--limit", limit, "--verbose", "0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"tinygrad-img train: error: --limit must be at least 1, got {limit}"]


def test_mnist_npz_file_as_data_dir(tmp_path, capsys):
    rng = np.random.default_rng(0)
    npz = tmp_path / "mnist.npz"
    np.savez(npz, x_train=rng.integers(0, 256, (64, 28, 28), dtype=np.uint8), y_train=rng.integers(0, 10, 64),
             x_test=rng.integers(0, 256, (16, 28, 28), dtype=np.uint8), y_test=np.arange(16) % 10)
    status = cli.main(["train", "--dataset", "mnist", "--data-dir", str(npz), "--model", "mlp", "--epochs", "1",
                       "--limit", "32", "--verbose", "0", "--out", str(tmp_path / "run")])
    assert status == 0 and "test accuracy" in capsys.readouterr().out
    assert json.load(open(tmp_path / "run" / "metrics.json"))["dataset"] == "mnist"
    assert cli.main(["train", "--dataset", "mnist", "--data-dir", str(tmp_path / "none.npz")]) == 1
    assert "is not a file" in capsys.readouterr().err
