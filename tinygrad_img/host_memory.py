"""Host (CPU) allocator tuning for training loops."""
import ctypes
import functools
import os
import platform


@functools.lru_cache(maxsize=None)
def keep_freed_memory(trim_bytes=256 << 20, mmap_bytes=32 << 20):
    """Have glibc keep freed blocks below ``mmap_bytes`` for reuse (up to ``trim_bytes`` of free
    heap) instead of unmapping them. A training step allocates and frees the same few-MiB
    arrays (columns, activations, gradients) every time; by default glibc hands them back to
    the kernel and re-faults their pages on the next step, which on the 2-core test machine
    cost a quarter of the MNIST CNN step (26 ms -> 19-20 ms with this). A process-wide setting,
    made once (the result is cached) when the CPU kernels load; $TINYGRAD_IMG_KEEP_FREED_MEMORY=0 turns it off.
    Returns whether it was applied (glibc only)."""
    if os.environ.get("TINYGRAD_IMG_KEEP_FREED_MEMORY", "1") == "0" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from <malloc.h>
    return bool(libc.mallopt(m_trim_threshold, int(trim_bytes)) and libc.mallopt(m_mmap_threshold, int(mmap_bytes)))
