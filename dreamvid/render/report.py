"""What a render tells its user, as notices (the library never prints; the CLI shows them): a first line with
the device and the size, an estimate once the real work has been timed (the first octave of a still, the
first frames of a loop: a constant per CPU was 3-15x off on a busy machine), a running estimate when it
moves, and a last line naming what was written, its size, frames and time."""

from __future__ import annotations

import os
import statistics
import time
from typing import Callable

from dreamvid.ascent.dream import octave_sizes
from dreamvid.media.outputs import is_frame_pattern, output_target
from dreamvid.notices import notify
from dreamvid.settings import Resolved

# Each step's fixed cost (the network's per-call work, the optimiser's small tensors), as pixels: a 64 px
# step took tens of milliseconds on 2 cores where 512x512 took 80 ms, so a step costs about 65k pixels more
# than its own. It only weighs octaves and frames against each other; the seconds are always measured.
FIXED_PIXELS_PER_STEP = 65_000
TIMED_CYCLES = 3  # cycles timed before the first estimate, their median taken: one frame slowed by a burst
# of other work (seen: 148 s where its neighbours took 45 s) must not set the estimate
RETOLD_CHANGE = 0.25  # a running estimate is said again when it moved this much from the one last said
RETOLD_AT = (0.25, 0.5, 0.75)  # ...looked at when these shares of the frames are done


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


def octave_pixel_steps(size: tuple[int, int], octaves: int, octave_scale: float, iterations: int) -> list[float]:
    """Pixels times ascent steps of each octave of one dream (what its time is proportional to), smallest first,
    each step's fixed cost included."""
    return [(h * w + FIXED_PIXELS_PER_STEP) * iterations for h, w in octave_sizes(size[1], size[0], octaves,
                                                                                  octave_scale)]


def device_name(settings: Resolved) -> str:
    from dreamvid.nets.device import pick_device

    return pick_device(settings["device"]).type


def announce(what: str, device: str, size: tuple[int, int], timed: str | None) -> None:
    """The first line: what runs where and at what size; the estimate follows once `timed` is measured (None:
    too short to need one)."""
    estimate = f"measuring {timed} for an estimate" if timed else "too short to need an estimate"
    notify(f"{what} at {size[0]}x{size[1]} on {device}: {estimate}")


def estimate(elapsed: float, done: float, left: float) -> float:
    """Seconds left, from the time `elapsed` that work `done` took (`left` in the same unit)."""
    return elapsed * left / max(done, 1e-9)


class StillReport:
    """A still's first line once the model is built, and its estimate once the first octave (or step) is timed."""

    def __init__(self, size: tuple[int, int], settings: Resolved, device: str):
        self.octaves = octave_pixel_steps(size, settings["octaves"], settings.at("octave_scale"),
                                          settings.at("iterations"))
        steps = settings.at("iterations") * len(self.octaves)
        timed = None if steps <= 1 else "the first step" if len(self.octaves) == 1 else "the first octave"
        announce("image", device, size, timed)
        self.started, self.told = time.monotonic(), False

    def step_done(self, octave: int, octave_done: bool, step: int, total: int) -> None:
        if self.told or total <= 1:
            return
        if len(self.octaves) == 1:
            done, left = self.octaves[0] * step / total, self.octaves[0] * (total - step) / total
        elif octave_done and octave == 0:
            done, left = self.octaves[0], sum(self.octaves[1:])
        else:
            return
        self.told = True
        notify(f"about {duration_text(estimate(time.monotonic() - self.started, done, left))} left")


class FrameReport:
    """The start and the timing of a frame loop: the first line once the model is built (so that a model's
    error stays the only line), an estimate from the first frames' own time, said again when it moves."""

    def __init__(self, mode: str, settings: Resolved, size: tuple[int, int], frames: int, first: int = 0,
                 workers: int = 1):
        self.mode, self.settings, self.size, self.frames, self.first = mode, settings, size, frames, first
        self.workers, self.timed_from, self.told, self.cycle_times = workers, None, None, []
        # frames per timed cycle: one dreamed frame and the frames made between dreamed ones
        self.cycle = max(1, int(settings["cadence"]))
        count = frames - first
        self.retold_after = {round(share * count / self.cycle) * self.cycle for share in RETOLD_AT}

    def announce(self) -> None:
        device = device_name(self.settings)
        left = self.frames - self.first
        where = device if self.workers == 1 else f"{self.workers} workers ({device})"
        resumed = f" (resuming at frame {self.first})" if self.first else ""
        dreamed = f", {self.dreamed(left)} of them dreamed" if self.cycle > 1 else ""
        timed = "the first frames" if left > self.cycle + 1 else None
        announce(f"{self.mode}: {left} frames{dreamed}{resumed}", where, self.size, timed)

    def dreamed(self, frames: int) -> int:
        """Frames dreamed at this cadence: a zoom also dreams the key frame after its last, to blend toward."""
        return -(-(frames - 1) // self.cycle) + 1 if self.mode == "zoom" else -(-frames // self.cycle)

    def announced(self, step_from: Callable[[int], object]) -> Callable[[int], object]:
        """`step_from` that announces the render once it has built its model."""
        def built(first: int):
            step = step_from(first)
            self.announce()
            return step

        return built

    def frame_done(self, t: int) -> None:
        """After frame t: the clock starts after the first frame (which also pays for the model's first calls
        and, for a clip, a full dream); the estimate comes after TIMED_CYCLES cycles more (fewer in a short
        render), then again where it moved."""
        now = time.monotonic()
        if t == self.first:
            self.timed_from = self.cycle_started = now
            return
        done, left = t - self.first, self.frames - t - 1
        if self.timed_from is None or left <= 0 or done % self.cycle:
            return
        self.cycle_times.append((now - self.cycle_started) / self.cycle)
        self.cycle_started = now
        if self.told is None:
            wanted = TIMED_CYCLES - len(self.cycle_times)
            if wanted <= 0 or left <= wanted * self.cycle:  # timed enough, or a short render about to end
                self.tell(statistics.median(self.cycle_times), left)
        elif done in self.retold_after:
            each = (now - self.timed_from) / done
            if self.moved(each * left, now):
                self.tell(each, left)

    def tell(self, each: float, left: int) -> None:
        self.told = (time.monotonic(), each * left)
        notify(f"{duration_text(each)} a frame: about {duration_text(each * left)} left")

    def moved(self, seconds_left: float, now: float) -> bool:
        """Whether `seconds_left` differs by more than RETOLD_CHANGE from what the last estimate said is left now."""
        said_at, said = self.told
        promised = max(0.0, said - (now - said_at))
        return abs(seconds_left - promised) > RETOLD_CHANGE * max(promised, 1.0)
