"""Peak memory of one measurement (a model built, warmed up and timed).

GPU: `torch.cuda.max_memory_allocated` after `reset_peak_memory_stats` (tensor memory the
caching allocator handed out, the figure papers call VRAM).

CPU: peak RSS. `getrusage().ru_maxrss` is a process-lifetime high-water mark, so a second
model in the same process would inherit the first one's peak. On Linux we reset the
kernel's high-water mark instead (`echo 5 > /proc/self/clear_refs` resets VmHWM) and
report the peak RSS *added* by the measurement: VmHWM after minus VmRSS before, with freed
heap returned to the OS first (malloc_trim) so the baseline is not inflated by the
previous model. Weights, activations, gradients and optimizer state all count.
Where the reset is unavailable (macOS), the process peak is reported and the method says so;
`--isolate` (a fresh process per model) makes that figure per model too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import re
import sys
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kb(field: str) -> int | None:
    try:
        m = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.M)
    except OSError:
        return None
    return int(m.group(1)) if m else None


def _malloc_trim() -> None:
    # glibc keeps freed small/medium blocks in its arenas; give them back so RSS drops.
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_hwm() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


class PeakMemory:
    """`start()` before building the model, `peak_mb()` after the timed runs."""

    def __init__(self, device: str):
        self.device = device
        self.method = ""
        self._baseline_kb = 0

    def start(self) -> None:
        gc.collect()
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            self.method = "cuda max_memory_allocated"
            return
        _malloc_trim()
        if _reset_hwm() and _status_kb("VmRSS") is not None:
            self._baseline_kb = _status_kb("VmRSS") or 0
            self.method = "peak RSS added (Linux VmHWM reset, minus RSS before the model)"
        else:
            self._baseline_kb = 0
            self.method = "process peak RSS (ru_maxrss; lifetime high-water mark)"

    def peak_mb(self) -> float | None:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated() / 2**20
        if self.method.startswith("peak RSS added"):
            hwm = _status_kb("VmHWM")
            return None if hwm is None else max(hwm - self._baseline_kb, 0) / 1024
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # ru_maxrss is in bytes on macOS, kilobytes on Linux.
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024
