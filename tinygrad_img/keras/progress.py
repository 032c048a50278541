"""Progress reporting for ``fit``/``evaluate``: a live tqdm bar on a terminal,
plain one-line-per-epoch text (no control characters) anywhere else."""
import sys
import time

__all__ = ["Progress", "resolve_verbose", "format_logs"]


def resolve_verbose(verbose):
    """Keras semantics: 0 silent, 1 progress bar, 2 one line per epoch; "auto" means 1."""
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return verbose


def format_logs(logs):
    """'loss: 0.1234 - accuracy: 0.9700', as Keras prints them."""
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


class Progress:
    """One epoch's progress. On a TTY with verbose=1 a tqdm bar shows the running
    logs; otherwise ``close`` prints a single plain line (verbose 1 or 2)."""

    def __init__(self, total, verbose, desc, stream=None):
        self.stream = stream or sys.stdout
        self.verbose = verbose
        self.desc = desc
        self.start = time.perf_counter()
        self.bar = None
        if verbose == 1 and getattr(self.stream, "isatty", lambda: False)():
            from tqdm import tqdm
            self.bar = tqdm(total=total, desc=desc, file=self.stream, unit="batch", leave=True,
                            dynamic_ncols=True)

    def update(self, n, logs):
        """Advance by ``n`` batches, showing the running ``logs``."""
        if self.bar is not None:
            self.bar.update(n)
            self.bar.set_postfix_str(format_logs(logs), refresh=False)

    def close(self, logs):
        """Finish the epoch with its final ``logs`` (validation metrics included)."""
        seconds = time.perf_counter() - self.start
        if self.bar is not None:
            self.bar.set_postfix_str(format_logs(logs), refresh=True)
            self.bar.close()
        elif self.verbose in (1, 2):
            self.stream.write(f"{self.desc} - {seconds:.1f}s - {format_logs(logs)}\n")
            self.stream.flush()
