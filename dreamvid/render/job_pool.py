"""`dreamvid render JOB.toml JOB.toml ... --workers N`: whole renders side by side on Ray workers.

Each job renders in one worker process, with its share of the cores (or a GPU of its own), as
`dreamvid render JOB.toml` would; a single job file is given the workers instead, for its shots.
"""

from __future__ import annotations

import os

from tqdm import tqdm

from dreamvid.errors import UserError
from dreamvid.render.cluster import cause, connected, import_ray
from dreamvid.render.jobs import render_job

ONE_PROCESS = {"workers": 1, "ray": ""}  # a job inside a pool renders in its own worker, not on more workers


def job_task(path: str, overwrite: bool, resume: bool, threads: int) -> None:
    """One whole job, in a Ray worker process (no progress bar: many would interleave)."""
    import torch

    torch.set_num_threads(threads)
    os.environ["TQDM_DISABLE"] = "1"
    render_job(path, overwrite, resume, ONE_PROCESS)


def placement(workers: int | None, address: str | None) -> dict:
    given = {"workers": workers, "ray": address}
    return {name: value for name, value in given.items() if value is not None}


def render_jobs(paths: list[str], overwrite: bool, resume: bool, workers: int | None = None,
                address: str | None = None) -> None:
    """One job: rendered here (its shots on the workers asked for); several: N of them at a time."""
    if len(paths) == 1 or not (workers and workers > 1 or address):
        for path in paths:
            render_job(path, overwrite, resume, placement(workers, address))
        return
    with connected(workers or 1, address or "") as pool:
        ray = import_ray()
        task = ray.remote(job_task).options(**pool.options, max_retries=0)  # a rerun would find its own state folder
        pending = {task.remote(os.path.abspath(path), overwrite, resume, pool.threads): path for path in paths}
        failures = []
        with tqdm(total=len(paths), unit="job", desc="render", dynamic_ncols=True) as bar:
            while pending:
                ready, _ = ray.wait(list(pending))
                for ref in ready:
                    failures += job_failure(ray, ref, pending.pop(ref))
                    bar.update()
    if failures:
        raise UserError(f"{len(failures)} of {len(paths)} jobs failed: {'; '.join(failures)}")


def job_failure(ray, ref, path: str) -> list[str]:
    try:
        ray.get(ref)
        return []
    except ray.exceptions.RayError as error:
        return [f"{path}: {cause(error, 'the job')}"]
