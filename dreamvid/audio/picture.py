"""What a schedule expression will read from a track: its curves as a picture, or as numbers per frame."""

from __future__ import annotations

import math

import cv2
import numpy as np

from dreamvid.audio.beats import beat_curve
from dreamvid.audio.features import CURVES, NAMES, Features, at_frames
from dreamvid.audio.schedules import load_features
from dreamvid.media.pictures import check_picture_output, save_picture

LANE = 64  # px per curve
TITLE = 30  # px above the lanes
AXIS = 24  # px below them, for the seconds
LABELS = 70  # px left of the lanes, for the names
FONT = cv2.FONT_HERSHEY_SIMPLEX
COLOURS = {"level": (60, 60, 60), "bass": (200, 60, 40), "mid": (220, 150, 20), "treble": (40, 140, 200),
           "onset": (150, 60, 180), "beat": (30, 150, 60)}  # RGB
BEAT_MARK = (225, 225, 225)


def features_picture(features: Features, width: int = 1200) -> np.ndarray:
    """An RGB uint8 picture: one labelled lane per feature over time, beats marked, tempo in the title."""
    plot = max(width - LABELS - 10, 50)
    span = max(features.duration, 1e-6)
    columns = _column_peaks(_curves(features), features.rate, span, plot)
    lanes = [_lane(columns[name], COLOURS[name], _beat_columns(features, span, plot)) for name in NAMES]
    body = np.vstack([_label(name, lane) for name, lane in zip(NAMES, lanes)])
    body = np.hstack([body, np.full((body.shape[0], width - body.shape[1], 3), 255, np.uint8)])
    tempo = f"{features.tempo:.1f} BPM, {len(features.beats)} beats" if features.tempo else "no steady beat"
    return np.vstack([_title(f"{span:.1f} s, {tempo}", width), body, _axis(span, plot, width)])


def features_csv(features: Features, fps: float) -> str:
    """One row per video frame: frame, seconds, then every feature as the schedule would read it."""
    frames = int(math.ceil(features.duration * fps - 1e-9))
    values = at_frames(features, fps, frames)
    rows = [",".join(("frame", "seconds", *NAMES))]
    for t in range(frames):
        rows.append(",".join([str(t), f"{t / fps:.4f}", *(f"{values[name][t]:.4f}" for name in NAMES)]))
    return "\n".join(rows) + "\n"


def show_features(path: str, output: str, settings: dict, fps: float, csv: bool, overwrite: bool = False) -> str:
    """`dreamvid audio`: the features picture written to `output` (when given); the CSV text when `csv`."""
    if output:
        check_picture_output(output, overwrite)  # before decoding: a refused output costs nothing
    features = load_features(path, settings)
    if output:
        save_picture(features_picture(features), output)
    return features_csv(features, fps) if csv else ""


def _curves(features: Features) -> dict[str, np.ndarray]:
    samples = len(features.curves[CURVES[0]])
    return {**features.curves, "beat": beat_curve(features.beats, samples, features.rate, features.tempo)}


def _column_peaks(curves: dict[str, np.ndarray], rate: float, span: float, plot: int) -> dict[str, np.ndarray]:
    """Each curve's highest value within every pixel column, so no spike vanishes when a track is long."""
    samples = len(next(iter(curves.values())))
    starts = np.minimum((np.arange(plot) * span / plot * rate).astype(int), max(samples - 1, 0))
    if samples == 0:
        return {name: np.zeros(plot) for name in curves}
    return {name: np.maximum.reduceat(curve, starts) for name, curve in curves.items()}


def _beat_columns(features: Features, span: float, plot: int) -> np.ndarray:
    return np.unique(np.clip((features.beats / span * plot).astype(int), 0, plot - 1))


def _lane(values: np.ndarray, colour: tuple[int, int, int], beats: np.ndarray) -> np.ndarray:
    """A curve as a filled area over white, 0 at the bottom and 1 just under the top, with beat marks."""
    lane = np.full((LANE, len(values), 3), 255, np.uint8)
    lane[:, beats] = BEAT_MARK
    heights = np.round(np.clip(values, 0.0, 1.0) * (LANE - 4)).astype(int)
    filled = np.arange(LANE)[::-1, None] < heights[None, :]
    lane[filled] = (np.array(colour) * 0.35 + 255 * 0.65).astype(np.uint8)  # a pale fill, a strong edge
    top = np.clip(LANE - 1 - heights, 0, LANE - 1)
    lane[top, np.arange(len(values))] = colour
    lane[-1, :] = (180, 180, 180)  # the lane's 0 line
    return lane


def _label(name: str, lane: np.ndarray) -> np.ndarray:
    strip = np.full((LANE, LABELS, 3), 255, np.uint8)
    cv2.putText(strip, name, (6, LANE // 2 + 5), FONT, 0.5, COLOURS[name], 1, cv2.LINE_AA)
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
