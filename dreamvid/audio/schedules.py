"""A render's sound, bound to its schedules: which stretch of which file plays under the output, its
features analysed once ahead of the render, and every frame's value of the schedules that read them.

The features are normalised over the stretch that plays under the output (a zoom's music from its start,
a clip's dreamed range), so what a schedule reads is what the viewer hears.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
import math

import numpy as np

from dreamvid.audio.decode import RATE, decode_pcm
from dreamvid.audio.features import Features, analyse, at_frames
from dreamvid.errors import UserError
from dreamvid.media.audio import AudioSource
from dreamvid.media.timing import ClipPlan
from dreamvid.settings import audio_readers

ZOOM_HINT = "give --audio FILE (the music to zoom to)"
CLIP_HINT = "the clip has no sound; give --audio FILE"


@dataclass(frozen=True)
class Soundtrack:
    """What a render does with sound: the stretch muxed under the output, the features schedules read."""

    source: AudioSource | None = None  # None: a silent output
    table: dict[str, np.ndarray] | None = None  # each feature per frame; None: no schedule reads sound
    digest: str = ""  # Features.digest() of the analysed stretch, for the resume fingerprint


def require_audio(settings: dict, available: bool, hint: str) -> None:
    """A schedule reading an audio feature in a render without sound: one line naming both, and what to do."""
    readers = audio_readers(settings)
    if readers and not available:
        where, name = readers[0]
        raise UserError(f'{where} reads the audio feature "{name}", but this render has no sound: {hint}')


def load_features(path: str, settings: dict, start: float = 0.0, duration: float | None = None) -> Features:
    """Decode and analyse a stretch of `path` once, with the settings' smoothing, tempo and beat offset."""
    pcm = decode_pcm(path, RATE, start, duration)
    return analyse(pcm, RATE, settings["audio_attack"], settings["audio_release"], bpm=settings["audio_bpm"],
                   beat_offset=settings["audio_beat_offset"], onset_release=settings["audio_onset_release"])


def music_frames(features: Features, fps: Fraction) -> int:
    """Frames that cover the whole track (the last one may start just before the music ends)."""
    return max(1, math.ceil(features.duration * float(fps) - 1e-9))


def zoom_music(settings: dict, fps: Fraction) -> Features | None:
    """The zoom's music (`audio`), analysed whole when `frames` is 0 (the render lasts as long), else
    up to the render's end; None without `audio`."""
    path = settings["audio"]
    require_audio(settings, bool(path), ZOOM_HINT)
    if not path:
        return None
    frames = settings["frames"]
    return load_features(path, settings, 0.0, float(frames / fps) if frames else None)


def zoom_soundtrack(settings: dict, music: Features | None, fps: Fraction, frames: int) -> Soundtrack:
    """The music from its start under all `frames` (trimmed, or padded with silence), and its features."""
    if music is None:
        return Soundtrack()
    source = AudioSource(settings["audio"], 0.0, float(frames / fps))
    return Soundtrack(source, at_frames(music, float(fps), frames), music.digest())


def clip_soundtrack(input_path: str, has_audio: bool, settings: dict, plan: ClipPlan) -> Soundtrack:
    """A clip's own sound from its first dreamed frame on, or `audio` from its start in its place."""
    replacement = settings["audio"]
    require_audio(settings, bool(replacement) or has_audio, CLIP_HINT)
    if not replacement and not has_audio:
        return Soundtrack()
    path, start = (replacement, 0.0) if replacement else (input_path, max(0.0, float(plan.first_time)))
    source = AudioSource(path, start, float(plan.seconds))
    fps, frames = plan.fps, len(plan.kept)  # schedules read dreamed frames at the output's rate
    # A replacement is always decoded, so a bad file fails here; the clip's own sound only when read.
    if not replacement and not audio_readers(settings):
        return Soundtrack(source)
    features = load_features(path, settings, start, source.duration)
    return Soundtrack(source, at_frames(features, float(fps), frames), features.digest())
