"""Make the sample song and clip the README's examples use (samples/SOURCES.md): both made here, from
numpy and the sample pictures, so they may be shipped. Run from the checkout: python samples/make_samples.py"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dreamvid.media.pictures import load_picture  # noqa: E402
from dreamvid.media.process import ffmpeg_exe  # noqa: E402
from dreamvid.media.synthetic import cut_clip, write_clip  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RATE = 44100
BPM = 120
SONG_SECONDS = 8.0
CLIP_SECONDS, CLIP_FPS, CLIP_SIZE = 4, 24, (320, 192)


def kick(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    pitch = 50 + 70 * np.exp(-t * 30)  # a falling sine: the classic synthesised bass drum
    return np.sin(2 * np.pi * np.cumsum(pitch) / RATE) * np.exp(-t * 9)


def hat(seconds: float, rng: np.random.Generator) -> np.ndarray:
    noise = np.diff(rng.standard_normal(int(seconds * RATE) + 1))  # differenced noise: mostly treble
    return noise * np.exp(-np.arange(len(noise)) / RATE * 60) * 0.25


def bass(note_hz: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    tone = np.sin(2 * np.pi * note_hz * t) + 0.3 * np.sin(4 * np.pi * note_hz * t)
    return tone * np.minimum(1, t * 200) * np.exp(-t * 3)


def song() -> np.ndarray:
    """8 s at 120 BPM: a kick on every beat, a bass line on the eighths, off-beat hi-hats; the second half
    louder, so the `level` feature rises."""
    rng = np.random.default_rng(0)
    mix = np.zeros(int(SONG_SECONDS * RATE) + RATE)
    beat = 60 / BPM
    notes = [55.0, 55.0, 65.4, 73.4, 55.0, 82.4, 73.4, 65.4]  # A1 A1 C2 D2 A1 E2 D2 C2
    for index in range(int(SONG_SECONDS / beat)):
        start = int(index * beat * RATE)
        loud = 0.6 if index * beat < SONG_SECONDS / 2 else 1.0
        for part, offset in ((kick(0.4) * loud, 0.0), (hat(0.08, rng) * loud, beat / 2)):
            at = start + int(offset * RATE)
            mix[at:at + len(part)] += part
        for half in range(2):
            note = bass(notes[(2 * index + half) % len(notes)], beat / 2) * 0.35 * loud
            at = start + int(half * beat / 2 * RATE)
            mix[at:at + len(note)] += note
    mix = mix[: int(SONG_SECONDS * RATE)]
    return (mix / np.abs(mix).max() * 0.9).astype(np.float32)


def write_mp3(samples: np.ndarray, path: str) -> None:
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "f32le", "-ar", str(RATE), "-ac", "1", "-i", "-",
                    "-c:a", "libmp3lame", "-b:a", "64k", path], input=samples.tobytes(), check=True)


def clip(song_path: str, path: str) -> None:
    """A pan over the coffee cup, a hard cut to a pan over the rocket (two shots), with the song's start."""
    frames = cut_clip(load_picture(os.path.join(HERE, "coffee.jpg")), load_picture(os.path.join(HERE, "rocket.jpg")),
                      CLIP_SECONDS * CLIP_FPS, CLIP_SIZE)
    silent = os.path.join(HERE, "clip.silent.mp4")
    write_clip(frames, silent, CLIP_FPS, tone_hz=None, crf=30)
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", silent, "-i", song_path, "-map", "0:v",
                    "-map", "1:a", "-t", str(CLIP_SECONDS), "-c:v", "copy", "-c:a", "aac", "-b:a", "64k", path],
                   check=True)
    os.remove(silent)


if __name__ == "__main__":
    song_path = os.path.join(HERE, "song.mp3")
    write_mp3(song(), song_path)
    clip(song_path, os.path.join(HERE, "clip.mp4"))
    for name in ("song.mp3", "clip.mp4"):
        print(name, os.path.getsize(os.path.join(HERE, name)), "bytes")
