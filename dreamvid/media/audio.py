"""The sound under a rendered video: which stretch of which file, and the ffmpeg arguments that
put it there. The final join of a render is the one place audio is muxed."""

from __future__ import annotations

from dataclasses import dataclass
import os

from dreamvid.errors import UserError


@dataclass(frozen=True)
class AudioSource:
    """The stretch of a file's audio to put under a written clip; duration None: to the source's end."""

    path: str
    start: float = 0.0
    duration: float | None = None


def check_audio(audio: AudioSource) -> None:
    if not os.path.isfile(audio.path):
        raise UserError(f"no such audio source: {audio.path}")
    if audio.start < 0 or (audio.duration is not None and audio.duration <= 0):
        raise UserError(f"audio from {audio.path}: start must be >= 0 and duration > 0")


def audio_input_args(audio: AudioSource) -> list[str]:
    """ffmpeg input options reading `audio`'s stretch (the input is added after the video's)."""
    check_audio(audio)
    args = ["-ss", f"{audio.start:g}"] + (["-t", f"{audio.duration:g}"] if audio.duration else [])
    return args + ["-i", audio.path]


def audio_output_args(audio: AudioSource, codec: str, input_index: int = 1) -> list[str]:
    """Map and encode the stretch. Not -shortest: it stops ffmpeg, so the video, when the audio
    ends first. Padding the stretch to its full duration (a source whose audio ends early) keeps
    the length exact."""
    args = ["-map", f"{input_index}:a:0?", "-c:a", codec, "-b:a", "192k"]
    return args + (["-af", f"apad=whole_dur={audio.duration:g}"] if audio.duration else [])
