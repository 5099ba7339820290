"""`dreamvid render JOB.toml JOB.toml ... --workers N`: whole renders side by side on Ray workers.

Each job renders in one worker process, with its share of the cores (or a GPU of its own), as
`dreamvid render JOB.toml` would; a single job file is given the workers instead, for its shots
(dreamvid.api decides which).
"""

from __future__ import annotations

import os

from tqdm import tqdm

from dreamvid.distributed.cluster import connected, finished_tasks, import_ray, task_failure
from dreamvid.errors import UserError
from dreamvid.media.pictures import check_picture_output
from dreamvid.media.segments import check_video_output
from dreamvid.nets.device import usable_cores
from dreamvid.render.jobs import job_settings, render_job_here
from dreamvid.render.resume import check_no_state

ONE_PROCESS = {"workers": 1, "ray": ""}  # a job inside a pool renders in its own worker, not on more workers


def job_task(path: str, overwrite: bool, resume: bool, threads: int) -> None:
    """One whole job, in a Ray worker process, in that process only (no progress bar: many would interleave)."""
    import torch

    torch.set_num_threads(min(threads, usable_cores()))  # its share, within what this machine lets it use
    render_job_here(path, overwrite, resume, progress=False)


def check_outputs(paths: list[str], overwrite: bool, resume: bool) -> None:
    """Each job's output refused here, before the cluster takes seconds to start, as its worker would refuse it."""
    for path in paths:
        mode, _, output, _ = job_settings(path)
        if mode == "image":
            check_picture_output(output, overwrite)
        elif not resume:
            check_video_output(output, overwrite)
            check_no_state(output, overwrite)


def render_jobs(paths: list[str], overwrite: bool, resume: bool, workers: int, address: str) -> None:
    """Several job files, `workers` of them at a time (each in its own worker process)."""
    check_outputs(paths, overwrite, resume)
    with connected(workers, address) as pool:
        ray = import_ray()
        task = ray.remote(job_task).options(**pool.options, max_retries=0)  # a rerun would find its own state folder
        pending = {task.remote(os.path.abspath(path), overwrite, resume, pool.threads): path for path in paths}
        failures = []
        with tqdm(total=len(paths), unit="job", desc="render", dynamic_ncols=True) as bar:
            while pending:
                for ref, path in finished_tasks(ray, pending):
                    failure = task_failure(ray, ref, "the job")
                    failures += [f"{path}: {failure}"] if failure is not None else []
                    bar.update()
    if failures:
        raise UserError(f"{len(failures)} of {len(paths)} jobs failed: {'; '.join(failures)}")
