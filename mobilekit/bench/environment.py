"""What machine a benchmark ran on: CPU, RAM, OS, torch, GPU and driver, threads, load.

Results without their environment cannot be compared, so every benchmark JSON carries this,
and the host runner turns it into the wire format's `Device` (kind "host")."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from pathlib import Path


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip() or None
    except OSError:
        return None


def cpu_model() -> str:
    info = _read("/proc/cpuinfo")
    if info:
        m = re.search(r"^model name\s*:\s*(.+)$", info, re.M)
        if m:
            return m.group(1).strip()
    if platform.system() == "Darwin":
        try:
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True,
                                 text=True, timeout=5)
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine()


def ram_mb() -> int | None:
    meminfo = _read("/proc/meminfo")
    if meminfo:
        m = re.search(r"^MemTotal:\s+(\d+) kB", meminfo, re.M)
        if m:
            return int(m.group(1)) // 1024
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    except (ValueError, OSError, AttributeError):
        return None


def usable_cpus() -> int:
    """CPUs this process may run on (affinity / container limits), not the host total."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def os_version() -> str:
    release = _read("/etc/os-release")
    if release:
        m = re.search(r'^PRETTY_NAME="?([^"\n]+)"?$', release, re.M)
        if m:
            return f"{m.group(1)} (kernel {platform.release()})"
    if platform.system() == "Darwin":
        return platform.mac_ver()[0]
    return platform.release()


def nvidia_driver() -> str | None:
    """The NVIDIA driver version: from the kernel module, else nvidia-smi."""
    version = _read("/sys/module/nvidia/version")
    if version:
        return version
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError):
            pass
    return None


def host_identity() -> dict:
    """Make / model of this machine for the wire format's Device. Servers and VMs often
    hide DMI; the host name then tells machines apart in the collector."""
    vendor = _read("/sys/devices/virtual/dmi/id/sys_vendor")
    product = _read("/sys/devices/virtual/dmi/id/product_name")
    node = platform.node() or "localhost"
    return {"make": vendor or "generic", "model": product or node, "model_identifier": node}


def environment(device: str = "cpu") -> dict:
    """Everything that changes a latency figure, as a JSON-able dict."""
    import torch

    env = {
        "os": platform.system(),
        "os_version": os_version(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "ram_mb": ram_mb(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "cuda_available": torch.cuda.is_available(),
    }
    from mobilekit import __version__

    env["mobilekit"] = __version__
    if device.startswith("cuda") and torch.cuda.is_available():
        idx = torch.device(device).index or 0
        props = torch.cuda.get_device_properties(idx)
        env.update({
            "gpu": props.name,
            "gpu_memory_mb": props.total_memory // 2**20,
            "gpu_capability": f"{props.major}.{props.minor}",
            "gpu_count": torch.cuda.device_count(),
            "driver": nvidia_driver(),
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
        })
    return env
