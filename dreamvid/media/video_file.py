"""Frames you hold, written as a video exactly as a render writes its output: encoded into a segment beside
the output, then joined with the sound (cut to the sample and padded to the video's length, so frame t
sounds at t / fps), counted, and put under its name only when whole (media/segments.py)."""

from __future__ import annotations

from fractions import Fraction
import os
import shutil
import tempfile
from typing import Iterable

import numpy as np

from dreamvid.errors import UserError
from dreamvid.media.audio import AudioSource
from dreamvid.media.pictures import Picture, as_frame
from dreamvid.media.process import fps_fraction
from dreamvid.media.segments import SegmentedOutput, check_video_output, join_segments
from dreamvid.media.writer import ClosedOnExit

ONE_SEGMENT = 2**62  # frames per segment: a video written in one go needs no checkpoints


class VideoFile(ClosedOnExit):
    """A video written frame by frame: `with VideoFile("out.mp4", 30, audio="song.mp3") as video:
    video.write(frame)`. The file appears, with its sound, when the block ends; an error or Ctrl-C inside
    it leaves nothing behind."""

    def __init__(self, path: str | os.PathLike, fps: float | str | Fraction, audio: str | os.PathLike | None = None,
                 overwrite: bool = False, codec: str | None = None, crf: int | None = None):
        self.path = os.fspath(path)
        self.fps = checked_fps(fps)
        self.audio = os.fspath(audio) if audio is not None else None
        if self.audio is not None and not os.path.isfile(self.audio):
            raise UserError(f"no such audio source: {self.audio}")
        check_video_output(self.path, overwrite)
        self.overwrite, self.codec, self.crf = overwrite, codec, crf
        self.frames = 0
        self._folder = tempfile.mkdtemp(prefix=".dreamvid-write-", dir=os.path.dirname(os.path.abspath(self.path)))
        self._output: SegmentedOutput | None = None

    def write(self, frame: Picture) -> None:
        """Add one frame: an H x W x 3 uint8 RGB array, a PIL image or a picture's path, all of one size."""
        frame = as_frame(frame)
        size = (frame.shape[1], frame.shape[0])
        if self._output is None:
            self._output = SegmentedOutput(self.path, self._folder, size, self.fps, self.codec, self.crf, ONE_SEGMENT)
        elif size != self._output.size:
            raise UserError(f"frame {self.frames} of {self.path} is {size[0]}x{size[1]}; the frames before it "
                            f"are {self._output.size[0]}x{self._output.size[1]}")
        self._output.write(np.ascontiguousarray(frame), self.frames)
        self.frames += 1

    def close(self) -> str:
        """Finish the video (with its sound) under its name; returns its path."""
        try:
            if self._output is None:
                raise UserError(f"no frames were given for {self.path}")
            self._output.close()
            sound = AudioSource(self.audio, 0.0, float(self.frames / self.fps)) if self.audio else None
            join_segments(self._output.segment_paths(1), self.path, self._output.size, self.fps, sound,
                          self.overwrite, self.frames)
        finally:
            self.abort()
        return self.path

    def abort(self) -> None:
        """Stop writing; nothing appears under the video's name."""
        if self._output is not None:
            self._output.abort()
        shutil.rmtree(self._folder, ignore_errors=True)


def checked_fps(fps: float | str | Fraction) -> Fraction:
    """`fps` as an exact rate; what is no rate at all (a word, None) is one line, as a rate of 0 is."""
    try:
        return fps_fraction(fps)
    except (ValueError, ZeroDivisionError, TypeError):
        raise UserError(f"fps must be a number above 0 (or a ratio like 30000/1001), got {fps!r}") from None


def write_video(frames: Iterable[Picture], path: str | os.PathLike, fps: float | str | Fraction,
                audio: str | os.PathLike | None = None, overwrite: bool = False, codec: str | None = None,
                crf: int | None = None) -> str:
    """Write `frames` as a video at `fps` (with the sound of `audio` from its start, cut or padded to the
    video's length), as a render writes its output; returns the absolute path written."""
    with VideoFile(path, fps, audio, overwrite, codec, crf) as video:
        for frame in frames:
            video.write(frame)
    return os.path.abspath(video.path)
