"""One Adam training step of the articles' MNIST CNN at batch 64: tinygrad_img vs PyTorch CPU.

    python benchmarks/bench_train.py [--reps 30] [--mem-steps 200]

Timing: both frameworks run in this process on the same weights and batches,
interleaved (ours, theirs, ours, ...), and the table reports median ms and
the ratio ours / PyTorch. Memory: each framework trains ``--mem-steps`` steps
in a fresh child process, which reports its RSS growth (peak and at each
quarter of the run, above the RSS after the first step) and, for ours, the
tracemalloc peak and the traced bytes still held at each quarter, showing
whether memory grows with the number of steps.
"""
import argparse
import itertools
import json
import os
import subprocess
import sys

# Both engines' thread pools sleep when idle (OpenMP's passive wait policy), so in the
# interleaved runs neither side's spinning workers steal the 2 cores from the other; with
# spinning pools each engine slowed the other (the 64-channel conv forward ran 2x slower).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from timing import interleaved  # noqa: E402

BATCH = 64


def batches(n, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.random((BATCH, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, BATCH)) for _ in range(n)]


def ours_step_fn():
    import tinygrad_img as tg
    import tinygrad_img.functional as F
    from tinygrad_img import nn, optim
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = optim.Adam(model.parameters(), lr=1e-3)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(tg.Tensor(x)), tg.Tensor(y))
        loss.backward()
        opt.step()
        return loss.item()
    return model, step


def torch_step_fn(weights=None):
    import torch
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                torch.nn.Conv2d(32, 64, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                torch.nn.Flatten(), torch.nn.Linear(1600, 64), torch.nn.ReLU(),
                                torch.nn.Linear(64, 10))
    if weights is not None:
        model.load_state_dict({k: torch.tensor(v) for k, v in weights.items()})
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(x, y):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        opt.step()
        return loss.item()
    return step


def proc_status_bytes(field):
    """VmRSS (now) or VmHWM (peak) of this process from /proc/self/status (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not found in /proc/self/status")


def memory_child(which, steps):
    """Train ``steps`` steps of one framework; print a JSON line of memory figures."""
    import tracemalloc
    step = ours_step_fn()[1] if which == "ours" else torch_step_fn()
    data = batches(4)
    if which == "ours":
        tracemalloc.start()
    step(*data[0])
    base = proc_status_bytes("VmRSS")
    quarters, traced = [], []
    for i in range(1, steps + 1):
        step(*data[i % 4])
        if i % (steps // 4) == 0:
            quarters.append(proc_status_bytes("VmRSS") - base)
            if which == "ours":
                traced.append(tracemalloc.get_traced_memory()[0])
    peak = proc_status_bytes("VmHWM")
    out = {"which": which, "rss_growth_quarters": quarters, "peak_rss": peak, "base_rss": base}
    if which == "ours":
        out["traced_peak"] = tracemalloc.get_traced_memory()[1]
        out["traced_quarters"] = traced
    print(json.dumps(out))


def timing(reps):
    import torch
    model, ours = ours_step_fn()
    theirs = torch_step_fn({k: v.numpy() for k, v in model.state_dict().items()})
    data = batches(8, seed=1)
    ours_batches, their_batches = itertools.cycle(data), itertools.cycle(data)
    t = interleaved(lambda: ours(*next(ours_batches)), lambda: theirs(*next(their_batches)), reps,
                    warmup=3)  # warm-up: JIT compilation, allocator
    print(f"torch threads: {torch.get_num_threads()}, reps: {reps}, batch {BATCH}")
    print(f"{'step':<34}{'ours ms':>10}{'torch ms':>10}{'ratio':>8}")
    print(f"{'MNIST CNN Adam step (fwd+bwd+opt)':<34}{t.ours * 1e3:>10.2f}{t.theirs * 1e3:>10.2f}{t.ratio:>8.2f}")


def memory(steps):
    rows = {}
    for which in ("ours", "torch"):
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--memory-child", which,
                              "--mem-steps", str(steps)], capture_output=True, text=True, check=True)
        rows[which] = json.loads(out.stdout.strip().splitlines()[-1])
    mb = 1 / 2 ** 20
    print(f"\nmemory over {steps} steps (fresh process each; MiB)")
    print(f"{'':<8}{'peak RSS':>10}{'RSS after step 1':>18}  RSS growth at 25/50/75/100% of the steps")
    for which, r in rows.items():
        growth = " / ".join(f"{g * mb:.1f}" for g in r["rss_growth_quarters"])
        print(f"{which:<8}{r['peak_rss'] * mb:>10.1f}{r['base_rss'] * mb:>18.1f}  {growth}")
    r = rows["ours"]
    print(f"ours, tracemalloc: peak {r['traced_peak'] * mb:.1f} MiB; held at 25/50/75/100%: "
          + " / ".join(f"{t * mb:.2f}" for t in r["traced_quarters"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--mem-steps", type=int, default=200)
    ap.add_argument("--memory-child", choices=["ours", "torch"])
    args = ap.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.mem_steps)
        return
    timing(args.reps)
    memory(args.mem_steps)


if __name__ == "__main__":
    main()
