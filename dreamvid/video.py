"""Reading and writing video through one ffmpeg process per clip; ffmpeg's own errors reach the user."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from typing import IO, Iterator

import imageio_ffmpeg
import numpy as np

from dreamvid.errors import UserError

# A frame-file pattern such as frames/%05d.png makes a PNG sequence (ffmpeg's image2 muxer).
_PATTERN = re.compile(r"%0?\d*d")
# What ffmpeg prints after the real error: summaries, thread teardown, and lines naming our temporary file.
_NOISE = re.compile(r"^(Conversion failed!|Error opening (in|out)put files?\b[^:]*\.$|At least one output"
                    r"|Task finished with|Terminating thread|Nothing was written|Could not open encoder before"
                    r"|Cannot determine format of input|Decode error rate)")


@dataclass(frozen=True)
class VideoInfo:
    """What ffmpeg reports about a clip's first video stream."""

    width: int
    height: int
    fps: Fraction
    duration: float  # seconds; 0.0 when the container does not say
    frame_count: int  # estimated as round(duration * fps)
    has_audio: bool

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


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


def ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def output_target(path: str) -> str:
    """What an output path names on disk: the file, or the folder of a frame pattern (frames/%05d.png)."""
    if _PATTERN.search(os.path.basename(path)):
        return os.path.dirname(os.path.normpath(path))
    return path


def even_size(width: int, height: int) -> tuple[int, int]:
    """Round each side down to even, as yuv420p video needs."""
    return width - width % 2, height - height % 2


def fps_fraction(value: float | str | Fraction) -> Fraction:
    """An exact frame rate from ffmpeg's decimal one: 29.97 -> 30000/1001, 12.5 -> 25/2."""
    if isinstance(value, Fraction) or (isinstance(value, str) and "/" in value):
        rate = Fraction(value)
    else:
        x = float(value)
        ntsc = round(x * 1.001)
        if x > 0 and abs(x - round(x)) < 1e-6:
            rate = Fraction(round(x))
        elif ntsc > 0 and abs(x * 1.001 - ntsc) < 0.01:  # ffmpeg prints NTSC rates to 2 decimals
            rate = Fraction(ntsc * 1000, 1001)
        else:
            rate = Fraction(str(value)).limit_denominator(1001)
    if rate <= 0:
        raise UserError(f"frame rate must be positive, got {value}")
    return rate


# ---------------------------------------------------------------- probing


def probe_video(path: str) -> VideoInfo:
    """Size, exact frame rate, duration and audio presence of a clip, from `ffmpeg -i`."""
    is_pattern = _PATTERN.search(os.path.basename(path)) is not None
    if not is_pattern and not os.path.isfile(path):
        raise UserError(f"no such video file: {path}")
    err = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", path],
                         stdin=subprocess.DEVNULL, capture_output=True).stderr.decode(errors="replace")
    demuxer = re.search(r"^Input #0, (.+?), from ", err, re.M)
    if demuxer is None:
        raise UserError(f"{path} is not a video ffmpeg can read ({_ffmpeg_message(err, 1)})")
    if not is_pattern and (demuxer[1] == "image2" or demuxer[1].endswith("_pipe")):
        raise UserError(f"{path} is a still image, not a video")
    stream = _video_stream(err)
    if stream is None:
        raise UserError(f"{path} has no video stream")
    return _parse_stream(stream, _duration(err), has_audio=re.search(r"Stream #.*: Audio:", err) is not None)


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
    return VideoInfo(width, height, fps, duration, round(duration * fps), has_audio)


def _rate(head: str, unit: str) -> float | None:
    found = re.search(rf"([\d.]+)(k?) {unit}\b", head)
    return None if found is None else float(found[1]) * (1000 if found[2] else 1)


def _duration(err: str) -> float:
    found = re.search(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", err)
    return 0.0 if found is None else int(found[1]) * 3600 + int(found[2]) * 60 + float(found[3])


def _ffmpeg_message(err: str, lines: int = 3) -> str:
    """ffmpeg's last meaningful lines, without the `[h264 @ 0x55...]` prefixes, as one line."""
    meaningful = []
    for line in err.splitlines():
        line = re.sub(r"^(\[[^\]]*\]\s*)+", "", line.strip())
        if line and not _NOISE.match(line):
            meaningful.append(line)
    return " | ".join(meaningful[-lines:])


def _popen(args: list[str], **kwargs) -> subprocess.Popen:
    # Its own process group: Ctrl-C reaches Python only, which then kills ffmpeg and cleans up.
    if os.name == "posix":
        kwargs["process_group"] = 0
    return subprocess.Popen(args, **kwargs)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def _read_log(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")


# ---------------------------------------------------------------- reading


def read_frames(path: str, size: tuple[int, int] | None = None, start: float = 0.0,
                duration: float | None = None, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Decoded RGB frames of a clip, optionally scaled to size=(w, h) and limited to a stretch."""
    info = probe_video(path)
    if start < 0 or (duration is not None and duration <= 0) or (max_frames is not None and max_frames < 1):
        raise UserError(f"cannot read {path}: start must be >= 0, duration and max frames > 0")
    width, height = size or info.size
    args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error"]
    args += ["-ss", f"{start:g}"] if start else []
    args += ["-t", f"{duration:g}"] if duration else []
    args += ["-i", path, "-map", "0:v:0"]
    args += ["-frames:v", str(max_frames)] if max_frames else []
    # The first frame after a seek can lie up to a frame after `start`; counted from `start`, ffmpeg's
    # constant-rate output fills that gap with a copy of it (one frame twice): count from the frame.
    filters = ["setpts=PTS-STARTPTS"] + ([f"scale={width}:{height}:flags=area"] if (width, height) != info.size else [])
    args += ["-vf", ",".join(filters)]
    args += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    return _decode(args, path, (height, width, 3), f"starting at {start:g} s (clip is {info.duration:.1f} s long)")


def _decode(args: list[str], path: str, shape: tuple[int, int, int], where: str) -> Iterator[np.ndarray]:
    log = tempfile.TemporaryFile()  # a file, not a pipe, so ffmpeg never blocks on a full stderr
    proc = _popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
    try:
        count = 0
        while True:
            frame = np.empty(shape, np.uint8)
            if proc.stdout.readinto(memoryview(frame).cast("B")) < frame.nbytes:
                break
            if os.fstat(log.fileno()).st_size:  # a decoding error: fail now, not after hours of dreaming
                raise UserError(f"ffmpeg could not decode {path}: {_ffmpeg_message(_read_log(log), 1)}")
            count += 1
            yield frame
        if proc.wait() != 0 or os.fstat(log.fileno()).st_size:
            raise UserError(f"ffmpeg could not decode {path}: {_ffmpeg_message(_read_log(log), 1)}")
        if count == 0:
            raise UserError(f"no frames to read from {path} {where}")
    finally:
        _stop(proc)
        proc.stdout.close()
        log.close()


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
            self._proc = _popen(self._args(codec, crf, audio), stdin=subprocess.PIPE,
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
            _stop(self._proc)
            try:
                self._proc.stdin.close()
            except BrokenPipeError:
                pass
            self._proc = None
        self._output.discard()
        self._log.close()

    def _fail(self) -> None:
        code = self._proc.returncode
        message = _ffmpeg_message(_read_log(self._log)) or f"ffmpeg said nothing and exited with code {code}"
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
    if ext == ".png" and _PATTERN.search(os.path.basename(root)):
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
        frame_file = re.compile(_PATTERN.sub(r"\\d+", re.escape(name)) + "$")
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
