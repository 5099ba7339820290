"""What a schedule expression will read from a track: its curves as a picture, or as numbers per frame."""

from __future__ import annotations

import math

import cv2
import numpy as np

from dreamvid.audio.features import CURVES, NAMES, Features, at_frames
from dreamvid.audio.schedules import load_features
from dreamvid.media.pictures import check_picture_output, save_picture
from dreamvid.notices import notify

LANE = 64  # px per curve
BEAT_LANE = 20  # px for the beat ticks
# Under this share of the two best tempi's scores the runner-up is named: on the scored songs' tune split
# (benchmarks/bench_tempo.py) the score's tempo for 3 of the 6 wrong tempi, and 7 of the 17 right ones too.
CLOSE_SHARE = 0.6
TICK = 12  # px of each tick
MIN_GAP = 4  # px between ticks, so that each stays apart from the next
TITLE = 30  # px above the lanes
AXIS = 24  # px below them, for the seconds
LABELS = 70  # px left of the lanes, for the names
FONT = cv2.FONT_HERSHEY_SIMPLEX
COLOURS = {"level": (60, 60, 60), "bass": (200, 60, 40), "mid": (220, 150, 20), "treble": (40, 140, 200),
           "onset": (150, 60, 180), "beat": (30, 150, 60)}  # RGB


def features_picture(features: Features, width: int = 1200) -> np.ndarray:
    """An RGB uint8 picture: one labelled lane per curve over time (each pixel column the band its samples
    span, and their mean), the beats as ticks on a lane of their own, tempo in the title, seconds below."""
    plot = max(width - LABELS - 10, 50)
    span = max(features.duration, 1e-6)
    columns = column_ranges(features.curves, features.rate, span, plot)
    lanes = [_label(name, _lane(*columns[name], COLOURS[name]), LANE) for name in CURVES]
    ticks, every = _beat_columns(features, span, plot)
    lanes.append(_label("beat" if every == 1 else f"beat/{every}", _beat_lane(ticks, plot), BEAT_LANE, "beat"))
    body = np.vstack(lanes)
    body = np.hstack([body, np.full((body.shape[0], width - body.shape[1], 3), 255, np.uint8)])
    return np.vstack([_title(f"{span:.1f} s, {tempo_text(features)}", width), body, _axis(span, plot, width)])


def tempo_text(features: Features) -> str:
    """"130.0 BPM, 310 beats", with the runner-up where the call was close, or "no steady beat"."""
    if not features.tempo:
        return "no steady beat"
    text = f"{features.tempo:.1f} BPM, {len(features.beats)} beats"
    if features.runner_up and features.tempo_share < CLOSE_SHARE:
        text += (f" (not sure: {features.tempo_share:.0%} of the score; or perhaps {features.runner_up:.1f} BPM:"
                 " pass --audio-bpm to choose)")
    return text


def features_csv(features: Features, fps: float) -> str:
    """One row per video frame: frame, seconds, then every feature as the schedule would read it."""
    frames = int(math.ceil(features.duration * fps - 1e-9))
    values = at_frames(features, fps, frames)
    # A comment first, so a script finds the tempo without re-analysing (pandas: read_csv(comment="#")).
    rows = [f"# tempo_bpm={features.tempo:.2f} beats={len(features.beats)}", ",".join(("frame", "seconds", *NAMES))]
    for t in range(frames):
        rows.append(",".join([str(t), f"{t / fps:.4f}", *(f"{values[name][t]:.4f}" for name in NAMES)]))
    return "\n".join(rows) + "\n"


def show_features(path: str, output: str, settings: dict, fps: float, csv: bool, overwrite: bool = False) -> str:
    """`dreamvid audio`: the features picture written to `output` (when given); the CSV text when `csv`."""
    if output:
        check_picture_output(output, overwrite)  # before decoding: a refused output costs nothing
    features = load_features(path, settings)
    notify(f"{path}: {tempo_text(features)}")
    if output:
        save_picture(features_picture(features), output)
    return features_csv(features, fps) if csv else ""


def column_ranges(curves: dict[str, np.ndarray], rate: float, span: float,
                  plot: int) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Each curve's lowest, mean and highest value within every pixel column: a 5-minute track has ~20
    samples a column, and its peaks alone would hide every dip."""
    samples = len(next(iter(curves.values())))
    if samples == 0:
        return {name: (np.zeros(plot),) * 3 for name in curves}
    starts = np.minimum((np.arange(plot) * span / plot * rate).astype(int), samples - 1)
    counts = np.diff(np.append(starts, samples)).clip(min=1)
    return {name: (np.minimum.reduceat(c, starts), np.add.reduceat(c, starts) / counts, np.maximum.reduceat(c, starts))
            for name, c in curves.items()}


def _beat_columns(features: Features, span: float, plot: int) -> tuple[np.ndarray, int]:
    """The columns of every n-th beat, n the smallest power of 2 that keeps ticks MIN_GAP px apart (884
    beats in 1100 px drawn one by one are a solid bar); n is written on the lane."""
    every = 1
    while len(features.beats) > every and len(features.beats) / every * MIN_GAP > plot:
        every *= 2
    shown = features.beats[::every]
    return np.unique(np.clip((shown / span * plot).astype(int), 0, plot - 1)), every


def _lane(low: np.ndarray, mean: np.ndarray, high: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """A curve over white, 0 at the bottom and 1 just under the top: a pale band from each column's lowest
    to highest value, its mean as a strong line."""
    lane = np.full((LANE, len(mean), 3), 255, np.uint8)
    rows = np.arange(LANE)[::-1, None]  # height of each pixel row above the 0 line
    heights = [np.round(np.clip(v, 0.0, 1.0) * (LANE - 4)).astype(int) for v in (low, mean, high)]
    lane[(rows >= heights[0][None, :]) & (rows <= heights[2][None, :])] = (np.array(colour) * 0.35 + 255 * 0.65)
    # The mean as a connected line: each column's stroke reaches its left neighbour's mean height too.
    left = np.concatenate([heights[1][:1], heights[1][:-1]])
    lane[(rows >= np.minimum(left, heights[1])[None, :]) & (rows <= np.maximum(left, heights[1])[None, :])] = colour
    lane[-1, :] = (180, 180, 180)  # the lane's 0 line
    return lane


def _beat_lane(beats: np.ndarray, plot: int) -> np.ndarray:
    """A tick per beat: where the ticks thin out or stop, the beat tracker found no beat."""
    lane = np.full((BEAT_LANE, plot, 3), 255, np.uint8)
    lane[(BEAT_LANE - TICK) // 2:(BEAT_LANE + TICK) // 2, beats] = COLOURS["beat"]
    return lane


def _label(text: str, lane: np.ndarray, height: int, colour: str = "") -> np.ndarray:
    strip = np.full((height, LABELS, 3), 255, np.uint8)
    cv2.putText(strip, text, (6, height // 2 + 5), FONT, 0.5, COLOURS[colour or text], 1, cv2.LINE_AA)
    return np.hstack([strip, lane])


def _title(text: str, width: int) -> np.ndarray:
    strip = np.full((TITLE, width, 3), 255, np.uint8)
    cv2.putText(strip, text, (6, TITLE - 9), FONT, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    return strip


def _axis(span: float, plot: int, width: int) -> np.ndarray:
    """Ticks every second (when they are at least 4 px apart) and labels at a readable 1-2-5 step."""
    strip = np.full((AXIS, width, 3), 255, np.uint8)
    step = next(s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1e9) if s * plot / span >= 60)
    minor = 1 if plot / span >= 4 else step
    for second in np.arange(0, span + 1e-9, minor):
        x = LABELS + min(int(second / span * plot), plot - 1)
        labelled = second % step == 0
        strip[: 8 if labelled else 4, x] = (0, 0, 0)
        if labelled:
            text = f"{second:g}s"
            left = min(x + 2, width - cv2.getTextSize(text, FONT, 0.4, 1)[0][0] - 2)  # the last one stays inside
            cv2.putText(strip, text, (left, AXIS - 5), FONT, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return strip
