"""Ray, imported here only, and only when a render asks for workers: a local cluster of N workers, or a
running cluster joined by its address; what each worker asks of it; a progress counter they report to."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
import logging
import socket
from typing import Iterator

from dreamvid import interrupts
from dreamvid.errors import UserError
from dreamvid.nets.device import usable_cores

INSTALL_HINT = 'pip install "dreamvid[ray]"'


def import_ray():
    try:
        import ray
    except ImportError:
        raise UserError(f"--workers and --ray need Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


@dataclass(frozen=True)
class Workers:
    """What each worker task asks of the cluster (Ray's resource options) and the torch threads it runs."""

    options: dict
    threads: int


def local_gpus(device: str) -> int:
    if device not in ("auto", "cuda"):
        return 0
    import torch

    return torch.cuda.device_count()


def start_local(ray, workers: int, device: str) -> None:
    """N workers on this machine: one per GPU (at most N), else the CPU cores split between N processes."""
    gpus = min(workers, local_gpus(device))
    threads = max(1, usable_cores() // workers)  # this process's cores (affinity, cgroup quota), not the machine's
    ray.init(num_cpus=threads * workers, num_gpus=gpus, include_dashboard=False, **log_options())


def log_options() -> dict:
    """Ray's own log (its warnings, every worker's output prefixed "(shot_task pid=...)") buries the progress
    bar, so it shows only when dreamvid's logger is at INFO (the CLI's --verbose)."""
    verbose = logging.getLogger("dreamvid").isEnabledFor(logging.INFO)
    return {"logging_level": logging.INFO if verbose else logging.ERROR, "log_to_driver": verbose}


CONNECT_SECONDS = 5  # Ray itself keeps retrying an address that does not answer for many minutes


def check_reachable(address: str) -> None:
    """HOST:PORT must answer before Ray is asked to join it (`auto` and ray:// URLs are left to Ray)."""
    host, _, port = address.rpartition(":")
    if address == "auto" or "://" in address or not port.isdigit():
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as error:
        raise UserError(f"cannot reach the Ray cluster at {address!r}: {error.strerror or error}") from None


def join_cluster(ray, address: str) -> None:
    check_reachable(address)
    try:
        ray.init(address=address, **log_options())
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise UserError(f"cannot join the Ray cluster at {address!r}: {error}") from None


def worker_resources(ray, workers: int, device: str = "auto") -> Workers:
    """A GPU each where the cluster has GPUs; else `workers` > 1 shares the cluster's cores out between
    them, and 1 (with --ray) gives each worker the cores of the smallest machine."""
    nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
    cpus = [int(node.get("CPU", 0)) for node in nodes] or [1]
    if device != "cpu" and any(node.get("GPU", 0) for node in nodes):
        return Workers({"num_gpus": 1, "num_cpus": 1}, max(1, max(cpus) // workers))
    threads = max(1, sum(cpus) // workers) if workers > 1 else max(1, min(cpus))
    return Workers({"num_cpus": threads}, threads)


@contextmanager
def connected(workers: int, address: str, device: str = "auto") -> Iterator[Workers]:
    """Ray for one render: the cluster already connected (tests), the one at `address`, or a local one
    started for this render and shut down after it."""
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        join_cluster(ray, address) if address else start_local(ray, workers, device)
        interrupts.install()  # ray.init put in its own SIGTERM handler (a crash dump and exit 1)
    try:
        yield worker_resources(ray, workers, device)
    finally:
        if started:
            ray.shutdown()


class Progress:
    """Each task's frames done, the highest it reported (a retried task reports again from its checkpoint)."""

    def __init__(self) -> None:
        self.done: dict[str, int] = {}

    def report(self, key: str, frames: int) -> None:
        self.done[key] = max(self.done.get(key, 0), frames)

    def total(self) -> int:
        return sum(self.done.values())


def progress_actor(ray):
    return ray.remote(num_cpus=0)(Progress).remote()


def cause(error: BaseException, what: str) -> BaseException:
    """A task's own exception (a UserError stays one line); a worker lost more times than Ray retries
    (killed, out of memory, its machine gone) becomes one line too."""
    inner = getattr(error, "cause", None)
    if isinstance(inner, BaseException):
        return inner
    return UserError(f"{what}: its worker was lost and Ray gave up retrying ({type(error).__name__}); "
                     f"the same command with --resume continues")


def finished_tasks(ray, pending: dict, timeout: float | None = None) -> list[tuple[object, object]]:
    """The tasks of `pending` (ref -> what it is) that are done, taken out of it: within `timeout`
    seconds every one done by then; with no timeout, at least one."""
    if not pending:
        return []
    count = len(pending) if timeout is not None else 1
    ready, _ = ray.wait(list(pending), num_returns=count, timeout=timeout)
    return [(ref, pending.pop(ref)) for ref in ready]


def task_failure(ray, ref, what: str) -> BaseException | None:
    """None when the task ended well; else its own exception, or one line for a worker lost for good."""
    try:
        ray.get(ref)
        return None
    except ray.exceptions.RayError as error:
        return cause(error, what)
