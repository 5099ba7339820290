"""Writing video through one ffmpeg process per file; ffmpeg's own errors reach the user, and a
file appears under its final name only when ffmpeg succeeded."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
import os
import shutil
import subprocess
import tempfile

import numpy as np

from dreamvid.errors import UserError, reported_write_failure, writing
from dreamvid.media import process
from dreamvid.media.outputs import check_new_output, is_frame_pattern
from dreamvid.media.process import BITEXACT, ffmpeg_command, ffmpeg_message, file_url, fps_fraction, pattern_url, read_log, stop


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


def even_size(width: int, height: int) -> tuple[int, int]:
    """Round each side down to even, as yuv420p video needs."""
    return width - width % 2, height - height % 2


class ClosedOnExit:
    """A writer as a context manager: closed when the block ends, aborted (nothing left) when it raises."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class VideoWriter(ClosedOnExit):
    """Writes frames to one ffmpeg process; the file appears under its name only if ffmpeg succeeds."""

    def __init__(self, path: str, size: tuple[int, int], fps: Fraction | float, codec: str | None = None,
                 crf: int | None = None, overwrite: bool = False):
        self.path, self.size, self.fps = path, (int(size[0]), int(size[1])), fps_fraction(fps)
        self.frames_written = 0
        self._format = output_format(path)
        self._check_size()
        self._output = PartialFolder(path, overwrite) if self._format is _PNG_SEQUENCE else PartialFile(path, overwrite)
        self._log = tempfile.TemporaryFile()  # a file, not a pipe, so ffmpeg never blocks on a full stderr
        self._proc: subprocess.Popen | None = None
        try:
            self._proc = process.popen(self._args(codec, crf), stdin=subprocess.PIPE,
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

    def _args(self, codec: str | None, crf: int | None) -> list[str]:
        fmt, (width, height) = self._format, self.size
        encoder = codec or fmt.encoder
        args = [*ffmpeg_command(), "-y",
                "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
                "-r", f"{self.fps.numerator}/{self.fps.denominator}", "-i", "-"]
        args += ["-map", "0:v:0", "-c:v", encoder]
        args += ["-pix_fmt", fmt.pix_fmt] if fmt.pix_fmt else []
        args += _quality_args(encoder, crf if crf is not None else fmt.crf)
        if encoder == "libx265" and self.path.lower().endswith((".mp4", ".mov")):
            args += ["-tag:v", "hvc1"]  # Apple players want this tag for HEVC
        args += list(fmt.extra) + list(BITEXACT)
        url = pattern_url if self._format is _PNG_SEQUENCE else file_url
        return args + [url(self._output.ffmpeg_path)]

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
        raise reported_write_failure(message, self.path) or UserError(f"ffmpeg could not write {self.path}: {message}")

def output_format(path: str) -> _Format:
    """The encoder settings for `path`'s extension (or PNG sequence); unknown extensions are refused."""
    root, ext = os.path.splitext(path)
    ext = ext.lower()
    if ext == ".png" and is_frame_pattern(root):
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


class PartialFile:
    """One file, written as .name.partial.ext beside its final name (same extension, same muxer)."""

    def __init__(self, path: str, overwrite: bool):
        check_new_output(path, overwrite)
        folder, name = os.path.split(path)
        root, ext = os.path.splitext(name)
        self.path, self.ffmpeg_path = path, os.path.join(folder, f".{root}.partial{ext}")

    def commit(self) -> None:
        with writing(self.path):
            os.replace(self.ffmpeg_path, self.path)

    def discard(self) -> None:
        if os.path.exists(self.ffmpeg_path):
            os.remove(self.ffmpeg_path)


class PartialFolder:
    """A folder of numbered PNGs, written as .folder.partial and renamed as a whole."""

    def __init__(self, pattern: str, overwrite: bool):
        check_new_output(pattern, overwrite)
        self.folder, name = os.path.split(os.path.normpath(pattern))
        parent, base = os.path.split(self.folder)
        self.partial = os.path.join(parent, f".{base}.partial")
        self.replaced = os.path.join(parent, f".{base}.replaced")
        self.discard()  # left over from an interrupted run
        with writing(self.partial):
            os.mkdir(self.partial)
        self.ffmpeg_path = os.path.join(self.partial, name)

    def commit(self) -> None:
        shutil.rmtree(self.replaced, ignore_errors=True)
        with writing(self.folder):
            if os.path.isdir(self.folder):
                os.replace(self.folder, self.replaced)
            os.replace(self.partial, self.folder)
        shutil.rmtree(self.replaced, ignore_errors=True)

    def discard(self) -> None:
        shutil.rmtree(self.partial, ignore_errors=True)
