"""Reading clips: what ffmpeg says about them (exact frame rate, size, sound) and their frames."""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
import os
import re
import subprocess
import tempfile
from typing import Iterator

import numpy as np

from dreamvid.errors import UserError
from dreamvid.media import process as ffmpeg
from dreamvid.media.outputs import is_frame_pattern
from dreamvid.media.process import (clock_seconds, ffmpeg_command, ffmpeg_exe, ffmpeg_message, file_url, fps_fraction,
                                     pattern_url, read_log, stop)


@dataclass(frozen=True)
class VideoInfo:
    """What ffmpeg reports about a clip's first video stream."""

    width: int
    height: int
    fps: Fraction
    duration: float  # seconds; 0.0 when the container does not say
    frame_count: int  # estimated as round(duration * fps)
    has_audio: bool
    start_time: Fraction = Fraction(0)  # the file's first timestamp: ffmpeg counts every input's time from it
    base_fps: Fraction | None = None  # ffmpeg's base rate (tbr): the grid a variable-rate clip's times lie on

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


# ---------------------------------------------------------------- probing


def probe_video(path: str) -> VideoInfo:
    """Size, exact frame rate, duration and audio presence of a clip, from `ffmpeg -i`."""
    is_pattern = is_frame_pattern(path)
    if not is_pattern and not os.path.isfile(path):
        raise UserError(f"no such video file: {path}")
    err = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", input_url(path)],
                         stdin=subprocess.DEVNULL, capture_output=True).stderr.decode(errors="replace")
    demuxer = re.search(r"^Input #0, (.+?), from ", err, re.M)
    if demuxer is None:
        raise UserError(f"{path} is not a video ffmpeg can read ({ffmpeg_message(err, 1)})")
    if not is_pattern and (demuxer[1] == "image2" or demuxer[1].endswith("_pipe")):
        raise UserError(f"{path} is a still image, not a video")
    stream = _video_stream(err)
    if stream is None:
        raise UserError(f"{path} has no video stream")
    info = _parse_stream(stream, _duration(err), has_audio=re.search(r"Stream #.*: Audio:", err) is not None)
    return replace(info, start_time=_start_time(err))


def input_url(path: str) -> str:
    """A clip (or frame pattern) as ffmpeg's -i must get it, whatever characters its name holds."""
    return pattern_url(path) if is_frame_pattern(path) else file_url(path)


def _video_stream(err: str) -> str | None:
    """The first real video stream's text (its line and side data); cover art does not count."""
    for block in re.split(r"\n(?=\s*Stream #)", err):
        head = block.strip().split("\n", 1)[0]
        if re.match(r"Stream #\S+: Video:", head) and "(attached pic)" not in head:
            return block
    return None


def _parse_stream(stream: str, duration: float, has_audio: bool) -> VideoInfo:
    head = stream.strip().split("\n", 1)[0]
    size = re.search(r",\s*(\d+)x(\d+)(?=[\s,]|$)", head)
    average, base = _rate(head, "fps"), _rate(head, "tbr")
    if size is None or (average or base) is None:
        raise UserError(f"cannot read the video size or frame rate from ffmpeg's report: {head}")
    width, height = int(size[1]), int(size[2])
    if re.search(r"rotation of -?(90|270)\.", stream):  # ffmpeg turns such frames upright when decoding
        width, height = height, width
    # The average rate can be a little off (24.02 for a 24 fps mp4 with an audio track); the base
    # rate (tbr) is exact for constant-rate video, so prefer it when the two nearly agree.
    nearly_agree = average and base and abs(average - base) < 0.01 * base
    fps = fps_fraction(base if nearly_agree or average is None else average)
    base_fps = fps_fraction(base) if base else None
    return VideoInfo(width, height, fps, duration, round(duration * fps), has_audio, base_fps=base_fps)


def _rate(head: str, unit: str) -> float | None:
    found = re.search(rf"([\d.]+)(k?) {unit}\b", head)
    return None if found is None else float(found[1]) * (1000 if found[2] else 1)


def _duration(err: str) -> float:
    return clock_seconds(err, "Duration: ") or 0.0


def _start_time(err: str) -> Fraction:
    found = re.search(r"Duration: .*?, start: (-?\d+\.\d+)", err)  # printed to the microsecond ffmpeg keeps
    return Fraction(0) if found is None else Fraction(found[1])


# ---------------------------------------------------------------- reading


def seek_args(path: str, start: float = 0.0, duration: float | None = None,
              max_frames: int | None = None) -> list[str]:
    """The input side of every read of a clip, so that each read delivers the very same frames.

    -copyts: frame times stay the file's own (an -ss seek would shift them by the seek target rounded
    to the stream's time base, a frame off in a 1/12 s base); passthrough: each stored frame once."""
    args = ["-copyts"] + (["-ss", seconds_text(start)] if start else [])
    args += ["-t", seconds_text(duration)] if duration else []
    args += ["-i", input_url(path), "-map", "0:v:0", "-fps_mode", "passthrough"]
    return args + (["-frames:v", str(max_frames)] if max_frames else [])


def seconds_text(seconds: float) -> str:
    """Seconds as ffmpeg reads them, to the microsecond it keeps (`:g` would round 1234.5678 to 1234.57)."""
    return f"{seconds:.6f}"


def read_frames(path: str, size: tuple[int, int] | None = None, start: float = 0.0,
                duration: float | None = None, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Decoded RGB frames of a clip, each stored frame once, optionally scaled to size=(w, h) and
    limited to a stretch (from the first frame at or after `start`)."""
    info = probe_video(path)
    if start < 0 or (duration is not None and duration <= 0) or (max_frames is not None and max_frames < 1):
        raise UserError(f"cannot read {path}: start must be >= 0, duration and max frames > 0")
    width, height = size or info.size
    args = ffmpeg_command()
    args += seek_args(path, start, duration, max_frames)
    args += ["-vf", f"scale={width}:{height}:flags=area"] if (width, height) != info.size else []
    args += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    return _decode(args, path, (height, width, 3), f"starting at {start:g} s (clip is {info.duration:.1f} s long)")


def _decode(args: list[str], path: str, shape: tuple[int, int, int], where: str) -> Iterator[np.ndarray]:
    log = tempfile.TemporaryFile()  # a file, not a pipe, so ffmpeg never blocks on a full stderr
    proc = ffmpeg.popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
    try:
        count = 0
        while True:
            frame = np.empty(shape, np.uint8)
            if proc.stdout.readinto(memoryview(frame).cast("B")) < frame.nbytes:
                break
            if os.fstat(log.fileno()).st_size:  # a decoding error: fail now, not after hours of dreaming
                raise UserError(f"ffmpeg could not decode {path}: {ffmpeg_message(read_log(log), 1)}")
            count += 1
            yield frame
        if proc.wait() != 0 or os.fstat(log.fileno()).st_size:
            raise UserError(f"ffmpeg could not decode {path}: {ffmpeg_message(read_log(log), 1)}")
        if count == 0:
            raise UserError(f"no frames to read from {path} {where}")
    finally:
        stop(proc)
        proc.stdout.close()
        log.close()
