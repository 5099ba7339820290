"""A render's output as resumable segments, joined into the final file when the last frame is in.

Frames go to segment files of `checkpoint_frames` frames inside the render's state folder; after each
finished segment the render checkpoints. Segments always start at the same frame numbers, so a
resumed render produces the very same segment files, and the joined video, as one never stopped.
Videos are joined without re-encoding (ffmpeg's concat demuxer, `-c:v copy`), adding the audio;
GIFs and PNG sequences are kept as lossless PNG segments until the end.
"""

from __future__ import annotations

from fractions import Fraction
import os
import shutil
import subprocess
import tempfile

from PIL import Image
import numpy as np

from dreamvid.errors import UserError
from dreamvid.media import process
from dreamvid.media.audio import AudioSource, audio_input_args, audio_output_args
from dreamvid.media.outputs import check_new_output, is_frame_pattern
from dreamvid.media.process import ffmpeg_command, ffmpeg_message, file_url, read_log
from dreamvid.media.writer import PartialFile, VideoWriter, output_format

PNG_NAME = "%06d.png"


def is_picture_output(path: str) -> bool:
    """GIFs and PNG sequences are assembled from lossless PNG segments."""
    return path.lower().endswith(".gif") or is_frame_pattern(path)


def segment_name(index: int, final_path: str) -> str:
    if is_picture_output(final_path):
        return f"segment_{index:05d}/{PNG_NAME}"
    return f"segment_{index:05d}{os.path.splitext(final_path)[1].lower()}"


def check_video_output(path: str, overwrite: bool) -> None:
    """Fail before any work: unknown format, missing folder, or an existing output."""
    output_format(path)
    check_new_output(path, overwrite)


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

    def write(self, frame: np.ndarray, frame_index: int, copies: int = 1) -> bool:
        """Write loop frame `frame_index` (`copies` times: a held frame of a variable-rate clip)."""
        if self._writer is None:
            self._writer = self._open(frame_index)
        for _ in range(copies):
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
    fmt = output_format(final_path)
    # +igndts: decode times are rebuilt across the joins. A segment of 1-2 frames has no B-frame delay
    # (x264 sets it from its third frame), so keeping the segments' own ones leaves a gap before it:
    # the frame ahead is shown 3 frames long, the rate reads wrong, and decoding adds duplicates.
    args = [*ffmpeg_command(), "-y",
            "-fflags", "+igndts", "-f", "concat", "-safe", "0", "-i", list_file]
    args += audio_input_args(audio) if audio else []
    args += ["-map", "0:v:0", "-c:v", "copy"]
    args += audio_output_args(audio, fmt.audio_codec) if audio else []
    if final_path.lower().endswith(".mp4"):
        args += ["-movflags", "+faststart"]
    return args + [ffmpeg_target]


def concat_line(path: str) -> str:
    """One entry of a concat list: in its quoting a `'` is written `'\\''` (close, escaped quote, reopen)."""
    return "file '" + file_url(path).replace("'", "'\\''") + "'\n"


def join_videos(segments: list[str], final_path: str, audio: AudioSource | None, overwrite: bool) -> None:
    """Concatenate encoded segments without re-encoding, adding the audio; atomic rename at the end."""
    output = PartialFile(final_path, overwrite)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as listing:
        listing.writelines(concat_line(path) for path in segments)
    log = tempfile.TemporaryFile()
    try:
        joiner = process.popen(concat_args(listing.name, file_url(output.ffmpeg_path), final_path, audio),
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        if joiner.wait() != 0:
            message = ffmpeg_message(read_log(log)) or f"ffmpeg exited with code {joiner.returncode}"
            raise UserError(f"ffmpeg could not join the segments into {final_path}: {message}")
        output.commit()
    finally:
        output.discard()
        log.close()
        os.unlink(listing.name)


def join_segments(segments: list[str], final_path: str, size: tuple[int, int], fps: Fraction,
                  audio: AudioSource | None, overwrite: bool) -> None:
    """Turn the finished segments into the final output."""
    if is_frame_pattern(final_path):
        join_png_sequence(png_files(segments), final_path, overwrite)
    elif final_path.lower().endswith(".gif"):
        join_gif(png_files(segments), final_path, size, fps, overwrite)
    else:
        join_videos(segments, final_path, audio, overwrite)
