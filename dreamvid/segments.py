"""A render's output as resumable segments, joined into the final file when the last frame is in.

Frames go to segment files of `checkpoint_frames` frames inside the render's state folder; after each
finished segment the render checkpoints. Segments always start at the same frame numbers, so a
resumed render produces the very same segment files, and the joined video, as one never stopped.
Videos are joined without re-encoding (ffmpeg's concat demuxer, `-c:v copy`), adding the audio;
GIFs and PNG sequences are kept as lossless PNG segments until the end.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from fractions import Fraction

import numpy as np
from PIL import Image

from .errors import UserError
from .images import check_new_output
from . import ffmpeg
from .ffmpeg import FRAME_PATTERN, ffmpeg_exe, ffmpeg_message, output_target, read_log
from .video import AudioSource, VideoWriter, _FileOutput, _output_format

PNG_NAME = "%06d.png"


def is_picture_output(path: str) -> bool:
    """GIFs and PNG sequences are assembled from lossless PNG segments."""
    return path.lower().endswith(".gif") or FRAME_PATTERN.search(os.path.basename(path)) is not None


def segment_name(index: int, final_path: str) -> str:
    if is_picture_output(final_path):
        return f"segment_{index:05d}/{PNG_NAME}"
    return f"segment_{index:05d}{os.path.splitext(final_path)[1].lower()}"


def check_output(path: str, overwrite: bool) -> None:
    """Fail before any work: unknown format, missing folder, or an existing output."""
    _output_format(path)
    target = output_target(path)
    check_new_output(target, overwrite)
    if target != path and os.path.isdir(target):  # a PNG sequence replaces its whole folder when joined
        name = os.path.basename(path)
        frame_file = re.compile(FRAME_PATTERN.sub(r"\\d+", re.escape(name)) + "$")
        if not all(map(frame_file.match, os.listdir(target))):
            raise UserError(f"{target} holds files other than {name} frames; not replacing it")


class SegmentedOutput:
    """Writes frames into numbered segments; `write` returns True when a segment was just finished."""

    def __init__(self, final_path: str, folder: str, size: tuple[int, int], fps: Fraction,
                 codec: str | None, crf: int | None, segment_frames: int):
        self.final_path, self.folder, self.size, self.fps = final_path, folder, size, fps
        self.codec, self.crf, self.segment_frames = codec, crf, segment_frames
        self._writer: VideoWriter | None = None

    def _open(self, frame_index: int) -> VideoWriter:
        name = segment_name(frame_index // self.segment_frames, self.final_path)
        path = os.path.join(self.folder, name)
        if is_picture_output(self.final_path):
            return VideoWriter(path, self.size, self.fps, overwrite=True)
        return VideoWriter(path, self.size, self.fps, self.codec, self.crf, overwrite=True)

    def write(self, frame: np.ndarray, frame_index: int) -> bool:
        if self._writer is None:
            self._writer = self._open(frame_index)
        self._writer.write(frame)
        if (frame_index + 1) % self.segment_frames == 0:
            self.close()
            return True
        return False

    def close(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()

    def abort(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.abort()

    def segment_paths(self, count: int) -> list[str]:
        return [os.path.join(self.folder, segment_name(i, self.final_path)) for i in range(count)]


def segment_count(frames: int, segment_frames: int) -> int:
    return -(-frames // segment_frames)


def png_files(segment_patterns: list[str]) -> list[str]:
    files = []
    for pattern in segment_patterns:
        folder = os.path.dirname(pattern)
        files += [os.path.join(folder, name) for name in sorted(os.listdir(folder))]
    return files


def join_png_sequence(files: list[str], final_pattern: str, overwrite: bool) -> None:
    """Number the frames 1..N under the final pattern, in a temporary folder renamed as a whole."""
    folder = os.path.dirname(os.path.normpath(final_pattern))
    partial = folder.rstrip("/") + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    name = os.path.basename(final_pattern)
    for number, source in enumerate(files, start=1):
        os.replace(source, os.path.join(partial, name % number))
    if os.path.exists(folder) and overwrite:
        shutil.rmtree(folder)
    os.replace(partial, folder)


def join_gif(files: list[str], final_path: str, size: tuple[int, int], fps: Fraction, overwrite: bool) -> None:
    with VideoWriter(final_path, size, fps, overwrite=overwrite) as writer:
        for path in files:
            with Image.open(path) as picture:
                writer.write(np.asarray(picture.convert("RGB")))


def concat_args(list_file: str, ffmpeg_target: str, final_path: str, audio: AudioSource | None) -> list[str]:
    fmt = _output_format(final_path)
    # +igndts: decode times are rebuilt across the joins. A segment of 1-2 frames has no B-frame delay
    # (x264 sets it from its third frame), so keeping the segments' own ones leaves a gap before it:
    # the frame ahead is shown 3 frames long, the rate reads wrong, and decoding adds duplicates.
    args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y",
            "-fflags", "+igndts", "-f", "concat", "-safe", "0", "-i", list_file]
    if audio is not None:
        args += ["-ss", f"{audio.start:g}"] + (["-t", f"{audio.duration:g}"] if audio.duration else [])
        args += ["-i", audio.path]
    args += ["-map", "0:v:0", "-c:v", "copy"]
    if audio is not None:
        # the stretch is cut with -t and padded to its full length, never -shortest (see VideoWriter)
        args += ["-map", "1:a:0?", "-c:a", fmt.audio_codec, "-b:a", "192k"]
        args += ["-af", f"apad=whole_dur={audio.duration:g}"] if audio.duration else []
    if final_path.lower().endswith(".mp4"):
        args += ["-movflags", "+faststart"]
    return args + [ffmpeg_target]


def join_videos(segments: list[str], final_path: str, audio: AudioSource | None, overwrite: bool) -> None:
    """Concatenate encoded segments without re-encoding, adding the audio; atomic rename at the end."""
    output = _FileOutput(final_path, overwrite)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
        listing.writelines(f"file '{os.path.abspath(path)}'\n" for path in segments)
    log = tempfile.TemporaryFile()
    try:
        process = ffmpeg.popen(concat_args(listing.name, output.ffmpeg_path, final_path, audio),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        if process.wait() != 0:
            message = ffmpeg_message(read_log(log)) or f"ffmpeg exited with code {process.returncode}"
            raise UserError(f"ffmpeg could not join the segments into {final_path}: {message}")
        output.commit()
    finally:
        output.discard()
        log.close()
        os.unlink(listing.name)


def join_segments(segments: list[str], final_path: str, size: tuple[int, int], fps: Fraction,
                  audio: AudioSource | None, overwrite: bool) -> None:
    """Turn the finished segments into the final output."""
    if FRAME_PATTERN.search(os.path.basename(final_path)):
        join_png_sequence(png_files(segments), final_path, overwrite)
    elif final_path.lower().endswith(".gif"):
        join_gif(png_files(segments), final_path, size, fps, overwrite)
    else:
        join_videos(segments, final_path, audio, overwrite)
