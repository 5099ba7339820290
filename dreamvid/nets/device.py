"""Where the ascent runs and in what arithmetic: the device, mixed precision, the automatic tile size.

The allowed names live here (the settings table reads them); torch is imported only when a
function runs, so that listing settings or presets does not pay for it.
"""

from __future__ import annotations

import contextlib
import math
import os
from typing import TYPE_CHECKING

from dreamvid.errors import UserError

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")

CPU_TILE = 1448  # tiles of up to 1448^2 px: a 1080p octave in one piece (3 tiles of 1024^2 px cost a step 2.2x),
# a 4K one in 6 tiles; bench_memory.py gives the peak memory of both
CUDA_TILE = 4096  # a GPU has the memory for a whole 1080p or 4K octave; tiles would only add work
# The objectives are means over ~1e5-1e6 positions, so fp16 backward values fall to its subnormal
# range (below 6e-5) and lose their precision, then flush to 0. 2**10 lifts them clear without
# overflow even on a tiny 64 px probe (the step divides by mean |gradient|: a scale changes nothing).
FP16_LOSS_SCALE = 1024.0


# Waiting OpenMP threads sleep at once instead of spinning (libgomp, torch's bundled runtime, spins ~300k
# rounds by default; KMP_BLOCKTIME is Intel's OpenMP's name for the same). Beside other busy processes a
# spinning thread burns the time slices its own busy sibling needed: a 512 px still beside two single-threaded
# competitors took 3.7x its idle time (issue 32). At a load of 25 on 2 cores, a 256 px step took 0.74 s sleeping
# against 12.7 s spinning (docs/BENCHMARKS.md); idle, sleeping costs within the machine's noise (0-9%), and beside
# two competitors a still takes 0.77x its fair share sleeping against 1.88x spinning.
WAIT_ENVIRONMENT = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}
CGROUP_CPU_MAX = "/sys/fs/cgroup/cpu.max"  # cgroup v2: "QUOTA PERIOD" or "max PERIOD"
CGROUP_V1_QUOTA = ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us")


def cgroup_cpu_limit(cpu_max: str = CGROUP_CPU_MAX, v1: tuple[str, str] = CGROUP_V1_QUOTA) -> float | None:
    """The cores this process's cgroup may use (a quota of 150000 per 100000 is 1.5), or None for no quota."""
    try:
        quota, period = read_text(cpu_max).split()[:2]
    except (OSError, ValueError):
        try:
            quota, period = (read_text(path).strip() for path in v1)
        except (OSError, ValueError):
            return None
    if not (quota.isdigit() and period.isdigit()) or int(quota) == 0 or int(period) == 0:
        return None  # "max" (v2) or -1 (v1): no quota
    return int(quota) / int(period)


def read_text(path: str) -> str:
    with open(path) as file:
        return file.read()


def usable_cores(affinity: set[int] | None = None, quota: float | None = None) -> int:
    """The cores this process may run on: its CPU affinity, capped by its cgroup's CPU quota (rounded up)."""
    if affinity is None:
        affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    cores = max(1, len(affinity))
    quota = cgroup_cpu_limit() if quota is None else quota
    return max(1, min(cores, math.ceil(quota))) if quota else cores


def calm_threads_environment(environ: "os._Environ | dict" = os.environ) -> None:
    """Before torch loads its OpenMP runtime: waiting threads sleep, and there are as many as usable cores.

    Only defaults: a value the user set stays. OpenMP reads these once, when torch is first imported;
    `fit_threads` covers a torch imported before dreamvid.
    """
    for name, value in WAIT_ENVIRONMENT.items():
        environ.setdefault(name, value)
    environ.setdefault("OMP_NUM_THREADS", str(usable_cores()))


def fit_threads() -> int:
    """Lower torch's CPU threads to the usable cores (never raise a count the user chose); returns the count."""
    import torch

    cores = usable_cores()
    if torch.get_num_threads() > cores:
        torch.set_num_threads(cores)
    return torch.get_num_threads()


# glibc hands blocks over 128 KB-32 MB straight back to the kernel when freed, so every ascent step's
# activations (up to 25 MB each at 512 px, 100 MB in a 1024 px tile) came back as fresh pages: tens of
# thousands of page faults per step, each zero-filled, serialised between threads. Kept in the heap, a 512 px
# step took 0.27 s of CPU against 0.51 s (bench_peer.py). The cost: up to KEEP_FREED bytes stay with the process.
MMAP_THRESHOLD = 1 << 30  # blocks below this come from the heap (reused), above it from mmap
KEEP_FREED = (1 << 31) - 1  # freed heap memory the process keeps before returning it to the kernel (mallopt's most)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)


def keep_freed_memory() -> bool:
    """Let glibc reuse the memory of freed tensors instead of returning it to the kernel; False where
    the C library is not glibc (macOS, musl), which is left as it is."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD, KEEP_FREED))


def mps_available() -> bool:
    """Apple silicon's Metal GPU (MPS) is usable; False on other machines and older torch builds."""
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def pick_device(name: str) -> "torch.device":
    """auto -> CUDA when present, else MPS (Apple silicon), else CPU; asking for an absent one is a user error."""
    import torch

    if name not in DEVICES:
        raise UserError(f"device (--device) must be one of: {', '.join(DEVICES)}; got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA GPU is available here (use --device cpu or auto)")
    if name == "mps" and not mps_available():
        raise UserError("--device mps: no Apple GPU (MPS) is available here (use --device cpu or auto)")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if mps_available() else "cpu")
    return torch.device(name)


def auto_tile(device: "torch.device", tile: int) -> int:
    """The tile side for `device`: the user's, or the automatic one when the setting is 0."""
    # MPS shares the machine's memory with everything else, so it keeps the CPU's bound.
    return tile or (CUDA_TILE if device.type == "cuda" else CPU_TILE)


def unsupported_op_error(device: "torch.device", error: NotImplementedError) -> UserError:
    """One line for an op the device's backend lacks (MPS lacks some): name it and say what to do."""
    first = (str(error).strip().splitlines() or ["an operation is not implemented"])[0]
    return UserError(f"--device {device.type}: {first[:200]} (use --device cpu, or set "
                     f"PYTORCH_ENABLE_MPS_FALLBACK=1 to run such ops on the CPU)")


def bf16_available(device: "torch.device") -> bool:
    import torch

    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def autocast_dtype(device: "torch.device", precision: str,
                   bf16_supported: bool | None = None) -> "torch.dtype | None":
    """The autocast dtype for the ascent on `device`, or None for plain fp32 (always on the CPU and MPS).

    bf16 keeps fp32's range (no overflow in the activations' squares), so auto prefers it;
    GPUs older than Ampere get fp16. MPS stays fp32: mixed precision there is unmeasured (no Apple
    machine to test on), and fp32 is exact everywhere.
    """
    import torch

    if precision not in PRECISIONS:
        raise UserError(f"precision (--precision) must be one of: {', '.join(PRECISIONS)}; got {precision!r}")
    if device.type != "cuda" or precision == "fp32":
        return None
    supported = bf16_available(device) if bf16_supported is None else bf16_supported
    if precision == "bf16" and not supported:
        raise UserError("--precision bf16: this GPU has no bfloat16 support (use --precision fp16, fp32 or auto)")
    if precision == "fp16" or not supported:
        return torch.float16
    return torch.bfloat16


def loss_scale(dtype: "torch.dtype | None") -> float:
    """What the objective is multiplied by before backward (and the gradient divided by after)."""
    return FP16_LOSS_SCALE if dtype is not None and str(dtype) == "torch.float16" else 1.0


def autocast(device: "torch.device", dtype: "torch.dtype | None") -> contextlib.AbstractContextManager:
    """Mixed precision for a forward pass; a no-op for dtype None."""
    if dtype is None:
        return contextlib.nullcontext()
    import torch

    return torch.autocast(device_type=device.type, dtype=dtype)
