"""CPU vs GPU kernel comparison: ``python -m tinygrad_img bench`` (or benchmarks/bench_kernels.py).

For the convolutions of the image-ops issue and a 2x2 max-pool it times, forward only:
NumPy reference and Numba CPU (our conv/pool ops with that kernel backend), CuPy
im2col + cuBLAS, our raw CUDA kernels, and cuDNN through PyTorch when PyTorch sees a
GPU (TF32 switched off, so every column is FP32), with PyTorch CPU as a reference.
With our TF32 flag on (env TINYGRAD_IMG_CONV_TF32=1 or ``kernels.cuda.set_conv_tf32``)
a "raw CUDA TF32" column adds the tensor-core kernel (sm_80+; TF32 inputs, ~1e-3
relative error), still next to FP32 cuDNN; the run prints whether the flag is on.
Then one training step (forward, backward, Adam) of the articles' MNIST CNN at batch
64 and 256, CPU vs GPU. After a warm-up the columns run interleaved, round by round;
CPU times are wall clock, GPU times CUDA events; each cell is the median over rounds.
It prints a table (ms, GFLOP/s, speed-up over our fastest CPU column) and writes a bar
chart. Without a GPU the GPU columns say why they are missing. ``--quick`` shrinks
batches and repeats to a seconds-long smoke test.
"""
import argparse
import os
import statistics
import time

import numpy as np

from . import backend

CONV_SHAPES = [  # N, C, H, W, O, k, stride, pad
    (64, 1, 28, 28, 32, 3, 1, 0), (64, 32, 13, 13, 64, 3, 1, 0), (64, 3, 32, 32, 32, 3, 1, 0),
    (32, 64, 56, 56, 64, 3, 1, 1), (32, 64, 56, 56, 128, 3, 2, 1),
]
POOL_SHAPE = (64, 32, 26, 26)
COLUMNS = ("numpy", "numba", "torch_cpu", "cupy", "cuda", "cuda_tf32", "cudnn")
TITLES = {"numpy": "NumPy ref", "numba": "Numba CPU", "torch_cpu": "PyTorch CPU", "cupy": "CuPy im2col(+cuBLAS)",
          "cuda": "raw CUDA", "cuda_tf32": "raw CUDA TF32", "cudnn": "cuDNN (torch)"}
OUR_CPU_COLUMNS = ("numpy", "numba")


def _wall(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _time_cpu(fn, repeat):
    fn()
    return statistics.median(_wall(fn) for _ in range(repeat))


def _torch_events(fn):
    import torch
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    stop.record()
    stop.synchronize()
    return start.elapsed_time(stop) / 1e3


def _gpu_reason():
    """None when CuPy and a GPU work, else why not."""
    try:
        backend.cupy_module()
        return None
    except RuntimeError as e:
        return str(e)


def _tf32_status(gpu):
    """(our TF32 flag is on, None when the "raw CUDA TF32" column can run else why not)."""
    from .kernels import cuda, cuda_conv
    if not cuda.conv_tf32_enabled():
        return False, "our TF32 flag is off"
    return True, ("no GPU" if gpu is None else cuda_conv.tf32_unavailable())


def _torch_cuda():
    """torch with TF32 off when it is installed and sees a GPU, else None."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    return torch


class Problem:
    """One benchmark row: a name, its FLOP count, a callable per column, and whether the
    issue's target (raw CUDA within 1.5x of cuDNN) applies to it."""
    def __init__(self, name, flops, runners, cudnn_target=False):
        self.name, self.flops, self.runners, self.cudnn_target = name, flops, runners, cudnn_target


def _torch_cpu():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _conv_problem(shape, gpu, torch, tf32=False):
    import tinygrad_img as tg
    from tinygrad_img import functional as F
    from tinygrad_img.kernels import registry
    n, c, h, w, o, k, s, p = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = (rng.standard_normal((o, c, k, k)) / np.sqrt(c * k * k)).astype(np.float32)
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    xt, wtt = tg.Tensor(x), tg.Tensor(wt)

    def cpu(backend_name):
        def run():
            with registry.use(backend_name), tg.no_grad():
                F.conv2d(xt, wtt, stride=s, padding=p)
        return run

    runners = {"numpy": cpu("reference"), "numba": cpu("numba")}
    torch_cpu = _torch_cpu()
    if torch_cpu is not None:
        xc, wc = torch_cpu.from_numpy(x), torch_cpu.from_numpy(wt)
        runners["torch_cpu"] = lambda: torch_cpu.nn.functional.conv2d(xc, wc, stride=s, padding=p)
    if gpu is not None:
        from tinygrad_img.kernels import cuda
        xd, wd = gpu.asarray(x), gpu.asarray(wt)
        conv = registry.get("conv2d_forward", "cuda")

        def algo(name):
            def run():
                prev = cuda.set_conv_algorithm(name)
                try:
                    conv(xd, wd, None, s, p, 1, 1)
                finally:
                    cuda.set_conv_algorithm(prev)
            return run
        runners["cupy"], runners["cuda"] = algo("im2col"), [algo("implicit_64"), algo("implicit_128")]
        if tf32:
            runners["cuda_tf32"] = algo("implicit_tf32")
    if torch is not None:
        xq, wq = torch.from_numpy(x).cuda(), torch.from_numpy(wt).cuda()
        runners["cudnn"] = lambda: torch.nn.functional.conv2d(xq, wq, stride=s, padding=p)
    return Problem(f"conv {n}x{c}x{h}x{w} -> {o} k{k} s{s} p{p}", 2.0 * n * o * oh * ow * c * k * k, runners,
                   cudnn_target=(c == 64 and k == 3))


def _pool_problem(shape, gpu, torch):
    import tinygrad_img as tg
    from tinygrad_img import functional as F
    from tinygrad_img.kernels import registry
    n, c, h, w = shape
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    xt = tg.Tensor(x)

    def cpu(backend_name):
        def run():
            with registry.use(backend_name), tg.no_grad():
                F.max_pool2d(xt, 2)
        return run

    runners = {"numpy": cpu("reference"), "numba": cpu("numba")}
    torch_cpu = _torch_cpu()
    if torch_cpu is not None:
        xc = torch_cpu.from_numpy(x)
        runners["torch_cpu"] = lambda: torch_cpu.nn.functional.max_pool2d(xc, 2)
    if gpu is not None:
        xd = gpu.asarray(x)
        im2col, pool = registry.get("im2col", "cuda"), registry.get("maxpool2d_forward", "cuda")
        runners["cupy"] = lambda: im2col(xd, 2, 2, 2, 2, 0, 0, 1, 1).max(axis=(1, 2))
        runners["cuda"] = lambda: pool(xd, 2, 2, 2, 2, 0, 0)
    if torch is not None:
        xq = torch.from_numpy(x).cuda()
        runners["cudnn"] = lambda: torch.nn.functional.max_pool2d(xq, 2)
    return Problem(f"max_pool2d 2x2 {n}x{c}x{h}x{w}", float(n * c * (h // 2) * (w // 2) * 4), runners)


def _measure(problem, repeat):
    """Median seconds per column over ``repeat`` interleaved rounds (after one warm-up call
    each); a column with several variants (the raw CUDA tile sizes, between which the
    autotuner chooses) reports its fastest."""
    from .kernels.cuda import event_seconds
    timers = {"cupy": event_seconds, "cuda": event_seconds, "cuda_tf32": event_seconds, "cudnn": _torch_events}
    variants = [(col, fn) for col, fns in problem.runners.items()
                for fn in (fns if isinstance(fns, list) else [fns])]
    samples = [[] for _ in variants]
    for _, fn in variants:
        fn()
    for _ in range(repeat):
        for (col, fn), out in zip(variants, samples):
            out.append(timers.get(col, _wall)(fn))
    times = {}
    for (col, _), out in zip(variants, samples):
        t = statistics.median(out)
        times[col] = min(t, times.get(col, t))
    return times


def _mnist_cnn():
    from tinygrad_img import nn
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 5 * 5, 64), nn.ReLU(), nn.Linear(64, 10))


def _train_step_ms(device, batch, repeat):
    """Median ms of one Adam training step of the MNIST CNN; ``loss.item()`` ends each step."""
    import tinygrad_img as tg
    from tinygrad_img import functional as F
    tg.manual_seed(0)
    model = _mnist_cnn().to(device)
    opt = tg.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(2)
    x = tg.Tensor(rng.random((batch, 1, 28, 28), dtype=np.float32), device=device)
    y = tg.Tensor(rng.integers(0, 10, batch), device=device)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()
    return 1e3 * _time_cpu(step, repeat)


def _fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def _report_kernels(rows, columns):
    name_w = max(len(p.name) for p, _ in rows)
    print(f"\n{'':<{name_w}}  " + "  ".join(f"{TITLES[c]:>26}" for c in columns))
    print(f"{'problem':<{name_w}}  " + "  ".join(f"{'ms':>10} {'GFLOP/s':>8} {'speed-up':>6}" for _ in columns))
    for problem, times in rows:
        best_cpu = min(times[c] for c in OUR_CPU_COLUMNS if c in times)
        cells = []
        for c in columns:
            t = times.get(c)
            cells.append(f"{'n/a':>26}" if t is None else
                         f"{t * 1e3:10.3f} {problem.flops / t / 1e9:8.1f} {best_cpu / t:7.1f}x")
        print(f"{problem.name:<{name_w}}  " + "  ".join(cells))
    print("median ms; GFLOP/s (max-pool: G comparisons/s); speed-up over our fastest CPU column (NumPy/Numba)")
    for problem, times in rows:
        if problem.cudnn_target and "cuda" in times and "cudnn" in times:
            print(f"raw CUDA / cuDNN FP32 on {problem.name}: {times['cuda'] / times['cudnn']:.2f}x (target <= 1.5x)")


def _plot(rows, columns, path, device_name):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(11, 5))
    width = 0.8 / len(columns)
    for i, c in enumerate(columns):
        ms = [times.get(c, np.nan) * 1e3 for _, times in rows]
        ax.bar(np.arange(len(rows)) + i * width, ms, width, label=TITLES[c])
    ax.set_xticks(np.arange(len(rows)) + 0.4 - width / 2)
    ax.set_xticklabels([p.name.replace(" -> ", "\n-> ") for p, _ in rows], fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("ms (log scale, lower is better)")
    precision = "FP32 (+ our TF32 column)" if "cuda_tf32" in columns else "FP32"
    ax.set_title(f"tinygrad_img kernels, forward {precision} — {device_name}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="tinygrad-img bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny batches and 1 repeat: a smoke test in seconds")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per cell (default 5, --quick 1)")
    parser.add_argument("--png", default="bench_kernels.png", help="bar-chart path ('' to skip)")
    parser.add_argument("--no-train", action="store_true", help="skip the MNIST-CNN training-step comparison")
    args = parser.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        parser.error(f"--repeat must be >= 1, got {args.repeat}")
    return args


def main(argv=None):
    """Run the benchmark; returns 0. See the module docstring."""
    args = parse_args([] if argv is None else list(argv))
    repeat = args.repeat or (1 if args.quick else 5)
    batch = (lambda n: min(n, 2)) if args.quick else (lambda n: n)
    reason = _gpu_reason()
    gpu = None if reason else backend.cupy_module()
    torch = _torch_cuda() if gpu is not None else None
    if gpu is None:
        device_name = "CPU only"
        print(f"GPU columns unavailable: {reason}")
    else:
        device_name = gpu.cuda.runtime.getDeviceProperties(gpu.cuda.Device().id)["name"].decode()
        print(f"GPU: {device_name}; CuPy {gpu.__version__}, CUPY_TF32={os.environ.get('CUPY_TF32', '0')} "
              "(cuBLAS FP32); raw CUDA kernels are FP32 FMA")
        print("cuDNN via PyTorch: TF32 off (allow_tf32=False), so FP32 is compared with FP32" if torch is not None
              else "cuDNN column unavailable: PyTorch with CUDA is not installed")
    tf32_on, tf32_missing = _tf32_status(gpu)
    if tf32_on:
        print("our TF32 flag: on (TF32 inputs, ~1e-3 relative error); "
              + ("adds the raw CUDA TF32 column" if tf32_missing is None
                 else f"raw CUDA TF32 column unavailable: {tf32_missing}"))
    else:
        print("our TF32 flag: off, raw CUDA columns are FP32 (TINYGRAD_IMG_CONV_TF32=1 adds a raw CUDA TF32 column)")
    problems = [_conv_problem((batch(s[0]),) + s[1:], gpu, torch, tf32_missing is None) for s in CONV_SHAPES]
    problems.append(_pool_problem((batch(POOL_SHAPE[0]),) + POOL_SHAPE[1:], gpu, torch))
    rows = [(p, _measure(p, repeat)) for p in problems]
    columns = [c for c in COLUMNS if any(c in t for _, t in rows)]
    _report_kernels(rows, columns)
    if args.png:
        _plot(rows, columns, args.png, device_name)
        print(f"bar chart: {args.png}")
    if not args.no_train:
        print("\nMNIST CNN training step (forward + backward + Adam), median ms")
        for b in ((4,) if args.quick else (64, 256)):
            cpu_ms = _train_step_ms("cpu", b, repeat)
            gpu_ms = _train_step_ms("cuda", b, max(repeat, 5)) if gpu is not None else None
            speed = f"x{cpu_ms / gpu_ms:.1f}" if gpu_ms else "n/a (no GPU)"
            target = " (target >= x10)" if b == 256 and gpu_ms else ""
            print(f"  batch {b:>4}: CPU {cpu_ms:9.2f} ms   GPU {_fmt(gpu_ms, '9.2f')} ms   speed-up {speed}{target}")
    return 0
