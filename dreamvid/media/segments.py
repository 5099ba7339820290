"""A render's output as resumable segments, joined into the final file when the last frame is in.

Frames go to segment files of `checkpoint_frames` frames inside the render's state folder; after each
finished segment the render checkpoints. Segments always start at the same frame numbers, so a
resumed render produces the very same segment files, and the joined video, as one never stopped.
Videos are joined without re-encoding (ffmpeg's concat demuxer, `-c:v copy`), adding the audio;
GIFs and PNG sequences are kept as lossless PNG segments until the end.
"""

from __future__ import annotations

from fractions import Fraction
from itertools import islice
import os
import shutil
import subprocess
import tempfile
from typing import Iterator

from PIL import Image
import numpy as np

from dreamvid.errors import UserError, reported_write_failure, writing
from dreamvid.media import process
from dreamvid.media.audio import AudioSource, audio_input_args, audio_output_args
from dreamvid.media.outputs import check_new_output, is_frame_pattern
from dreamvid.media.join_check import check_joined
from dreamvid.media.reader import read_frames
from dreamvid.media.process import BITEXACT, ffmpeg_command, ffmpeg_message, file_url, read_log
from dreamvid.media.sealing import flaw, fsync_file, fsync_folder, seal
from dreamvid.media.writer import PartialFile, PartialFolder, VideoWriter, output_format

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
                 codec: str | None, crf: int | None, segment_frames: int, records: dict | None = None):
        self.final_path, self.folder, self.size, self.fps = final_path, folder, size, fps
        self.codec, self.crf, self.segment_frames = codec, crf, segment_frames
        self.records = {} if records is None else records  # segment name -> its seal (media/sealing.py)
        self._writer: VideoWriter | None = None
        self._name = ""

    def _open(self, frame_index: int) -> VideoWriter:
        self._name = segment_name(frame_index // self.segment_frames, self.final_path)
        self.records.pop(self._name, None)  # rewritten: trusted again once sealed
        path = os.path.join(self.folder, self._name)
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
        """Finish the open segment and seal it: on the disk before a checkpoint names it."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()
            with writing(writer.path):  # fsync reports a full disk where the page cache hid it
                self.records[self._name] = seal(writer.path, writer.frames_written)

    def abort(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.abort()

    def way_back(self, count: int, frames: int) -> str | None:
        """A boomerang's way back as segment `count`: the `frames` frames of the first `count` segments from
        the last but one to the second, decoded and written like them (lossless for picture outputs)."""
        if frames <= 2:
            return None
        backward = (frame for path in reversed(self.segment_paths(count))
                    for frame in reversed(list(segment_frames(path, self.final_path))))
        self._writer = self._open(count * self.segment_frames)
        for frame in islice(backward, 1, frames - 1):
            self._writer.write(frame)
        path = self._writer.path
        self.close()
        return path

    def segment_paths(self, count: int) -> list[str]:
        return [os.path.join(self.folder, segment_name(i, self.final_path)) for i in range(count)]

    def first_flaw(self, count: int) -> tuple[str, str] | None:
        """The first of the first `count` segments that is not whole, with what is wrong; None if all are."""
        for index in range(count):
            name = segment_name(index, self.final_path)
            problem = flaw(os.path.join(self.folder, name), self.records.get(name))
            if problem:
                return name, problem
        return None


def segment_frames(path: str, final_path: str) -> Iterator[np.ndarray]:
    """The frames of one finished segment, in order."""
    if not is_picture_output(final_path):
        return read_frames(path)
    return (np.asarray(Image.open(file).convert("RGB")) for file in png_files([path]))


def segment_count(frames: int, segment_frames: int) -> int:
    return -(-frames // segment_frames)


def png_files(segment_patterns: list[str]) -> list[str]:
    files = []
    for pattern in segment_patterns:
        folder = os.path.dirname(pattern)
        files += [os.path.join(folder, name) for name in sorted(os.listdir(folder))]
    return files


def check_frame_count(files: list[str], final_path: str, frames: int) -> None:
    if len(files) != frames:
        raise UserError(f"the segments of {final_path} hold {len(files)} frames, not {frames}; the state is kept: "
                        f"the same command with --resume checks them and renders what is missing")


def link_or_copy(source: str, target: str) -> None:
    """A second name for a finished frame (a copy where links are not allowed): the state keeps its own."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def join_png_sequence(files: list[str], final_pattern: str, overwrite: bool) -> None:
    """Number the frames 1..N under the final pattern in a folder built beside it and swapped in whole.
    The state keeps its own frames until the join is done, so an interrupted join is simply done again."""
    output = PartialFolder(final_pattern, overwrite)
    try:
        name = os.path.basename(final_pattern)
        with writing(output.partial):
            for number, source in enumerate(files, start=1):
                link_or_copy(source, os.path.join(output.partial, name % number))
            for file in os.listdir(output.partial):
                fsync_file(os.path.join(output.partial, file))
        fsync_folder(output.partial)
        output.commit()
        fsync_folder(os.path.dirname(os.path.abspath(output.folder)))
    finally:
        output.discard()


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
    return args + list(BITEXACT) + [ffmpeg_target]


def concat_line(path: str) -> str:
    """One entry of a concat list: in its quoting a `'` is written `'\\''` (close, escaped quote, reopen)."""
    return "file '" + file_url(path).replace("'", "'\\''") + "'\n"


def concat_list(segments: list[str]) -> str:
    """The concat demuxer's list, beside the segments: inside the state folder, never left elsewhere."""
    path = os.path.join(os.path.dirname(segments[0]), "join.partial.txt")
    with writing(path), open(path, "w", encoding="utf-8") as listing:
        listing.writelines(concat_line(segment) for segment in segments)
    return path


def join_videos(segments: list[str], final_path: str, fps: Fraction, frames: int, audio: AudioSource | None,
                overwrite: bool) -> None:
    """Concatenate encoded segments without re-encoding, adding the audio; the result is counted, then
    renamed into place. An interrupt ends the joiner and leaves nothing behind."""
    output = PartialFile(final_path, overwrite)
    listing = concat_list(segments)
    log = tempfile.TemporaryFile()
    joiner = None
    try:
        joiner = process.popen(concat_args(listing, file_url(output.ffmpeg_path), final_path, audio),
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        if joiner.wait() != 0:
            message = ffmpeg_message(read_log(log)) or f"ffmpeg exited with code {joiner.returncode}"
            raise reported_write_failure(message, final_path) or UserError(
                f"ffmpeg could not join the segments into {final_path}: {message}")
        check_joined(output.ffmpeg_path, final_path, frames, fps, ffmpeg_message(read_log(log)))
        with writing(final_path):
            fsync_file(output.ffmpeg_path)
        output.commit()
        fsync_folder(os.path.dirname(os.path.abspath(final_path)))
    finally:
        if joiner is not None:
            process.stop(joiner)
        output.discard()
        log.close()
        os.unlink(listing)


def join_segments(segments: list[str], final_path: str, size: tuple[int, int], fps: Fraction,
                  audio: AudioSource | None, overwrite: bool, frames: int) -> None:
    """Turn the finished segments into the final output of exactly `frames` frames."""
    if is_frame_pattern(final_path):
        files = png_files(segments)
        check_frame_count(files, final_path, frames)
        join_png_sequence(files, final_path, overwrite)
    elif final_path.lower().endswith(".gif"):
        files = png_files(segments)
        check_frame_count(files, final_path, frames)
        join_gif(files, final_path, size, fps, overwrite)
    else:
        join_videos(segments, final_path, fps, frames, audio, overwrite)
