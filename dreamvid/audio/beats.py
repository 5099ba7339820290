"""Beats from an onset-strength curve at a known tempo (Ellis 2007, "Beat tracking by dynamic programming"):
the onset peaks that best keep the tempo, chosen by dynamic programming over the whole track, where a lasting
stretch at another tempo keeps its own; and the beat curve a render reads."""

from __future__ import annotations

import functools
import math

import numpy as np

from dreamvid.audio.tempo import autocorrelation, refine_period

# How hard the beat track resists straying from the tempo. librosa's 100 let loud syncopation (a tresillo,
# off-beat stabs) pull a stretch of beats onto the off-beat. At the score's tempo, beat F >= 0.9 on the tune
# split: 18/23 at 100, 19 at 400, 20 at 800, 21 at 1600; a click track ramping 112 -> 128 BPM over a minute
# keeps F 1.00 at 400, 0.94 at 800, 0.79 at 1600. 800: music drifts less than that ramp, but it does drift.
TIGHTNESS = 800.0
# A swung beat starts the long note of its pair: an onset 2/3 of a beat after a place counts for it as a beat,
# one a third after counts against it. Straight eighths and sixteenths sit between those points and are left
# alone. On the tune split at the score's tempo, beat F >= 0.9 on 12 of 23 songs at 0, 19 at 0.5, 10 at 1.
SWING_WEIGHT = 0.5
# A song whose tempo changes for a while (120 -> 150 BPM for 48 s) keeps the song's tempo only at a penalty
# no chain pays. Each LOCAL_SECONDS stretch (every LOCAL_HOP) has its own period where its autocorrelation
# peaks more than LOCAL_CHANGE from the song's, within LOCAL_SPAN of it (a 4:3 pulse, 33%, stays outside),
# LOCAL_MARGIN times as high as at the song's period, for LOCAL_LASTING seconds on end. The tune split's
# linns_basket_faster (144 BPM for 53 s of 120): F 0.80 without, 0.86 at margin 1.2 (a false 96 BPM stretch),
# 0.91-0.92 at 1.35-2; at 1.2-2 no other tune song and none of the 8 Frets on Fire songs is changed.
LOCAL_SECONDS = 8.0
LOCAL_HOP = 2.0
LOCAL_SPAN = 0.3
LOCAL_CHANGE = 0.06
LOCAL_MARGIN = 1.5
LOCAL_LASTING = 16.0
BEAT_DECAY = 0.2  # the beat curve's time constant, as a share of the gap to the next beat: ~0 by then


def track_beats(onset: np.ndarray, rate: float, bpm: float) -> np.ndarray:
    """Beat times in seconds: the onset peaks that best keep `bpm` (Ellis 2007)."""
    period = 60.0 * rate / bpm
    std = onset.std()
    if std <= 0 or period < 2:
        return np.zeros(0)
    local = _local_score(_long_short(onset / std, period), period)
    periods = local_periods(onset, rate, period)
    # A track shorter than the smoothing window comes out of the convolution as long as the window.
    periods = np.pad(periods, (0, len(local) - len(periods)), mode="edge")
    score, back = _cumulative_score(local, periods)
    beats = _backtrack(back, _last_beat(score, period))
    return _trim(beats, local) / rate


def _long_short(onset: np.ndarray, period: float) -> np.ndarray:
    """The onset curve plus SWING_WEIGHT times (what comes 2/3 of a beat later - what comes 1/3 later)."""
    def ahead(lag: int) -> np.ndarray:
        return np.concatenate([onset[lag:], np.zeros(min(lag, len(onset)))])

    third, two_thirds = int(round(period / 3)), int(round(2 * period / 3))
    return np.maximum(onset + SWING_WEIGHT * (ahead(two_thirds) - ahead(third)), 0.0)


def _local_score(onset: np.ndarray, period: float) -> np.ndarray:
    # Smoothing by a Gaussian 1/32 of a beat wide lets a beat sit a sample off its onset peak.
    radius = int(round(period))
    window = np.exp(-0.5 * (np.arange(-radius, radius + 1) * 32.0 / period) ** 2)
    return np.convolve(onset, window, mode="same")


def local_periods(onset: np.ndarray, rate: float, period: float) -> np.ndarray:
    """The beat period at each sample: `period`, except through lasting stretches at another tempo (LOCAL_*)."""
    window, hop = int(LOCAL_SECONDS * rate), max(1, int(LOCAL_HOP * rate))
    periods = np.full(len(onset), period)
    if len(onset) < 2 * window:
        return periods
    centres = np.arange(window // 2, len(onset) - window // 2, hop)
    found = np.array([_stretch_period(onset[c - window // 2:c + window // 2], rate, period) for c in centres])
    changed = np.abs(found / period - 1.0) > LOCAL_CHANGE
    edges = np.flatnonzero(np.diff(np.concatenate([[0], changed.astype(int), [0]])))
    for start, end in zip(edges[::2], edges[1::2]):  # runs of changed stretches
        if (end - start) * LOCAL_HOP >= LOCAL_LASTING:
            first, last = centres[start] - hop // 2, centres[end - 1] + hop // 2
            periods[max(first, 0):last] = np.repeat(found[start:end], hop)[:last - max(first, 0)]
    return periods


def _stretch_period(stretch: np.ndarray, rate: float, period: float) -> float:
    # The stretch's autocorrelation peak within LOCAL_SPAN of `period`, where it clearly beats `period`'s own.
    acf = autocorrelation(stretch)
    low, high = int(period / (1 + LOCAL_SPAN)), int(math.ceil(period * (1 + LOCAL_SPAN)))
    if high + 3 >= len(acf) // 2 or acf[0] <= 0:
        return period
    peak = low + int(np.argmax(acf[low:high + 1]))
    at_song = float(acf[max(int(round(period)) - 1, 1):int(round(period)) + 2].max())
    if acf[peak] <= LOCAL_MARGIN * max(at_song, 0.0) or abs(peak / period - 1.0) <= LOCAL_CHANGE:
        return period
    return refine_period(acf, float(peak), rate)


def _cumulative_score(local: np.ndarray, periods: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best score of a beat sequence ending at each sample (the beat period there: `periods`), and the
    previous beat it came from."""
    score, back = local.astype(np.float64), np.full(len(local), -1)
    # Until the first real onset, a beat starts a chain rather than join one built on silence.
    shortest = max(1, int(round(periods.min() / 2)))
    strong = np.flatnonzero(local[shortest:] >= 0.01 * local.max())
    start = shortest + (int(strong[0]) if len(strong) else len(local))
    # A block of samples no longer than the shortest gap only looks back at samples before the block, which
    # are final: the block is scored at once (the same sums and ties as one sample at a time, 30-60x fewer steps).
    for first in range(start, len(local), shortest):
        lags, penalty = _gaps(float(periods[first]))
        now = np.arange(first, min(first + shortest, len(local)))
        before = now[:, None] - lags[None, :]
        candidates = np.where(before >= 0, score[np.maximum(before, 0)] + penalty, -np.inf)
        best = np.argmax(candidates, axis=1)
        gain = candidates[np.arange(len(now)), best]
        joins = gain > 0  # otherwise a chain starting here beats any chain it could join
        score[now[joins]] += gain[joins]
        back[now[joins]] = before[joins, best[joins]]
    return score, back


@functools.lru_cache(maxsize=64)
def _gaps(period: float) -> tuple[np.ndarray, np.ndarray]:
    # The gaps a beat may look back (earliest beat first) and their penalties: 0 at exactly one period.
    lags = np.arange(max(1, int(round(period / 2))), int(round(2 * period)) + 1)[::-1]
    return lags, -TIGHTNESS * np.log(lags / period) ** 2


def _last_beat(score: np.ndarray, period: float) -> int:
    # The last local maximum of the cumulative score that is not a weak tail (librosa's rule), or the best one
    # within a beat before it: a tight track keeps a weaker chain (a ghost between the beats) apart to the end.
    peaks = np.flatnonzero((score[1:-1] > score[:-2]) & (score[1:-1] >= score[2:])) + 1
    if not len(peaks):
        return int(np.argmax(score))
    strong = peaks[score[peaks] >= 0.5 * np.median(score[peaks])]
    last = int(strong[-1]) if len(strong) else int(peaks[-1])
    near = peaks[(peaks > last - period) & (peaks <= last)]
    return int(near[np.argmax(score[near])])


def _backtrack(back: np.ndarray, last: int) -> np.ndarray:
    beats = [last]
    while back[beats[-1]] >= 0:
        beats.append(int(back[beats[-1]]))
    return np.array(beats[::-1])


def _trim(beats: np.ndarray, local: np.ndarray) -> np.ndarray:
    # Beats the DP extrapolated into a quiet intro or outro: drop leading and trailing weak ones.
    strength = local[beats]
    strong = np.flatnonzero(strength >= 0.5 * np.sqrt(np.mean(strength**2)))
    return beats[strong[0]:strong[-1] + 1] if len(strong) else beats[:0]


def shift_beats(beats: np.ndarray, offset: float, duration: float) -> np.ndarray:
    """Beats moved `offset` seconds later (earlier when negative), keeping those inside the track."""
    moved = np.asarray(beats, np.float64) + offset
    return moved[(moved >= 0.0) & (moved < duration)]


def beat_curve(beats: np.ndarray, samples: int, rate: float, bpm: float) -> np.ndarray:
    """1 at the sample nearest each beat time, decaying to ~0 by the next; 0 before the first."""
    curve = np.zeros(samples)
    marks = np.unique(np.round(np.asarray(beats) * rate).astype(int))
    marks = marks[marks >= 0]
    period = 60.0 * rate / bpm if bpm > 0 else rate  # after the last beat: the tempo's gap
    gaps = np.diff(marks, append=marks[-1] + period) if len(marks) else marks
    for mark, gap in zip(marks[marks < samples], gaps):
        end = min(samples, mark + int(math.ceil(gap)))
        curve[mark:end] = np.exp(-np.arange(end - mark) / (BEAT_DECAY * max(gap, 1.0)))
    return curve
