"""A clip's shots dreamed on Ray workers, joined on the driver with the sound (`--workers N`, `--ray ADDRESS`).

The driver finds the fresh starts ahead (render/shots.py) and hands each shot to a Ray task as soon as
the next start closes it; each task dreams its shot into the state folder (render/shot_render.py). A
worker that dies is retried by Ray and resumes from its shot's checkpoint; `--resume` after the driver
died dreams only the unfinished shots. One progress bar counts every frame written by any worker.
"""

from __future__ import annotations

from dataclasses import replace
import os
import socket
import time

from tqdm import tqdm

from dreamvid.distributed import faults as fault_hooks
from dreamvid.distributed.cluster import Workers, connected, finished_tasks, import_ray, progress_actor, task_failure
from dreamvid.distributed.faults import Faults
from dreamvid.distributed.shot_render import assemble_shared_segments, is_shot_done, render_shot
from dreamvid.distributed.shots import Shot, fade_weights, fresh_starts, piece_frames, plan_shots, remembered_starts
from dreamvid.errors import Interrupted, UserError
from dreamvid.nets.device import usable_cores
from dreamvid.notices import notify
from dreamvid.render.clip import ClipWork
from dreamvid.render.identity import render_identity
from dreamvid.render.lock import output_lock
from dreamvid.render.loop import FrameJob, finish_render
from dreamvid.render.report import FrameReport
from dreamvid.render.resume import discard_state, prepare_state, save_state
from dreamvid.settings import Resolved
from dreamvid.settings.files import FILE_SETTINGS, names_file

RETRIES = 3  # a worker process that dies (killed, out of memory, its machine gone) is started again this often
POLL_SECONDS = 0.5
PLACEMENT_SETTINGS = ("workers", "ray")  # where the shots are dreamed, not what: a resume may change them


def shots_identity(job: FrameJob) -> dict:
    settings = {key: value for key, value in job.settings.values.items() if key not in PLACEMENT_SETTINGS}
    return render_identity("video-shots", job.input_path, settings, job.size, job.audio_digest)


def absolute(job: FrameJob, work: ClipWork) -> tuple[FrameJob, ClipWork]:
    """Every path made absolute: a worker runs in a folder of its own, maybe on another machine."""
    values = dict(work.settings.values)
    values.update({name: os.path.abspath(values[name]) for name in FILE_SETTINGS
                   if names_file(name, values.get(name))})
    settings = Resolved(values, fps=work.settings.fps, audio=work.settings.audio)
    path = os.path.abspath(work.input_path)
    return (replace(job, input_path=path, output_path=os.path.abspath(job.output_path), settings=settings),
            replace(work, input_path=path, settings=settings, engine=None))  # each worker builds its own


def check_visible(*paths: str) -> None:
    for path in paths:
        if not os.path.exists(path):
            raise UserError(f"{path} cannot be seen from {socket.gethostname()}: a render on a Ray cluster needs "
                            f"its input and output on a filesystem every machine mounts at the same path")


def shot_task(job: FrameJob, work: ClipWork, folder: str, shot: Shot, threads: int, faults: Faults | None,
              progress) -> int:
    """One shot, in a Ray worker process."""
    import torch

    torch.set_num_threads(min(threads, usable_cores()))  # its share, within what this machine lets it use
    check_visible(job.input_path, folder)
    step_from = fault_hooks.with_faults(work.step_from, faults)
    render_shot(job, work, folder, shot, lambda done: progress.report.remote(shot.name, done), step_from)
    return shot.frames


class ShotRun:
    """The driver's side of one render: the tasks in flight, the progress bar, the finished shots."""

    def __init__(self, workers: Workers, job: FrameJob, work: ClipWork, folder: str, bar: tqdm,
                 faults: Faults | None = None):
        self.ray, self.job, self.work, self.folder, self.bar = import_ray(), job, work, folder, bar
        self.task = self.ray.remote(shot_task).options(**workers.options, max_retries=RETRIES)
        self.threads, self.progress = workers.threads, progress_actor(self.ray)
        self.pending: dict = {}
        self.shots: list[Shot] = []
        self.kept = self.finished = 0  # frames of shots finished before this run; shots finished in it
        self.faults, self.polled = faults, 0.0

    def submit(self, shot: Shot) -> None:
        if is_shot_done(self.job, self.folder, shot):
            self.kept += shot.frames
        else:
            ref = self.task.remote(self.job, self.work, self.folder, shot, self.threads, self.faults, self.progress)
            self.pending[ref] = shot
        self.poll(0)

    def poll(self, timeout: float) -> None:
        """Collect finished tasks (raising a task's own error) and move the bar, at most every POLL_SECONDS."""
        if timeout == 0 and time.monotonic() - self.polled < POLL_SECONDS:
            return
        self.polled = time.monotonic()
        for ref, shot in finished_tasks(self.ray, self.pending, timeout):
            self.collect(ref, shot)
        done = self.kept + self.ray.get(self.progress.total.remote())
        if done != self.bar.n:
            self.bar.update(done - self.bar.n)

    def collect(self, ref, shot: Shot) -> None:
        failure = task_failure(self.ray, ref, f"frames {shot.first}-{shot.stop - 1}")
        if failure is not None:
            raise failure
        self.finished += 1
        fault_hooks.driver_exit(self.faults, self.finished)

    def run(self) -> None:
        piece, warmup = piece_frames(self.work.settings)
        starts = remembered_starts(fresh_starts(self.work, lambda: self.poll(0)), self.folder)
        for shot in plan_shots(starts, self.job.frames, piece, warmup, self.job.settings["checkpoint_frames"]):
            self.shots.append(shot)
            self.submit(shot)
        if len(self.shots) == 1:
            notify("the clip is one shot (no scene cut was found), so one worker dreams it; --max-shot-seconds "
                   "splits long shots")
        while self.pending:
            self.poll(POLL_SECONDS)

    def cancel(self) -> None:
        for ref in self.pending:
            self.ray.cancel(ref, force=True)


def render_shots(job: FrameJob, work: ClipWork, overwrite: bool, resume: bool, progress: bool = True,
                 faults: Faults | None = None) -> str:
    """Dream the clip's shots on Ray workers into the state folder, then join them with the sound;
    returns the output's path. `faults`: the tests' (faults.py)."""
    import_ray()  # without it, one line before anything is written
    with output_lock(job.output_path):
        folder, driver, _ = prepare_state(job.output_path, shots_identity(job), resume, overwrite)
        save_state(folder, driver, {})
        FrameReport(job.mode, job.settings, job.size, job.frames, workers=job.settings["workers"]).announce()
        job, work = absolute(job, work)
        folder = os.path.abspath(folder)
        try:
            shots = dream_shots(job, work, folder, progress, faults)
        except KeyboardInterrupt:
            raise Interrupted(job.output_path, None, job.frames) from None
        except BaseException:
            if not os.path.isdir(os.path.join(folder, "shots")):
                discard_state(folder)  # nothing dreamed yet: nothing to resume, so leave nothing
            raise
        return finish_render(job, folder, assemble_shared_segments(job, folder, fade_weights(shots), driver),
                             overwrite or resume)


def dream_shots(job: FrameJob, work: ClipWork, folder: str, progress: bool, faults: Faults | None) -> list[Shot]:
    """Every shot dreamed into the state folder, on the workers asked for; returns the shots."""
    settings = job.settings
    with connected(settings["workers"], settings["ray"], settings["device"]) as workers, \
            tqdm(total=job.frames, unit="frame", desc="video", dynamic_ncols=True, disable=not progress) as bar:
        run = ShotRun(workers, job, work, folder, bar, faults)
        try:
            run.run()
        except BaseException:
            run.cancel()
            raise
    return run.shots
