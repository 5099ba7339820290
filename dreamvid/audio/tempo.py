"""The tempo of an onset-strength curve: its family up to octaves, then the octave.

First the family: the strongest autocorrelation peak, or 3 times or a third of it (the 3:2 and 3:4 relations a
beat can have with the pulse), whichever a beat grid explains best over the whole song: onsets folded on the
grid's period fall on one phase, at the beat, at its half (the beat is subdivided) and at two or three beats
(the bar). Then the octave: the family's member with the strongest autocorrelation, weighted by a mild
log-Gaussian preference for ~135 BPM, by how well its bar repeats (an octave too fast sees half bars, one too
slow two bars), by how clearly its subdivisions stand out from what lies between them (an octave too slow
has the real beats for subdivisions, and their eighths between them) and by how much more alike its bar is
than its half bar (an octave too slow calls a bar its half bar). A tempo the user knows replaces the search
by the candidate nearest to it.
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
# And times how clearly its subdivisions stand out: onsets folded on half its period, the strongest phase over
# the phase half-way between (at most SUBDIVISION_CAP), to this power. An octave at half the tempo has the
# real beats for subdivisions and their eighths, nearly as loud, between them; the real beat's eighths stand
# over its sixteenths. A fast song's bass on 1 and 3 and its repeating bars favour half its tempo, which this
# answers. On the tune split: tempo right 20/23 at 0, 22/23 at 0.25-1 (cap 3) and at 0.5 (caps 2-10).
SUBDIVISION_WEIGHT = 0.5
SUBDIVISION_CAP = 3.0
# And times how much more alike the music is a bar (4 beats) apart than half a bar (2 beats) apart, to this power.
# At the beat the two halves of a bar differ (the kick's pattern, the chords); an octave too slow calls two bars
# its bar and one its half, which repeat alike; one too fast calls half a bar its bar and a beat its half. Lags
# in beats: a slowed copy reads the same. On the tune split tempo right 23/24 at 0-2 (the margin of the right
# octave grows: median log-odds of its share 0.50 -> 0.71), 22/24 at 2.5. Each peak is floored at HALF_BAR_FLOOR of
# the variance, so no octave reads 0, and the ratio capped: in a synthetic 3/4 song at 180 BPM the bar's octave
# at 240, whose 2 "beats" repeat nothing, read 19 and outranked the bar (60) as the runner-up (the tune split and
# Frets on Fire songs: 0.8-1.6 at the score's tempo and its octaves, 5th-95th percentile).
HALF_BAR_WEIGHT = 1.0
HALF_BAR_FLOOR = 0.05
HALF_BAR_CAP = 2.0
FAMILY_BPM = 95.0  # a family is judged at its member within half an octave of this tempo
GRID_SECONDS = 10.0  # onsets are folded on a grid per stretch this long: a tempo may drift between them
TEMPO_RANGE = (30.0, 300.0)  # BPM searched
HINT_WINDOW = 0.1  # a tempo the user gives picks the strongest candidate within +-10% of it
HARMONICS_SECONDS = 8.0  # lags up to this long refine the period (an error shrinks k-fold at the k-th peak)
PULSE = 0.1  # a pulse repeats at least this share of the onset variance (clicks ~1, music 0.2-0.6, noise <0.05)

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
        if not members or max(members)[0] <= 0:
            continue
        family = _family_score(onset, period, window) * max(members)[0]
        # The subdivisions only choose among octaves: a family is judged by its best octave without them.
        halves = _half_bar_weights(acf, [member for _, member in members])
        members = sorted(((score * _subdivided(onset, member / 2, window) * half, member)
                          for (score, member), half in zip(members, halves)), reverse=True)
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
            return max(max(_peak_near(acf, c) for c in centres), 0.0) / float(acf[0])
    return 1.0


def bar_over_half_bar(acf: np.ndarray, period: float) -> float:
    """How much more alike the music is 4 beats apart than 2 (HALF_BAR_WEIGHT's term); 1.0 on a short track."""
    if int(round(4 * period)) + 3 > len(acf) // 2:
        return 1.0
    floor = HALF_BAR_FLOOR * float(acf[0])
    ratio = max(_peak_near(acf, int(round(4 * period))), floor) / max(_peak_near(acf, int(round(2 * period))), floor)
    return min(ratio, HALF_BAR_CAP)


def _half_bar_weights(acf: np.ndarray, periods: list[float]) -> list[float]:
    # Only where every octave has its 4 beats within the track's first half: an octave measured against one that
    # reads 1.0 for want of lags would be judged by the track's length (a 3.5 s click track read at half tempo).
    if any(int(round(4 * period)) + 3 > len(acf) // 2 for period in periods):
        return [1.0] * len(periods)
    return [bar_over_half_bar(acf, period) ** HALF_BAR_WEIGHT for period in periods]


def _peak_near(acf: np.ndarray, lag: int) -> float:
    # The autocorrelation's highest value within 2 lags of `lag` (a peak a sample or two off its nominal lag).
    return float(acf[max(lag - 2, 1):lag + 3].max())


def _family_score(onset: np.ndarray, period: float, window: int) -> float:
    """How well grids at this period explain the onsets: at the beat, its half, and two or three beats."""
    fit = {k: grid_fit(onset, period * k, window) - 1.0 for k in (0.5, 1.0, 2.0, 3.0)}
    return max(fit[1.0], 0.0) * max(fit[0.5], 0.0) * max(fit[2.0], fit[3.0], 0.0)


def grid_fit(onset: np.ndarray, period: float, window: int) -> float:
    """Onsets folded on `period` in stretches of `window` samples: the mean at each stretch's strongest
    phase over the stretch's mean, added over stretches (1.0: the grid explains nothing)."""
    if int(round(period)) < 2:
        return 1.0
    profile = _folded(onset, period, window)
    mean = float(profile.mean(axis=1).sum())
    return float(profile.max(axis=1).sum()) / mean if mean > 0 else 1.0


def _subdivided(onset: np.ndarray, period: float, window: int) -> float:
    # SUBDIVISION_WEIGHT's term: onsets folded on `period` per stretch, the strongest phase's mean over the
    # mean half a period away (the best of three phases there), summed over stretches, capped.
    bins = int(round(period))
    if bins < 4:  # too few phases to tell a half-way point from the peak
        return 1.0
    profile = _folded(onset, period, window)
    rows, best = np.arange(len(profile)), profile.argmax(axis=1)
    between = np.max([profile[rows, (best + bins // 2 + d) % bins] for d in (-1, 0, 1)], axis=0)
    peak, rest = float(profile[rows, best].sum()), float(between.sum())
    return min(peak / rest if rest > 0 else SUBDIVISION_CAP, SUBDIVISION_CAP) ** SUBDIVISION_WEIGHT


def _folded(onset: np.ndarray, period: float, window: int) -> np.ndarray:
    # (stretches x round(period) phases): the onsets' mean at each phase of the period, per stretch.
    bins = int(round(period))
    index = np.arange(len(onset))
    key = (index // window) * bins + np.minimum((index % period) / period * bins, bins - 1).astype(int)
    stretches = int(index[-1] // window) + 1
    sums = np.bincount(key, onset, stretches * bins).reshape(stretches, bins)
    counts = np.bincount(key, None, stretches * bins).reshape(stretches, bins)
    return sums / np.maximum(counts, 1)


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
