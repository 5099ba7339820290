"""The sound under a rendered video: which stretch of which file, and the ffmpeg arguments that
put it there. The final join of a render is the one place audio is muxed."""

from __future__ import annotations

from dataclasses import dataclass
import os

from dreamvid.errors import UserError
from dreamvid.media.process import file_url


@dataclass(frozen=True)
class AudioSource:
    """The stretch of a file's audio to put under a written clip, in seconds from the file's start as
    ffmpeg counts them (the first dreamed frame's time); duration None: to the source's end."""

    path: str
    start: float = 0.0
    duration: float | None = None
    back: tuple[float, float] | None = None  # a boomerang's way back: this stretch of it (seconds), reversed, after it


def check_audio(audio: AudioSource) -> None:
    if not os.path.isfile(audio.path):
        raise UserError(f"no such audio source: {audio.path}")
    if audio.start < 0 or (audio.duration is not None and audio.duration <= 0):
        raise UserError(f"audio from {audio.path}: start must be >= 0 and duration > 0")


def audio_input_args(audio: AudioSource) -> list[str]:
    """ffmpeg input options reading `audio`'s file (the input is added after the video's). Never an
    input -ss: it snaps to packets or index entries (half a second late in some AVIs); the stretch
    is cut by `audio_filter`, to the sample."""
    check_audio(audio)
    return ["-i", file_url(audio.path)]


def audio_filter(audio: AudioSource) -> str:
    """Cut [start, start + duration) at sample precision; its first sample becomes time 0, silence
    fills a gap before the source's first sample (aresample's first_pts) and after its last (apad)."""
    start = f"{audio.start:.6f}"
    end = f":end={audio.start + audio.duration:.6f}" if audio.duration else ""
    filters = [f"atrim=start={start}{end}", f"asetpts=PTS-{start}/TB", "aresample=async=1:first_pts=0"]
    return ",".join(filters + ([f"apad=whole_dur={audio.duration:.6f}"] if audio.duration else []))


def audio_output_args(audio: AudioSource, codec: str, input_index: int = 1) -> list[str]:
    """Map and encode the stretch (and its way back, reversed). Not -shortest: it stops ffmpeg, so the
    video, when the audio ends first; padding to the video's duration keeps the length exact instead."""
    encode = ["-c:a", codec, "-b:a", "192k"]
    if audio.back is None:
        return ["-map", f"{input_index}:a:0?", *encode, "-af", audio_filter(audio)]
    start, end = audio.back
    graph = (f"[{input_index}:a:0]{audio_filter(audio)},asplit[there][back];"
             f"[back]atrim=start={start:.6f}:end={end:.6f},asetpts=PTS-STARTPTS,areverse[reversed];"
             "[there][reversed]concat=n=2:v=0:a=1[sound]")
    return ["-filter_complex", graph, "-map", "[sound]", *encode]
