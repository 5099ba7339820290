"""Decode any sound ffmpeg can read (mp3, wav, flac, m4a, a video's audio) to float32 mono PCM."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile

import numpy as np

# The one place that names the process plumbing (moving to dreamvid/media/process.py); calls go through
# the module, so tests that watch `popen` there see these processes too.
from dreamvid.media import process
from dreamvid.errors import UserError
from dreamvid.notices import notify

# 22050 Hz keeps everything up to 11 kHz (all the bands the features read) at half of CD's cost.
RATE = 22050
CUT_TOLERANCE = 0.5  # seconds short of the stated duration before we say the file was cut (mp3 padding is ~0.05)


def decode_pcm(path: str, rate: int = RATE, start: float = 0.0, duration: float | None = None) -> np.ndarray:
    """The first audio stream of `path` as float32 mono samples at `rate` Hz, from `start` seconds on."""
    if os.path.isdir(path):
        raise UserError(f"{path} is a directory, not a sound file")
    if not os.path.isfile(path):
        raise UserError(f"no such audio file: {path}")
    if rate <= 0 or start < 0 or (duration is not None and duration <= 0):
        raise UserError(f"cannot read {path}: rate and duration must be > 0, start >= 0")
    raw, err, code = _run(_decode_args(path, rate, start, duration))
    if code != 0:
        raise UserError(_failure(path, err))
    if not raw:
        raise UserError(f"no audio to read from {path} starting at {start:g} s")
    pcm = np.frombuffer(raw[: len(raw) // 4 * 4], dtype="<f4").astype(np.float32)
    _notice_if_cut(path, len(pcm) / rate, start, duration)
    return pcm


def _notice_if_cut(path: str, read: float, start: float, duration: float | None) -> None:
    """A notice when the file held less sound than its header states: a download or copy cut short."""
    stated = stated_duration(path)
    expected = stated - start if duration is None else min(duration, stated - start)
    if stated and read < expected - CUT_TOLERANCE:
        notify(f"{path} ends early: read {read:.1f} s of the {stated:.1f} s it states (cut short?)")
    elif ogg_cut(path):  # an Ogg file states no duration (ffmpeg reads it off the last page), but ends with a mark
        notify(f"{path} ends early: read {read:.1f} s, and the file stops before its end-of-stream mark "
               "(cut short?)")


def stated_duration(path: str) -> float:
    """The duration the file's header states, in seconds, as ffmpeg reports it (0.0 when none, or when
    the file holds a video: its duration is the picture's, which the sound may rightly fall short of)."""
    _, err, _ = _run([process.ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", "file:" + os.path.abspath(path)])
    if re.search(r"Stream #.*: Video: (?!.*attached pic)", err):
        return 0.0
    return process.clock_seconds(err, "Duration: ") or 0.0


OGG_TAIL = 1 << 16  # an Ogg page is at most 65307 bytes, so the last one starts within this many


def ogg_cut(path: str) -> bool:
    """Whether an Ogg file's last page is incomplete or lacks the end-of-stream flag (RFC 3533)."""
    with open(path, "rb") as file:
        if file.read(4) != b"OggS":
            return False
        file.seek(max(0, os.path.getsize(path) - OGG_TAIL))
        tail = file.read()
    page = tail.rfind(b"OggS")
    if page < 0 or len(tail) < page + 27:
        return True
    segments = tail[page + 27:page + 27 + tail[page + 26]]
    complete = len(segments) == tail[page + 26] and len(tail) >= page + 27 + len(segments) + sum(segments)
    return not (complete and tail[page + 5] & 0x04)


def _decode_args(path: str, rate: int, start: float, duration: float | None) -> list[str]:
    # "file:" + an absolute path: a name starting with "-", or holding ":" "#" "%", stays a plain file name.
    args = process.ffmpeg_command()
    args += ["-ss", f"{start:.6f}"] if start else []
    args += ["-t", f"{duration:.6f}"] if duration else []
    args += ["-i", "file:" + os.path.abspath(path), "-map", "0:a:0", "-vn", "-sn", "-dn"]
    # ffmpeg's mono downmix sums stereo at 0.707 each (a centred sound comes out 3 dB louder); capping the
    # mix matrix at 1 makes it the average. f32le keeps the decoder's precision (no 16-bit rounding).
    return args + ["-ac", "1", "-rematrix_maxval", "1.0", "-ar", str(rate), "-f", "f32le", "-"]


def _run(args: list[str]) -> tuple[bytes, str, int]:
    """ffmpeg's stdout, stderr and exit code; stderr goes to a file so ffmpeg never blocks on it."""
    with tempfile.TemporaryFile() as log:
        proc = process.popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
        try:
            raw = proc.stdout.read()
            code = proc.wait()
        finally:
            process.stop(proc)
            proc.stdout.close()
        return raw, process.read_log(log), code


def _failure(path: str, err: str) -> str:
    """One line saying why ffmpeg could not give us sound from `path`."""
    if re.search(r"matches no streams|does not contain any stream", err):
        return f"{path} has no audio stream"
    # Our "file:/abs/path" in ffmpeg's text would only confuse: the user typed `path`.
    message = process.ffmpeg_message(err, 1).replace("file:" + os.path.abspath(path), path)
    message = re.sub(r"^Error opening input files?: ", "", message)
    return f"{path} is not audio ffmpeg can read ({message or 'ffmpeg failed'})"
