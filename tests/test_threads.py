"""The CPU threads a render runs: as many as the cores this process may use (affinity, cgroup quota), and
OpenMP threads that sleep while they wait, set before torch loads its OpenMP runtime."""

import math
import os
import subprocess
import sys

import torch

from dreamvid.ascent.engine import Engine
from dreamvid.nets import device
from dreamvid.nets.device import calm_threads_environment, cgroup_cpu_limit, fit_threads, usable_cores
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
