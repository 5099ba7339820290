"""Writing video through one ffmpeg process per file; ffmpeg's own errors reach the user, and a
file appears under its final name only when ffmpeg succeeded."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from dreamvid import ffmpeg
from dreamvid.errors import UserError
from dreamvid.ffmpeg import FRAME_PATTERN, even_size, ffmpeg_exe, ffmpeg_message, fps_fraction, read_log, stop

@dataclass(frozen=True)
class AudioSource:
    """The stretch of a file's audio to put under a written clip; duration None: to the source's end."""

    path: str
    start: float = 0.0
    duration: float | None = None


@dataclass(frozen=True)
class _Format:
    encoder: str
    pix_fmt: str
    crf: int | None  # default quality; None where the encoder has no such knob
    audio_codec: str | None  # None: this format carries no audio
    extra: tuple[str, ...] = ()


_H264 = _Format("libx264", "yuv420p", 18, "aac")  # crf 18: visually lossless, dreams are detailed
_FORMATS = {
    ".mp4": _Format("libx264", "yuv420p", 18, "aac", ("-movflags", "+faststart")),  # playable while downloading
    ".mov": _H264,
    ".mkv": _H264,
    ".webm": _Format("libvpx-vp9", "yuv420p", 32, "libopus"),  # vp9's crf scale is 0..63
    ".gif": _Format("gif", "", None, None, ("-vf", "split[a][b];[a]palettegen[p];[b][p]paletteuse")),
}
_PNG_SEQUENCE = _Format("png", "rgb24", None, None)


# ---------------------------------------------------------------- writing


class VideoWriter:
    """Writes frames to one ffmpeg process; the file appears under its name only if ffmpeg succeeds."""

    def __init__(self, path: str, size: tuple[int, int], fps: Fraction | float, codec: str | None = None,
                 crf: int | None = None, audio: AudioSource | None = None, overwrite: bool = False):
        self.path, self.size, self.fps = path, (int(size[0]), int(size[1])), fps_fraction(fps)
        self.frames_written = 0
        self._format = _output_format(path)
        self._check_size()
        audio = audio if self._format.audio_codec else None  # GIF and PNG carry no sound
        if audio is not None:
            _check_audio(audio)
        self._output = _SequenceOutput(path, overwrite) if self._format is _PNG_SEQUENCE else _FileOutput(path, overwrite)
        self._log = tempfile.TemporaryFile()  # a file, not a pipe, so ffmpeg never blocks on a full stderr
        self._proc: subprocess.Popen | None = None
        try:
            self._proc = ffmpeg.popen(self._args(codec, crf, audio), stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=self._log)
        except BaseException:
            self.abort()
            raise

    def _check_size(self) -> None:
        width, height = self.size
        if width < 1 or height < 1:
            raise UserError(f"cannot write {self.path}: frame size {width}x{height} is empty")
        if self._format.pix_fmt == "yuv420p" and (width % 2 or height % 2):
            even = "x".join(map(str, even_size(width, height)))
            raise UserError(f"cannot write {self.path} at {width}x{height}: this format needs an even "
                            f"width and height, e.g. {even}")

    def _args(self, codec: str | None, crf: int | None, audio: AudioSource | None) -> list[str]:
        fmt, (width, height) = self._format, self.size
        encoder = codec or fmt.encoder
        args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y",
                "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
                "-r", f"{self.fps.numerator}/{self.fps.denominator}", "-i", "-"]
        if audio is not None:
            args += ["-ss", f"{audio.start:g}"] + (["-t", f"{audio.duration:g}"] if audio.duration else [])
            args += ["-i", audio.path]
        args += ["-map", "0:v:0", "-c:v", encoder]
        args += ["-pix_fmt", fmt.pix_fmt] if fmt.pix_fmt else []
        args += _quality_args(encoder, crf if crf is not None else fmt.crf)
        if encoder == "libx265" and self.path.lower().endswith((".mp4", ".mov")):
            args += ["-tag:v", "hvc1"]  # Apple players want this tag for HEVC
        args += list(fmt.extra)
        if audio is not None:
            # Not -shortest: it stops ffmpeg, so the video, when the audio ends first, and with apad
            # it overshoots by an amount that depends on how fast frames arrive. Padding the stretch
            # to its full duration (a source whose audio ends early) keeps the length exact.
            args += ["-map", "1:a:0?", "-c:a", fmt.audio_codec, "-b:a", "192k"]
            args += ["-af", f"apad=whole_dur={audio.duration:g}"] if audio.duration else []
        return args + [self._output.ffmpeg_path]

    def write(self, frame: np.ndarray) -> None:
        """Send one uint8 H x W x 3 RGB frame of exactly the writer's size."""
        width, height = self.size
        if frame.shape != (height, width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"expected a uint8 frame of shape {(height, width, 3)}, got {frame.dtype} {frame.shape}")
        if self._proc is None:
            raise ValueError(f"{self.path} is already closed")
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame).data)
        except BrokenPipeError:
            self._proc.wait()
            self._fail()
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file: wait for ffmpeg, check its exit status, then move it to its final name."""
        if self._proc is None:
            return
        try:
            try:
                self._proc.stdin.close()
            except BrokenPipeError:
                pass
            self._proc.wait()
            if self._proc.returncode != 0:
                self._fail()
            if self.frames_written == 0:
                self.abort()
                raise UserError(f"no frames were written to {self.path}")
            self._output.commit()
            self._proc = None
            self._log.close()
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Kill ffmpeg and delete the partial output; nothing appears under the final name."""
        if self._proc is not None:
            stop(self._proc)
            try:
                self._proc.stdin.close()
            except BrokenPipeError:
                pass
            self._proc = None
        self._output.discard()
        self._log.close()

    def _fail(self) -> None:
        code = self._proc.returncode
        message = ffmpeg_message(read_log(self._log)) or f"ffmpeg said nothing and exited with code {code}"
        self.abort()
        raise UserError(f"ffmpeg could not write {self.path}: {message}")

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _check_audio(audio: AudioSource) -> None:
    if not os.path.isfile(audio.path):
        raise UserError(f"no such audio source: {audio.path}")
    if audio.start < 0 or (audio.duration is not None and audio.duration <= 0):
        raise UserError(f"audio from {audio.path}: start must be >= 0 and duration > 0")


def _output_format(path: str) -> _Format:
    root, ext = os.path.splitext(path)
    ext = ext.lower()
    if ext == ".png" and FRAME_PATTERN.search(os.path.basename(root)):
        return _PNG_SEQUENCE
    if ext not in _FORMATS:
        raise UserError(f"cannot write {path}: supported outputs are {', '.join(_FORMATS)} "
                        f"and PNG sequences such as frames/%05d.png")
    return _FORMATS[ext]


def _quality_args(encoder: str, crf: int | None) -> list[str]:
    if crf is None:
        return []
    if encoder.endswith("_nvenc"):
        return ["-cq", str(crf), "-b:v", "0"]
    if encoder == "libvpx-vp9":
        return ["-crf", str(crf), "-b:v", "0"]  # constant quality needs the bitrate cap off
    return ["-crf", str(crf)]


def _check_target(path: str, overwrite: bool) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"cannot write {path}: folder {folder} does not exist")
    if os.path.exists(path) and not overwrite:
        raise UserError(f"{path} exists; pass --overwrite to replace it")


class _FileOutput:
    """One file, written as .name.partial.ext beside its final name (same extension, same muxer)."""

    def __init__(self, path: str, overwrite: bool):
        _check_target(path, overwrite)
        folder, name = os.path.split(path)
        root, ext = os.path.splitext(name)
        self.path, self.ffmpeg_path = path, os.path.join(folder, f".{root}.partial{ext}")

    def commit(self) -> None:
        os.replace(self.ffmpeg_path, self.path)

    def discard(self) -> None:
        if os.path.exists(self.ffmpeg_path):
            os.remove(self.ffmpeg_path)


class _SequenceOutput:
    """A folder of numbered PNGs, written as .folder.partial and renamed as a whole."""

    def __init__(self, pattern: str, overwrite: bool):
        self.folder, name = os.path.split(os.path.normpath(pattern))
        if not self.folder:
            raise UserError(f"cannot write {pattern}: a frame sequence needs its own folder, e.g. frames/{name}")
        if os.path.exists(self.folder) and not os.path.isdir(self.folder):
            raise UserError(f"cannot write {pattern}: {self.folder} is a file, not a folder")
        _check_target(self.folder, overwrite or (os.path.isdir(self.folder) and not os.listdir(self.folder)))
        frame_file = re.compile(FRAME_PATTERN.sub(r"\\d+", re.escape(name)) + "$")
        if os.path.isdir(self.folder) and not all(map(frame_file.match, os.listdir(self.folder))):
            raise UserError(f"{self.folder} holds files other than {name} frames; not replacing it")
        parent, base = os.path.split(self.folder)
        self.partial = os.path.join(parent, f".{base}.partial")
        self.replaced = os.path.join(parent, f".{base}.replaced")
        self.discard()  # left over from an interrupted run
        os.mkdir(self.partial)
        self.ffmpeg_path = os.path.join(self.partial, name)

    def commit(self) -> None:
        shutil.rmtree(self.replaced, ignore_errors=True)
        if os.path.isdir(self.folder):
            os.replace(self.folder, self.replaced)
        os.replace(self.partial, self.folder)
        shutil.rmtree(self.replaced, ignore_errors=True)

    def discard(self) -> None:
        shutil.rmtree(self.partial, ignore_errors=True)
