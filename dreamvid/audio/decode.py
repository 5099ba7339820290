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

# 22050 Hz keeps everything up to 11 kHz (all the bands the features read) at half of CD's cost.
RATE = 22050


def decode_pcm(path: str, rate: int = RATE, start: float = 0.0, duration: float | None = None) -> np.ndarray:
    """The first audio stream of `path` as float32 mono samples at `rate` Hz, from `start` seconds on."""
    if not os.path.isfile(path):
        raise UserError(f"no such audio file: {path}")
    if rate <= 0 or start < 0 or (duration is not None and duration <= 0):
        raise UserError(f"cannot read {path}: rate and duration must be > 0, start >= 0")
    raw, err, code = _run(_decode_args(path, rate, start, duration))
    if code != 0:
        raise UserError(_failure(path, err))
    if not raw:
        raise UserError(f"no audio to read from {path} starting at {start:g} s")
    return np.frombuffer(raw[: len(raw) // 4 * 4], dtype="<f4").astype(np.float32)


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
