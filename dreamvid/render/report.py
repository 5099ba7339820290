"""What a render tells its user, as notices (the library never prints; the CLI shows them): a first line with
the device, the size and an estimate, a second once the first frames are timed, and a last line naming what
was written, its size, frames and time."""

from __future__ import annotations

import math
import os
import time
from typing import Callable

from dreamvid.ascent.dream import octave_sizes
from dreamvid.media.outputs import is_frame_pattern, output_target
from dreamvid.notices import notify
from dreamvid.settings import Resolved

# One ascent step at 512x512 took 80 ms on the project's 2-core CPU (README "Performance", bench_speed.py),
# so about 3.1e-7 s per pixel and step there; other CPUs scale roughly with their threads. No GPU has been
# measured, so on one the estimate waits for the first frames.
CPU_SECONDS_PER_PIXEL_STEP = 0.080 / (512 * 512)
CPU_THREADS_MEASURED = 2
# Small dreams cost more than their pixels: each step's fixed work and building the model. Rough figures
# from tiny renders on the same (busy) machine, where a 64 px step took tens of milliseconds.
CPU_SECONDS_PER_STEP = 0.02
CPU_SECONDS_TO_START = 2.0
TIMED_FRAMES = 3  # frames timed after the first (which also pays for building the model) to refine the estimate


def duration_text(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes = round(seconds / 60) if seconds >= 600 else int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min" if seconds >= 600 else f"{minutes} min {seconds % 60:.0f} s"
    return f"{minutes // 60} h {minutes % 60} min"


def size_text(count: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000
    return ""


def written_bytes(path: str) -> int:
    """A file's size; a PNG sequence's, all its frames."""
    if not is_frame_pattern(path):
        return os.path.getsize(path) if os.path.isfile(path) else 0
    folder = os.path.dirname(path) or "."
    return sum(entry.stat().st_size for entry in os.scandir(folder) if entry.is_file())


def wrote(path: str, frames: int, seconds: float, sidecar: str = "") -> None:
    """The last line of every render: what it wrote, how big, how many frames, how long it took."""
    counted = "1 frame" if frames == 1 else f"{frames} frames"
    settings = f"; settings in {os.path.basename(sidecar)}" if sidecar else ""
    notify(f"wrote {output_target(path) if is_frame_pattern(path) else path} "
           f"({size_text(written_bytes(path))}, {counted}, {duration_text(seconds)}){settings}")


def pixel_steps(size: tuple[int, int], octaves: int, octave_scale: float, iterations: int) -> float:
    """Pixels times ascent steps of one dream (what its time is proportional to), plus each step's fixed cost
    in the same unit."""
    fixed = CPU_SECONDS_PER_STEP / CPU_SECONDS_PER_PIXEL_STEP
    return sum(h * w + fixed for h, w in octave_sizes(size[1], size[0], octaves, octave_scale)) * iterations


def render_pixel_steps(mode: str, settings: Resolved, size: tuple[int, int], frames: int) -> float:
    """All the dreaming a render will do: a zoom dreams each key frame alike; a clip dreams its first frame
    in full and the others with the lighter follow-up ascent (scene cuts, in full again, are not counted)."""
    full = pixel_steps(size, settings["octaves"], settings.at("octave_scale"), settings.at("iterations"))
    dreamed = math.ceil(frames / settings["cadence"])
    if mode != "video":
        return full * dreamed
    follow = pixel_steps(size, min(settings["octaves_next"], settings["octaves"]), settings.at("octave_scale"),
                         settings.at("iterations_next"))
    return full + follow * max(0, dreamed - 1)


def guess_seconds(device: str, steps: float) -> float | None:
    """A rough time before anything ran: measured on a CPU only, so None elsewhere."""
    if device != "cpu":
        return None
    import torch

    threads = max(1, torch.get_num_threads())
    return CPU_SECONDS_TO_START + steps * CPU_SECONDS_PER_PIXEL_STEP * CPU_THREADS_MEASURED / threads


def device_name(settings: Resolved) -> str:
    from dreamvid.nets.device import pick_device

    return pick_device(settings["device"]).type


def announce(what: str, device: str, size: tuple[int, int], guess: float | None) -> None:
    """The first line: what runs where, at what size, and a first guess at how long."""
    estimate = (f"about {duration_text(guess)} by a rough guess, refined after the first frames" if guess is not None
                else "an estimate follows the first frames")
    notify(f"{what} at {size[0]}x{size[1]} on {device}: {estimate}")


class FrameReport:
    """The start and the timing of a frame loop: the first line once the model is built (so that a model's
    error stays the only line), a better estimate after a few frames."""

    def __init__(self, mode: str, settings: Resolved, size: tuple[int, int], frames: int, first: int = 0,
                 workers: int = 1):
        self.mode, self.settings, self.size, self.frames, self.first = mode, settings, size, frames, first
        self.workers, self.timed_from = workers, None

    def announce(self) -> None:
        device = device_name(self.settings)
        left = self.frames - self.first
        steps = render_pixel_steps(self.mode, self.settings, self.size, self.frames) * left / max(1, self.frames)
        guess = guess_seconds(device, steps)
        where = device if self.workers == 1 else f"{self.workers} workers ({device})"
        resumed = f" (resuming at frame {self.first})" if self.first else ""
        announce(f"{self.mode}: {left} frames{resumed}", where, self.size, guess and guess / self.workers)

    def announced(self, step_from: Callable[[int], object]) -> Callable[[int], object]:
        """`step_from` that announces the render once it has built its model."""
        def built(first: int):
            step = step_from(first)
            self.announce()
            return step

        return built

    def frame_done(self, t: int) -> None:
        """After frame t: start the clock after the first frame, and refine after TIMED_FRAMES more."""
        if t == self.first:
            self.timed_from = time.monotonic()
        elif self.timed_from is not None and t == self.first + TIMED_FRAMES and t + 1 < self.frames:
            each = (time.monotonic() - self.timed_from) / TIMED_FRAMES
            notify(f"{duration_text(each)} a frame: about {duration_text(each * (self.frames - t - 1))} left")
