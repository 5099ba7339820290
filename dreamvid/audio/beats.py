"""Tempo and beats from an onset-strength curve (Ellis 2007, "Beat tracking by dynamic programming").

The tempo is chosen in two steps. First its family, up to octaves: the strongest autocorrelation peak, or
3 times or a third of it (the 3:2 and 3:4 relations a beat can have with the pulse), whichever a beat grid
explains best over the whole song: onsets folded on the grid's period fall on one phase, at the beat, at
its half (the beat is subdivided) and at two or three beats (the bar). Then the octave: the family's
member with the strongest autocorrelation, weighted by a mild log-Gaussian preference for ~135 BPM and
by how well its bar repeats (an octave too fast sees half bars, one too slow two bars). Beats are then the
onset peaks that best keep that tempo, chosen by dynamic programming over the whole track. A tempo the user knows replaces the search by the candidate nearest to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# The tempo most music sits near; it settles 60-vs-120-vs-240 ambiguities within the chosen family.
# Measured on the tune split of the scored songs and the 8 Frets on Fire songs: see DESIGN.md "Music".
PRIOR_BPM = 135.0
PRIOR_OCTAVES = 1.0  # the prior's width: a tempo one octave away still keeps 61% of its score
FAMILIES = (1.0, 3.0, 1.0 / 3.0)  # the pulse's period times these, up to octaves: the candidate families
# An octave's score is its pulse's times how well its bar (3 or 4 beats) repeats, to this power: four beats of
# an octave too fast are half a bar, which repeats less than a bar where the phrase is a bar. On the tune split,
# at the 135 BPM prior, tempo right on 17/23 at 0, 17-18 at 1-2, 20 at 3-4; bars of 4 beats alone read 21 at 3
# but a synthetic song whose bass cycles every 3 beats at double time; two bars among the lags read 17.
BAR_BEATS = (3, 4)
BAR_WEIGHT = 3.0
FAMILY_BPM = 95.0  # a family is judged at its member within half an octave of this tempo
GRID_SECONDS = 10.0  # onsets are folded on a grid per stretch this long: a tempo may drift between them
TEMPO_RANGE = (30.0, 300.0)  # BPM searched
HINT_WINDOW = 0.1  # a tempo the user gives picks the strongest candidate within +-10% of it
HARMONICS_SECONDS = 8.0  # lags up to this long refine the period (an error shrinks k-fold at the k-th peak)
PULSE = 0.1  # a pulse repeats at least this share of the onset variance (clicks ~1, music 0.2-0.6, noise <0.05)
# How hard the beat track resists straying from the tempo. librosa's 100 let loud syncopation (a tresillo,
# off-beat stabs) pull a stretch of beats onto the off-beat. At the score's tempo, beat F >= 0.9 on the tune
# split: 18/23 at 100, 19 at 400, 20 at 800, 21 at 1600; a click track ramping 112 -> 128 BPM over a minute
# keeps F 1.00 at 400, 0.94 at 800, 0.79 at 1600. 800: music drifts less than that ramp, but it does drift.
TIGHTNESS = 800.0
# A swung beat starts the long note of its pair: an onset 2/3 of a beat after a place counts for it as a beat,
# one a third after counts against it. Straight eighths and sixteenths sit between those points and are left
# alone. On the tune split at the score's tempo, beat F >= 0.9 on 12 of 23 songs at 0, 19 at 0.5, 10 at 1.
SWING_WEIGHT = 0.5
BEAT_DECAY = 0.2  # the beat curve's time constant, as a share of the gap to the next beat: ~0 by then


@dataclass(frozen=True)
class Tempo:
    """The tempo found (BPM, 0.0 where there is no pulse), the runner-up and how the two compare."""

    bpm: float
    runner_up: float = 0.0
    share: float = 1.0  # the winner's share of the two scores: 0.5 is a coin toss, 1.0 no contest


def estimate_tempo(onset: np.ndarray, rate: float, hint: float = 0.0) -> float:
    """The track's tempo in BPM from its onset curve sampled at `rate`; 0.0 when it has no pulse.
    With a `hint` (BPM), the candidate nearest to it, or the hint itself where the curve has no peak near."""
    return find_tempo(onset, rate, hint).bpm


def find_tempo(onset: np.ndarray, rate: float, hint: float = 0.0) -> Tempo:
    """The tempo with its runner-up (see the module docstring); a hint is taken as sure."""
    acf = autocorrelation(onset)
    lags = _lags(rate, len(acf), hint)
    if not len(lags) or acf[0] <= 0:
        return Tempo(float(hint))
    pulse = np.maximum(acf[lags], 0.0)
    if hint:
        return Tempo(_hinted(acf, lags, pulse, rate, hint))
    weighted = pulse * _prior(60.0 * rate / lags)
    if weighted.max() < PULSE * acf[0]:  # nothing repeats: a steady tone, noise, one hit
        return Tempo(0.0)
    ranked = _candidates(onset, acf, lags, float(lags[np.argmax(weighted)]), rate)
    (best, first), (second, other) = ranked[0], ranked[1]
    return Tempo(60.0 * rate / best, 60.0 * rate / second, first / (first + other) if first > 0 else 1.0)


def _prior(bpm: np.ndarray | float) -> np.ndarray:
    return np.exp(-0.5 * (np.log2(np.asarray(bpm) / PRIOR_BPM) / PRIOR_OCTAVES) ** 2)


def _candidates(onset: np.ndarray, acf: np.ndarray, lags: np.ndarray, pulse: float,
                rate: float) -> list[tuple[float, float]]:
    """(period, score) best first: each family's best octave, then the winning family's second octave.
    A score is the family's grid score times the octave's share of the family's best octave."""
    window = max(1, int(GRID_SECONDS * rate))
    ranked = []
    for ratio in FAMILIES:
        period = _near(pulse * ratio, 60.0 * rate / FAMILY_BPM)
        members = [_octave_score(acf, m, rate) for m in _octaves(period, lags)]
        members.sort(reverse=True)
        if not members or members[0][0] <= 0:
            continue
        family = _family_score(onset, period, window) * members[0][0]
        ranked += [(family * score / members[0][0], member) for score, member in members[:2]]
    if not ranked:  # no octave of any family repeats once refined: the strongest peak as it is
        return [(pulse, 1.0), (pulse, 0.0)]
    ranked.sort(reverse=True)
    best = ranked[0][1]
    rest = [c for c in ranked[1:] if abs(c[1] / best - 1.0) > 0.02] or [(0.0, best)]
    return [(best, ranked[0][0]), (rest[0][1], rest[0][0])]


def _near(period: float, target: float) -> float:
    # The octave of `period` nearest `target` (both in samples).
    return period * 2.0 ** round(math.log2(target / period))


def _octaves(period: float, lags: np.ndarray) -> list[float]:
    return [period * 2.0**k for k in range(-4, 5) if lags[0] <= period * 2.0**k <= lags[-1]]


def _octave_score(acf: np.ndarray, period: float, rate: float) -> tuple[float, float]:
    refined = refine_period(acf, period, rate)
    pulse = max(float(acf[int(round(refined))]), 0.0) * float(_prior(60.0 * rate / refined))
    return pulse * bar_repeat(acf, refined) ** BAR_WEIGHT, refined


def bar_repeat(acf: np.ndarray, period: float) -> float:
    """How alike the music is a bar apart at this beat period: the autocorrelation's best peak at BAR_BEATS
    beats over the variance (0 when negative); where the track is too short for those lags, at 2 or 1 beats."""
    for beats in (BAR_BEATS, (2,), (1,)):
        centres = [int(round(b * period)) for b in beats if int(round(b * period)) + 3 <= len(acf) // 2]
        if centres:
            return max(max(float(acf[max(c - 2, 1):c + 3].max()) for c in centres), 0.0) / float(acf[0])
    return 1.0


def _family_score(onset: np.ndarray, period: float, window: int) -> float:
    """How well grids at this period explain the onsets: at the beat, its half, and two or three beats."""
    fit = {k: grid_fit(onset, period * k, window) - 1.0 for k in (0.5, 1.0, 2.0, 3.0)}
    return max(fit[1.0], 0.0) * max(fit[0.5], 0.0) * max(fit[2.0], fit[3.0], 0.0)


def grid_fit(onset: np.ndarray, period: float, window: int) -> float:
    """Onsets folded on `period` in stretches of `window` samples: the mean at each stretch's strongest
    phase over the stretch's mean, added over stretches (1.0: the grid explains nothing)."""
    bins = int(round(period))
    if bins < 2:
        return 1.0
    index = np.arange(len(onset))
    key = (index // window) * bins + np.minimum((index % period) / period * bins, bins - 1).astype(int)
    stretches = int(index[-1] // window) + 1
    sums = np.bincount(key, onset, stretches * bins).reshape(stretches, bins)
    counts = np.bincount(key, None, stretches * bins).reshape(stretches, bins)
    profile = sums / np.maximum(counts, 1)
    mean = float(profile.mean(axis=1).sum())
    return float(profile.max(axis=1).sum()) / mean if mean > 0 else 1.0


def _lags(rate: float, samples: int, hint: float) -> np.ndarray:
    """The beat periods (in samples) searched: the tempo range, or the hint's window."""
    fastest, slowest = (hint * (1 + HINT_WINDOW), hint * (1 - HINT_WINDOW)) if hint else TEMPO_RANGE[::-1]
    low, high = int(math.ceil(60.0 * rate / fastest)), int(60.0 * rate / slowest)
    return np.arange(max(low, 1), min(high, samples // 2) + 1)


def _hinted(acf: np.ndarray, lags: np.ndarray, pulse: np.ndarray, rate: float, hint: float) -> float:
    # A peak inside the window (not its edge, where the curve only slopes up to a tempo outside) is the
    # hint's candidate, refined like any other; otherwise the hint stands as given.
    i = int(np.argmax(pulse))
    if pulse[i] <= 0 or i in (0, len(lags) - 1):
        return float(hint)
    return 60.0 * rate / refine_period(acf, float(lags[i]), rate)


def autocorrelation(x: np.ndarray) -> np.ndarray:
    """Unbiased autocorrelation of x minus its mean (each lag averaged over the pairs it has), by FFT."""
    n = len(x)
    if n < 2:
        return np.zeros(n)
    spectrum = np.fft.rfft(x - x.mean(), 2 * n)  # zero padding to 2n: no wrap-around
    acf = np.fft.irfft(np.abs(spectrum) ** 2)[:n]
    return acf / np.arange(n, 0, -1)


def refine_period(acf: np.ndarray, period: float, rate: float) -> float:
    """A sub-sample period: the peaks near k * period, each found to a fraction of a lag, fitted by k."""
    last = min(len(acf) // 2, int(HARMONICS_SECONDS * rate))
    ks, peaks = [], []
    for k in range(1, int(last / period) + 1):
        centre = int(round(k * period))
        lo, hi = max(centre - 2, 1), min(centre + 3, len(acf) - 1)
        if hi - lo < 3:
            break
        peak = _parabolic_peak(acf, lo + int(np.argmax(acf[lo:hi])))
        ks.append(k)
        peaks.append(peak)
        period = float(np.dot(ks, peaks) / np.dot(ks, ks))  # least squares through 0: later peaks weigh more
    return period


def _parabolic_peak(y: np.ndarray, i: int) -> float:
    # The vertex of the parabola through the peak and its neighbours.
    left, centre, right = y[i - 1], y[i], y[i + 1]
    curvature = left - 2 * centre + right
    if curvature >= 0:  # no peak here (a slope or a plateau): keep the sample
        return float(i)
    return i + float(np.clip(0.5 * (left - right) / curvature, -1.0, 1.0))


def track_beats(onset: np.ndarray, rate: float, bpm: float) -> np.ndarray:
    """Beat times in seconds: the onset peaks that best keep `bpm` (Ellis 2007)."""
    period = 60.0 * rate / bpm
    std = onset.std()
    if std <= 0 or period < 2:
        return np.zeros(0)
    local = _local_score(_long_short(onset / std, period), period)
    score, back = _cumulative_score(local, period)
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


def _cumulative_score(local: np.ndarray, period: float) -> tuple[np.ndarray, np.ndarray]:
    """Best score of a beat sequence ending at each sample, and the previous beat it came from."""
    lags = np.arange(max(1, int(round(period / 2))), int(round(2 * period)) + 1)[::-1]  # earliest beat first
    penalty = -TIGHTNESS * np.log(lags / period) ** 2  # 0 at exactly one period, steeply worse off it
    score, back = local.astype(np.float64), np.full(len(local), -1)
    # Until the first real onset, a beat starts a chain rather than join one built on silence.
    shortest = int(lags[-1])
    strong = np.flatnonzero(local[shortest:] >= 0.01 * local.max())
    start = shortest + (int(strong[0]) if len(strong) else len(local))
    # A block of samples no longer than the shortest gap only looks back at samples before the block, which
    # are final: the block is scored at once (the same sums and ties as one sample at a time, 30-60x fewer steps).
    for first in range(start, len(local), shortest):
        now = np.arange(first, min(first + shortest, len(local)))
        before = now[:, None] - lags[None, :]
        candidates = np.where(before >= 0, score[np.maximum(before, 0)] + penalty, -np.inf)
        best = np.argmax(candidates, axis=1)
        gain = candidates[np.arange(len(now)), best]
        joins = gain > 0  # otherwise a chain starting here beats any chain it could join
        score[now[joins]] += gain[joins]
        back[now[joins]] = before[joins, best[joins]]
    return score, back


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
