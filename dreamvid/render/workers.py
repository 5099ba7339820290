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

from dreamvid.errors import UserError
from dreamvid.notices import notify
from dreamvid.render import faults
from dreamvid.render.clip import ClipWork
from dreamvid.render.cluster import Workers, cause, connected, import_ray, progress_actor
from dreamvid.render.loop import FrameJob, finish_render
from dreamvid.render.resume import FILE_SETTINGS, RenderState, discard_state, fingerprint, prepare_state, save_state
from dreamvid.render.shot_render import assemble_shared_segments, is_shot_done, render_shot
from dreamvid.render.shots import Shot, fade_weights, fresh_starts, piece_frames, plan_shots, remembered_starts
from dreamvid.settings import Resolved

RETRIES = 3  # a worker process that dies (killed, out of memory, its machine gone) is started again this often
POLL_SECONDS = 0.5
PLACEMENT_SETTINGS = ("workers", "ray")  # where the shots are dreamed, not what: a resume may change them


def shots_fingerprint(job: FrameJob) -> str:
    settings = {key: value for key, value in job.settings.items() if key not in PLACEMENT_SETTINGS}
    return fingerprint("video-shots", job.input_path, settings, job.size, job.audio_digest)


def absolute(job: FrameJob, work: ClipWork) -> tuple[FrameJob, ClipWork]:
    """Every path made absolute: a worker runs in a folder of its own, maybe on another machine."""
    values = dict(work.settings.values)
    values.update({name: os.path.abspath(values[name]) for name in FILE_SETTINGS if values.get(name)})
    settings = Resolved(values, fps=work.settings.fps, audio=work.settings.audio)
    path = os.path.abspath(work.input_path)
    return (replace(job, input_path=path, output_path=os.path.abspath(job.output_path)),
            replace(work, input_path=path, settings=settings))


def check_visible(*paths: str) -> None:
    for path in paths:
        if not os.path.exists(path):
            raise UserError(f"{path} cannot be seen from {socket.gethostname()}: a render on a Ray cluster needs "
                            f"its input and output on a filesystem every machine mounts at the same path")


def shot_task(job: FrameJob, work: ClipWork, folder: str, shot: Shot, threads: int, fault_plan: dict,
              progress) -> int:
    """One shot, in a Ray worker process."""
    import torch

    torch.set_num_threads(threads)
    check_visible(job.input_path, folder)
    step_from = faults.with_faults(work.step_from, fault_plan)
    render_shot(job, work, folder, shot, lambda done: progress.report.remote(shot.name, done), step_from)
    return shot.frames


class ShotRun:
    """The driver's side of one render: the tasks in flight, the progress bar, the finished shots."""

    def __init__(self, workers: Workers, job: FrameJob, work: ClipWork, folder: str, bar: tqdm):
        self.ray, self.job, self.work, self.folder, self.bar = import_ray(), job, work, folder, bar
        self.task = self.ray.remote(shot_task).options(**workers.options, max_retries=RETRIES)
        self.threads, self.progress = workers.threads, progress_actor(self.ray)
        self.pending: dict = {}
        self.shots: list[Shot] = []
        self.kept = self.finished = 0  # frames of shots finished before this run; shots finished in it
        self.faults, self.polled = faults.faults_from_environment(), 0.0

    def submit(self, shot: Shot) -> None:
        if is_shot_done(self.folder, shot):
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
        if self.pending:
            ready, _ = self.ray.wait(list(self.pending), num_returns=len(self.pending), timeout=timeout)
            for ref in ready:
                self.collect(ref, self.pending.pop(ref))
        done = self.kept + self.ray.get(self.progress.total.remote())
        if done != self.bar.n:
            self.bar.update(done - self.bar.n)

    def collect(self, ref, shot: Shot) -> None:
        try:
            self.ray.get(ref)
        except self.ray.exceptions.RayError as error:
            raise cause(error, f"frames {shot.first}-{shot.stop - 1}") from None
        self.finished += 1
        faults.driver_exit(self.faults, self.finished)

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


def render_shots(job: FrameJob, work: ClipWork, overwrite: bool, resume: bool) -> None:
    """Dream the clip's shots on Ray workers into the state folder, then join them with the sound."""
    import_ray()  # without it, one line before anything is written
    expected = shots_fingerprint(job)
    folder, _, _ = prepare_state(job.output_path, expected, resume, overwrite)
    save_state(folder, RenderState(expected), {})
    job, work = absolute(job, work)
    folder = os.path.abspath(folder)
    try:
        shots = dream_shots(job, work, folder)
    except KeyboardInterrupt:
        raise KeyboardInterrupt("interrupted; the same command with --resume continues (the finished shots and "
                                "each shot's last checkpoint are kept)") from None
    except BaseException:
        if not os.path.isdir(os.path.join(folder, "shots")):
            discard_state(folder)  # nothing dreamed yet: nothing to resume, so leave nothing
        raise
    finish_render(job, folder, assemble_shared_segments(job, folder, fade_weights(shots)), overwrite or resume)


def dream_shots(job: FrameJob, work: ClipWork, folder: str) -> list[Shot]:
    """Every shot dreamed into the state folder, on the workers asked for; returns the shots."""
    settings = job.settings
    with connected(settings["workers"], settings["ray"], settings["device"]) as workers, \
            tqdm(total=job.frames, unit="frame", desc="video", dynamic_ncols=True) as bar:
        run = ShotRun(workers, job, work, folder, bar)
        try:
            run.run()
        except BaseException:
            run.cancel()
            raise
    return run.shots
