"""When each frame of a clip is shown, and which frames to dream (docs/DESIGN.md, "Frame times").

A variable-frame-rate clip (a phone's, a screen recording) stores each distinct frame once with
its own time; read at a constant rate, its held frames would be dreamed again and again. So a
clip's frames are read as stored, with their exact times (ffmpeg's `showinfo`, in the stream's
own time base), each is dreamed once, and the output repeats it for every constant-rate frame it
covers. The first dreamed frame's time is where the output's sound starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
import re
import subprocess
import tempfile

from dreamvid.errors import UserError
from dreamvid.media import process as ffmpeg
from dreamvid.media.process import ffmpeg_command, ffmpeg_message, fps_fraction, read_log, stop
from dreamvid.media.reader import VideoInfo, seconds_text, seek_args

SHOWN = re.compile(rb"\] (?:\[info\] )?n: *\d+ pts: *(-?\d+|NOPTS)\s.*?duration: *(-?\d+|NOPTS)?")
TIME_BASE = re.compile(rb"\] (?:\[info\] )?config in time_base: (\d+)/(\d+)")
FAILED = re.compile(rb"\[(?:error|fatal)\] (.*)")
MAX_PLAN_FPS = 1000  # an output rate past this is a time base, not a rate (a base rate of 1k is common)


@dataclass(frozen=True)
class FrameTime:
    """One stored frame: when it starts (seconds from the file's start, as ffmpeg times its audio
    too) and how long it lasts (None when the file does not say)."""

    start: Fraction
    duration: Fraction | None


def read_frame_times(path: str, info: VideoInfo, start: float = 0.0, duration: float | None = None,
                     max_frames: int | None = None) -> list[FrameTime]:
    """The exact times of the frames a `read_frames` of the same stretch delivers, in order."""
    bound = duration + 1.0 if duration else None  # ffmpeg's -t only bounds the work; the cut is exact below
    args = ffmpeg_command("level+info")
    args += seek_args(path, start, bound, max_frames) + ["-vf", "showinfo,scale=16:16", "-f", "null", "-"]
    with tempfile.TemporaryFile() as log:  # a file, not a pipe: showinfo writes a few lines a frame
        proc = ffmpeg.popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        try:
            code = proc.wait()
        finally:
            stop(proc)
        log.seek(0)
        times, failure = parse_showinfo(log, info.start_time)
        if code != 0 or failure:
            raise UserError(f"ffmpeg could not decode {path}: {failure or ffmpeg_message(read_log(log), 1)}")
    # the start is ffmpeg's own cut (a read of the stretch begins at the same frame); the end is ours
    end = Fraction(seconds_text(start)) + Fraction(seconds_text(duration)) if duration else None
    times = [time for time in times if end is None or time.start < end]
    times = times[:max_frames] if max_frames else times
    if not times:
        raise UserError(f"no frames to read from {path} starting at {start:g} s (clip is {info.duration:.1f} s long)")
    return times


def parse_showinfo(lines, file_start: Fraction) -> tuple[list[FrameTime], str]:
    """Frame times from showinfo's log lines, and the first decoding error ('' when none)."""
    base, times, failure = Fraction(1), [], ""
    for line in lines:
        if (shown := SHOWN.search(line)) is not None:
            pts, length = shown[1], shown[2]
            if pts == b"NOPTS":
                raise UserError("the clip's frames carry no timestamps; re-mux it (ffmpeg -i IN -c copy OUT.mkv)")
            duration = base * int(length) if length not in (None, b"NOPTS") and int(length) > 0 else None
            times.append(FrameTime(base * int(pts) - file_start, duration))
        elif (config := TIME_BASE.search(line)) is not None:
            base = Fraction(int(config[1]), int(config[2]))
        elif not failure and (error := FAILED.search(line)) is not None:
            failure = ffmpeg_message(error[1].decode(errors="replace"))
    return times, failure


@dataclass(frozen=True)
class ClipPlan:
    """The frames of a clip to dream: which stored frames, how many output frames each fills at
    the output's constant rate, and the first one's time (where the sound starts)."""

    fps: Fraction
    first_time: Fraction
    kept: tuple[int, ...]  # indices of the stored frames dreamed, in order
    repeats: tuple[int, ...]  # output frames per dreamed frame: 1 for constant-rate clips

    @property
    def output_frames(self) -> int:
        return sum(self.repeats)

    @property
    def seconds(self) -> Fraction:
        return self.output_frames / self.fps

    @property
    def is_constant_rate(self) -> bool:
        return len(self.kept) == self.output_frames


def output_slots(times: list[FrameTime], fps: Fraction) -> list[int]:
    """Each frame's first output frame at `fps` (the nearest), never before the previous frame's."""
    first, slots = times[0].start, []
    for time in times:
        slots.append(max(round((time.start - first) * fps), slots[-1] if slots else 0))
    last = times[-1].duration
    return slots + [slots[-1] + max(1, round(last * fps) if last else 1)]


def plan_at(times: list[FrameTime], fps: Fraction) -> ClipPlan:
    """Dream each frame once, shown for the output frames up to the next one's; a frame sharing its
    output frame with the next is left out (it would never be seen)."""
    slots = output_slots(times, fps)
    kept = [index for index in range(len(times)) if slots[index + 1] > slots[index]]
    repeats = [slots[index + 1] - slots[index] for index in kept]
    return ClipPlan(fps, times[0].start, tuple(kept), tuple(repeats))


def plan_clip(times: list[FrameTime], info: VideoInfo) -> ClipPlan:
    """The plan at the clip's rate; where that rate would drop frames (a variable-rate clip's average rate,
    or a raw stream's guessed 25 fps), at the rate its frames' usual interval gives, or at its base rate,
    the grid its times lie on: whichever comes first of those that drop fewest."""
    others = [rate for rate in (interval_rate(times), info.base_fps) if rate and rate <= MAX_PLAN_FPS]
    plans = [plan_at(times, fps) for fps in [info.fps] + others]
    return min(plans, key=lambda plan: len(times) - len(plan.kept))  # the first that drops fewest


def interval_rate(times: list[FrameTime]) -> Fraction | None:
    """The rate of the median interval between frames (30000/1001 for 33.367 ms), None for a single frame."""
    gaps = sorted(later.start - earlier.start for earlier, later in zip(times, times[1:]))
    median = gaps[len(gaps) // 2] if gaps else 0
    return fps_fraction(float(1 / median)) if median > 0 else None
