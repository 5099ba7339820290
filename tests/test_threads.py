"""How a render uses the CPU: as many threads as the cores this process may use (affinity, cgroup quota),
OpenMP threads that sleep while they wait (set before torch loads its OpenMP runtime), and freed tensor
memory kept for the next step rather than faulted in afresh."""

import math
import os
import platform
import resource
import subprocess
import sys

import pytest
import torch

from dreamvid.ascent.engine import Engine
from dreamvid.nets import device
from dreamvid.nets.device import (calm_threads_environment, cgroup_cpu_limit, fit_threads, keep_freed_memory,
                                  usable_cores)
from dreamvid.nets.features import load_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write(folder, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text)
    return str(path)


def test_cgroup_v2_quota_is_cores(tmp_path):
    assert cgroup_cpu_limit(write(tmp_path, "cpu.max", "150000 100000\n"), ("", "")) == 1.5
    assert cgroup_cpu_limit(write(tmp_path, "cpu.max", "max 100000\n"), ("", "")) is None


def test_cgroup_v1_quota_and_none(tmp_path):
    v1 = (write(tmp_path, "quota", "300000\n"), write(tmp_path, "period", "100000\n"))
    assert cgroup_cpu_limit(str(tmp_path / "absent"), v1) == 3.0
    no_quota = (write(tmp_path, "quota", "-1\n"), v1[1])
    assert cgroup_cpu_limit(str(tmp_path / "absent"), no_quota) is None
    assert cgroup_cpu_limit(str(tmp_path / "absent"), (str(tmp_path / "a"), str(tmp_path / "b"))) is None


def test_usable_cores_is_affinity_capped_by_quota():
    assert usable_cores({0, 1, 2, 3}, quota=1.5) == 2  # a part-core quota still runs a thread on it
    assert usable_cores({0, 1, 2, 3}, quota=0.5) == 1
    assert usable_cores({2, 5}, quota=8.0) == 2
    quota = cgroup_cpu_limit()  # this machine's own, if any
    assert usable_cores({0, 1, 2, 3}) == (4 if quota is None else min(4, math.ceil(quota)))


def test_environment_defaults_keep_what_the_user_set():
    environ = {"OMP_WAIT_POLICY": "ACTIVE"}
    calm_threads_environment(environ)
    assert environ["OMP_WAIT_POLICY"] == "ACTIVE"
    assert environ["KMP_BLOCKTIME"] == "0"
    assert environ["OMP_NUM_THREADS"] == str(usable_cores())


def test_importing_dreamvid_first_makes_torchs_openmp_threads_sleep():
    """torch's bundled libgomp reports its settings when it starts (OMP_DISPLAY_ENV): no spinning, and
    the usable cores as its thread count."""
    environ = {name: value for name, value in os.environ.items()
               if name not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "KMP_BLOCKTIME")}
    environ.update(OMP_DISPLAY_ENV="VERBOSE", PYTHONPATH=ROOT)
    code = "import dreamvid, torch; torch.ones(64).sum(); print(torch.get_num_threads())"
    done = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True)
    assert done.stdout.split()[-1] == str(usable_cores())
    if "GOMP_SPINCOUNT" in done.stderr:  # GNU OpenMP (Linux wheels); other runtimes do not print it
        assert "GOMP_SPINCOUNT = '0'" in done.stderr
        assert "OMP_WAIT_POLICY = 'PASSIVE'" in done.stderr


def test_an_engine_lowers_threads_to_the_usable_cores(monkeypatch):
    before = torch.get_num_threads()
    net = load_model("efficientnet_lite0", ["blocks.1"], "cpu")
    try:
        torch.set_num_threads(2)
        monkeypatch.setattr(device, "usable_cores", lambda: 1)
        Engine(net, torch.device("cpu"), ["blocks.1"])
        assert torch.get_num_threads() == 1
        monkeypatch.setattr(device, "usable_cores", lambda: 8)
        assert fit_threads() == 1  # never raised above what is set
    finally:
        torch.set_num_threads(before)


def page_faults_of_a_step() -> int:
    """Minor page faults while tensors of an ascent step's sizes (10-24 MB) are made, filled and freed."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    tensors = [torch.ones(megabytes << 18) for megabytes in (20, 10, 20, 10, 20, 24)]  # float32: 4 bytes each
    del tensors
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_freed_tensor_memory_is_reused_without_page_faults():
    """Step after step, the same sizes come from memory kept in the heap: no fresh pages (glibc's defaults
    trim the heap and fault 10000-19000 pages of 4 KB in back every time)."""
    assert keep_freed_memory()
    faults = [page_faults_of_a_step() for _ in range(6)]
    assert faults[-1] < 1000, faults
