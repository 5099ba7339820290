"""Music features for schedules, from mono PCM with numpy alone: loudness, three bands, onsets, beats.

Each curve is computed at the analysis rate (PCM rate / HOP, 86 per second at 22050 Hz), normalised to
0..1 over the whole track by robust percentiles, then smoothed by an attack/release follower; `at_frames`
reads every curve at video frame t's time t / fps, so keyframes never depend on the frame rate.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from dreamvid.audio.beats import beat_curve, shift_beats, track_beats
from dreamvid.audio.tempo import find_tempo
from dreamvid.errors import UserError

# 1024 samples (46 ms at 22050 Hz) still holds 4 periods of a 90 Hz bass, while the 256 hop (11.6 ms)
# places an onset to a third of a 30 fps frame, well inside the one-frame budget for beats.
N_FFT = 1024
HOP = 256
BANDS = {"bass": (0.0, 200.0), "mid": (200.0, 2000.0), "treble": (2000.0, math.inf)}  # Hz, lower edge included
CURVES = ("level", *BANDS, "onset")
NAMES = (*CURVES, "beat")  # what schedule expressions may read
# A fast attack follows a kick within a frame; a slower release lets it fade over ~4 frames at 30 fps
# instead of blinking off, which is what reads as "flicker" in a dreamed zoom.
ATTACK = 0.01
RELEASE = 0.15
# The onset curve falls faster, over this share of the beat (39-79 ms at 95-190 BPM). Its lowest point between
# eighth notes, median over 9 songs: 0.35-0.53 at 0.15 s, 0.19-0.35 at an eighth of the beat; what is left
# is 16ths retriggering it (the raw curve dips to 0.04-0.12). Without a tempo: RELEASE (DESIGN.md "Music").
ONSET_RELEASE_BEATS = 1 / 8
SILENCE = 1e-4  # RMS amplitude, -80 dBFS: below 16-bit dither, so such a track is silence
BAND_FLOOR = 0.01  # a band 40 dB under the track's loudness reads ~0 rather than as stretched leakage
ONSET_BANDS_PER_OCTAVE = 6
# log(1 + x), x = a band's level over the track's average per bin: loud bands compress like a log, quiet
# ones count linearly, so hiss and hi-hats from near-silence do not outvote the kick (a 20 s synthetic
# 128 BPM song with loud off-beat hats kept its beats on the kicks at 1, lost them at 3 and above).
COMPRESSION = 1.0
# Flux rises as an attack enters a frame's window, a quarter window (one hop here) before the frame's
# centre reaches it; moving the flux that much later puts onsets and beats on the attack itself.
ONSET_DELAY = round(N_FFT / 4 / HOP)
# Beats are tracked on the flux plus the flux of the bands under this (bass, kick) at equal weight: the bass
# marks the beat where swung or off-beat chords and hats are louder in the whole flux (a 5/4 song's beat F
# 0.08 -> 0.89, a blues 0.83 -> 1.00; the other scored songs of the tune split unchanged, DESIGN.md "Music").
BEAT_BASS_HZ = 250.0
# A steady tone's flux jitters (its window holds a fraction of a period): <= 0.002 measured for 60-440 Hz
# sines, against 0.2-0.5 for kicks and clicks; an onset curve whose peaks stay under this reads dim.
ONSET_FLOOR = 0.1
PERCENTILES = (5.0, 95.0)  # one loud peak beyond the 95th percentile does not flatten the rest
# The 95th percentile reads KNEE, and what is louder bends smoothly towards 1 (tanh, slope 1 at the knee):
# the loudest 5% keeps its shape instead of sitting flat at 1, which is what the first release did.
KNEE = 0.85


@dataclass(frozen=True, eq=False)
class Features:
    """A track's curves (0..1, sample i at i / rate seconds), its beats in seconds and tempo in BPM."""

    rate: float
    curves: dict[str, np.ndarray]  # read-only arrays, one per name in CURVES
    beats: np.ndarray
    tempo: float  # 0.0 where no pulse was found (silence, a steady tone)
    duration: float  # seconds of audio analysed
    attack: float
    release: float
    runner_up: float = 0.0  # the tempo that came second (BPM), 0.0 where none did or the user gave one
    tempo_share: float = 1.0  # the tempo's share of its and the runner-up's scores: 0.5 a coin toss

    def digest(self) -> str:
        """A short hash of every curve and beat, for the resume fingerprint: new numbers, a new render."""
        h = hashlib.sha256(f"{self.rate}:{self.tempo}:{self.duration}".encode())
        for name in CURVES:
            h.update(self.curves[name].tobytes())
        h.update(self.beats.tobytes())
        return h.hexdigest()[:16]


def analyse(pcm: np.ndarray, rate: int, attack: float = ATTACK, release: float = RELEASE, bpm: float = 0.0,
            beat_offset: float = 0.0, onset_release: float = 0.0) -> Features:
    """Every feature of a mono track, computed once ahead of the render. `bpm`: the tempo the user knows
    (0: find it); `beat_offset`: seconds to move the beats by; `onset_release`: 0 = an eighth of the beat."""
    if not (attack >= 0 and release >= 0 and onset_release >= 0):
        raise UserError(f"audio attack and release must be >= 0 seconds, got {attack:g} and {release:g}")
    pcm = np.asarray(pcm, np.float32)
    feature_rate, duration = rate / HOP, len(pcm) / rate
    band_ms, flux, bass_flux = spectral_frames(pcm, rate)
    if rms(pcm) < SILENCE:
        band_ms[:], flux[:], bass_flux[:] = 0.0, 0.0, 0.0  # silence reads 0 everywhere, whatever its dither does
    found = find_tempo(flux, feature_rate, bpm)
    tempo = found.bpm
    beats = track_beats(_standard(flux) + _standard(bass_flux), feature_rate, tempo) if tempo else np.zeros(0)
    releases = {name: release for name in CURVES}
    releases["onset"] = onset_release or (ONSET_RELEASE_BEATS * 60.0 / tempo if tempo else release)
    raw = normalised_curves(band_ms, flux)
    curves = {name: _frozen(follow(raw[name], feature_rate, attack, releases[name])) for name in CURVES}
    beats = shift_beats(beats, beat_offset, duration)
    return Features(feature_rate, curves, _frozen(beats), tempo, duration, attack, release, found.runner_up,
                    found.share)


def normalised_curves(band_ms: np.ndarray, flux: np.ndarray) -> dict[str, np.ndarray]:
    """Level, bands and onset, each 0..1 over the track before smoothing."""
    level = np.sqrt(band_ms.sum(axis=1))  # Parseval: the bands' mean squares add up to the frame's
    raw = {"level": normalise(level, SILENCE), "onset": normalise(flux, ONSET_FLOOR)}
    band_floor = max(SILENCE, BAND_FLOOR * np.percentile(level, PERCENTILES[1]))
    for i, name in enumerate(BANDS):
        raw[name] = normalise(np.sqrt(band_ms[:, i]), band_floor)
    return raw


def at_frames(features: Features, fps: float, frames: int) -> dict[str, np.ndarray]:
    """Every feature at video frames 0..frames-1, frame t read at t / fps seconds (0 after the track ends)."""
    times = np.arange(frames) / fps
    positions = np.arange(len(features.curves["level"])) / features.rate
    values = {name: np.interp(times, positions, curve, right=0.0) for name, curve in features.curves.items()}
    # Beats come from their times, not from sampling a curve: the frame nearest a beat reads exactly 1.
    values["beat"] = beat_curve(features.beats, frames, fps, features.tempo)
    return values


# ---------------------------------------------------------------- spectrum


def stft_magnitudes(pcm: np.ndarray, block: int = 2048) -> Iterator[np.ndarray]:
    """|STFT| (hann, frame i centred on sample i * HOP) in blocks of frames, so memory stays flat."""
    padded = np.pad(pcm, N_FFT // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)  # periodic hann: overlap-adds flat at this hop
    for start in range(0, len(frames), block):
        yield np.abs(np.fft.rfft(frames[start:start + block] * window, axis=1)).astype(np.float32)


def spectral_frames(pcm: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: each band's mean square (frames x 3), the spectral flux (onset strength) and the flux of
    the bands under BEAT_BASS_HZ."""
    weights, groups = band_weights(rate), onset_groups(rate)
    bass = (np.fft.rfftfreq(N_FFT, 1.0 / rate) @ groups) < BEAT_BASS_HZ  # each group's mean frequency
    # Band levels relative to white noise at the track's loudness, so the flux ignores the volume knob.
    reference = max(rms(pcm) ** 2 * float(np.sum(np.hanning(N_FFT + 1)[:-1] ** 2)), 1e-24)
    band_blocks, flux_blocks, bass_blocks = [], [], []
    previous = np.zeros(groups.shape[1])  # before the track: silence
    for mags in stft_magnitudes(pcm):
        power = np.square(mags, dtype=np.float64)
        band_blocks.append(power @ weights)
        compressed = np.log1p(COMPRESSION * np.sqrt(power @ groups / reference))
        flux_blocks.append(onset_flux(compressed, previous))
        bass_blocks.append(onset_flux(compressed[:, bass], previous[bass]))
        previous = compressed[-1]
    return np.concatenate(band_blocks), _delayed(np.concatenate(flux_blocks)), _delayed(np.concatenate(bass_blocks))


def _delayed(flux: np.ndarray) -> np.ndarray:
    return np.concatenate([np.zeros(ONSET_DELAY), flux[:len(flux) - ONSET_DELAY]])


def _standard(x: np.ndarray) -> np.ndarray:
    # x in units of its standard deviation, so that two curves add at equal weight (0 stays 0)
    std = float(x.std())
    return x / std if std > 0 else x


def band_weights(rate: int) -> np.ndarray:
    """(bins x bands) weights turning |X|^2 into each band's share of the windowed mean square."""
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / rate)
    # Parseval for a real FFT: the bins between DC and Nyquist stand for their negative twins too.
    twice = np.where((freqs > 0) & (freqs < rate / 2), 2.0, 1.0)
    window_energy = N_FFT * np.sum(np.hanning(N_FFT + 1)[:-1] ** 2)
    columns = [twice * ((freqs >= lo) & (freqs < hi)) for lo, hi in BANDS.values()]
    return np.stack(columns, axis=1) / window_energy


def onset_groups(rate: int) -> np.ndarray:
    """(bins x groups) averaging weights: FFT bins pooled into bands a sixth of an octave wide."""
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / rate)
    # Log-spaced so a kick's few low bins weigh like a hi-hat's hundreds of high ones in the flux;
    # below ~130 Hz a sixth of an octave is narrower than a bin, and the unique() merges those.
    edges = 30.0 * 2.0 ** (np.arange(1, 100) / ONSET_BANDS_PER_OCTAVE)
    _, group = np.unique(np.searchsorted(edges, freqs), return_inverse=True)
    members = np.eye(group.max() + 1)[group]
    return members / members.sum(axis=0)


def onset_flux(compressed: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Spectral flux: the rise of log-magnitude from the frame before, averaged over bands (falls ignored)."""
    rise = np.diff(compressed, axis=0, prepend=previous[None, :])
    return np.maximum(rise, 0.0).mean(axis=1)


# ---------------------------------------------------------------- shaping


def normalise(x: np.ndarray, floor: float) -> np.ndarray:
    """Map the 5th..95th percentile to 0..KNEE and bend what is louder towards 1; a curve whose top stays
    under `floor` reads 0."""
    if not len(x):
        return np.zeros(0)
    lo, hi = np.percentile(x, PERCENTILES)
    top = float(x.max())
    if top > lo and hi - lo <= 1e-3 * (top - lo):  # a sparse curve (clicks, onsets): scale by the part that moves
        hi = np.percentile(x[x > lo + 1e-3 * (top - lo)], PERCENTILES[1])
    hi = max(float(hi), floor)
    if hi <= 0.0:
        return np.zeros(len(x))
    lo = min(float(lo), hi / 2)  # a steady sound reads steady and high, not as stretched jitter
    return soft_knee(np.maximum(x - lo, 0.0) / (hi - lo) * KNEE)


def soft_knee(y: np.ndarray) -> np.ndarray:
    """y below KNEE as it is; above, a tanh that leaves the knee at slope 1 and never reaches 1."""
    over = np.maximum(y - KNEE, 0.0) / (1.0 - KNEE)
    return np.minimum(y, KNEE) + (1.0 - KNEE) * np.tanh(over)


def follow(x: np.ndarray, rate: float, attack: float, release: float) -> np.ndarray:
    """One-pole envelope follower: rises with time constant `attack`, falls with `release` (seconds)."""
    up, down = _pole(attack, rate), _pole(release, rate)
    out, y = np.empty(len(x)), 0.0  # the track starts from silence
    for i, v in enumerate(x.tolist()):
        y += (up if v > y else down) * (v - y)
        out[i] = y
    return out


def rms(pcm: np.ndarray) -> float:
    """Root mean square of the whole track (0 for an empty one)."""
    return float(np.sqrt(np.mean(np.square(pcm, dtype=np.float64)))) if len(pcm) else 0.0


def _pole(seconds: float, rate: float) -> float:
    # The share of the gap closed in one sample; 0 s means no smoothing at all.
    return 1.0 if seconds <= 0 else 1.0 - math.exp(-1.0 / (seconds * rate))


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64)
    a.setflags(write=False)
    return a
