"""The kernel benchmark's --quick smoke run works on the CPU and reports a table."""
import os
import re
import subprocess
import sys

import pytest

from tinygrad_img import bench

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_quick_run_prints_the_table_and_writes_the_chart(tmp_path, capsys):
    png = tmp_path / "chart.png"
    assert bench.main(["--quick", "--no-train", "--png", str(png)]) == 0
    out = capsys.readouterr().out
    for title in ("NumPy ref", "Numba CPU"):
        assert title in out
    rows = [line for line in out.splitlines() if line.startswith(("conv ", "max_pool2d "))]
    assert len(rows) == len(bench.CONV_SHAPES) + 1
    for row in rows:
        cells = re.findall(r"(\d+\.\d+)\s+(\d+\.\d+)\s+(\d+\.\d+)x", row)
        assert len(cells) >= 2   # the two CPU columns (ms, ms, ratio) come first and parse as numbers
    if bench._gpu_reason() is not None:
        assert "GPU columns unavailable: " in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_quick_training_step_row(capsys):
    assert bench.main(["--quick", "--png", ""]) == 0
    out = capsys.readouterr().out
    assert "MNIST CNN training step" in out and "batch    4: CPU" in out


def test_bad_arguments_exit_with_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        bench.main(["--repeat", "0"])
    assert e.value.code == 2
    assert "--repeat must be >= 1" in capsys.readouterr().err


def test_cli_and_script_entry_points(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tinygrad_img", "bench", "--quick", "--no-train", "--png",
                           str(tmp_path / "b.png")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "max_pool2d 2x2 2x32x26x26" in proc.stdout
    proc = subprocess.run([sys.executable, "benchmarks/bench_kernels.py", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "--quick" in proc.stdout


@pytest.mark.parametrize("flag", ["0", "1"])
def test_reports_our_tf32_flag(monkeypatch, capsys, flag):
    monkeypatch.setenv("TINYGRAD_IMG_CONV_TF32", flag)
    monkeypatch.setattr(bench, "CONV_SHAPES", bench.CONV_SHAPES[:1])
    assert bench.main(["--quick", "--no-train", "--png", ""]) == 0
    out = capsys.readouterr().out
    if flag == "0":
        assert "our TF32 flag: off, raw CUDA columns are FP32" in out and "raw CUDA TF32" not in out.split("\n\n")[1]
    elif bench._gpu_reason() is not None:
        assert "our TF32 flag: on (TF32 inputs, ~1e-3 relative error); raw CUDA TF32 column unavailable: no GPU" in out
    else:
        assert "our TF32 flag: on" in out and ("raw CUDA TF32" in out.split("\n\n")[1] or "unavailable" in out)
    assert bench._tf32_status(None) == ((True, "no GPU") if flag == "1" else (False, "our TF32 flag is off"))
