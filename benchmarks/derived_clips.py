"""Footage of kinds the filmed sample clips lack, derived from them (issue 31), labelled as derived in bench_real.

- *approach*: a progressive crop-zoom into a still camera's clip, accelerating as an object walking up to the
  lens grows (1x to 6x: the apparent size 1 / (1 - (5/6) t / T), 8.5% a frame at the end of 60), with a defocus that comes and goes (a
  Gaussian of up to 1.5 px at the dream size) as a lens's focus lags behind. The window is cut from the clip
  at twice the dream size, so the zoom shows finer detail first and upsampled softness last. *recede*: the
  same played backwards (the object walks away; the picture shrinks).
- *object*: an object walking up to a still camera until it fills the frame: an ellipse around the talking head of
  `carphone` (OBJECT_FILE, playing as filmed: it talks and turns) laid over the still camera's clip, growing from
  0.3 to 2.4 times the frame's height (12% a frame at the end of 60), accelerating as `approach` does, with a feathered
  edge; the lens's focus follows the head, so the scene behind it blurs as it nears (up to 2 px), and the head itself
  goes soft in the last third (closer than the lens focuses). Only the object changes scale: the scene behind it
  keeps still, and its edge occludes it.
- *night*: the same clip in low light: linear light down to 6% (about four stops), photon noise for a sensor
  that collects 1,000 electrons at full white, read noise of 3 electrons, then the camera's gain (4x) and
  H.264 at crf 28, which smears the noise into blocks that change every frame.

Deterministic: the noise is seeded.
"""

import os
import tempfile

import cv2
import numpy as np

from dreamvid.media.reader import read_frames
from dreamvid.media.synthetic import write_clip

ZOOM_END = 6.0  # the window's last magnification: 8.5% a frame at the end of 60 frames, like a head walking up
DEFOCUS_SIGMA = 1.5  # px at the dream size, at the middle of the clip
DARKER = 0.06  # linear light kept
FULL_WELL = 1000.0  # electrons at full white
READ_NOISE = 3.0  # electrons
GAIN = 4.0  # the camera's gain on the dark picture
NIGHT_CRF = 28
OBJECT_FILE = "carphone_pristine.mp4"  # beside the clip: the object's footage (a head, 176x144)
OBJECT_ELLIPSE = (88, 72, 62, 74)  # centre x, y and half-axes, px of OBJECT_FILE: the head and shoulders as it moves
OBJECT_HEIGHTS = (0.3, 2.4)  # the object's height over the frame's, first and last
BACKGROUND_DEFOCUS = 2.0  # px at the dream size, the last frame's blur of the scene behind the object
OBJECT_DEFOCUS = 1.2  # px at the dream size, the object's own blur at the last frame (from two thirds on)


def approach(frames: list[np.ndarray], size: tuple[int, int]) -> list[np.ndarray]:
    """A crop-zoom into `frames` (at about twice `size`), accelerating to ZOOM_END, with a defocus that
    comes and goes; frames at `size` = (width, height)."""
    height, width = frames[0].shape[:2]
    last = max(1, len(frames) - 1)
    out = []
    for t, frame in enumerate(frames):
        zoom = 1 / (1 - (1 - 1 / ZOOM_END) * t / last)
        crop_w, crop_h = width / zoom, height / zoom
        x0, y0 = (width - crop_w) / 2, (height - crop_h) / 2
        scale = size[0] / crop_w
        matrix = np.array([[scale, 0, -x0 * scale], [0, size[1] / crop_h, -y0 * size[1] / crop_h]], np.float64)
        if scale < 1:  # a Gaussian against aliasing where the window shrinks
            frame = cv2.GaussianBlur(frame, (0, 0), 0.6 * np.sqrt(1 / scale**2 - 1))
        zoomed = cv2.warpAffine(frame, matrix, size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
        sigma = DEFOCUS_SIGMA * np.sin(np.pi * t / last)
        out.append(cv2.GaussianBlur(zoomed, (0, 0), sigma) if sigma > 0.05 else zoomed)
    return out


def night(frames: list[np.ndarray], fps: float, seed: int = 0) -> list[np.ndarray]:
    """`frames` in low light with sensor noise, then compressed (H.264 crf NIGHT_CRF) and decoded again."""
    rng = np.random.default_rng(seed)
    dark = []
    for frame in frames:
        linear = (frame.astype(np.float32) / 255) ** 2.2 * DARKER
        electrons = rng.poisson(linear * FULL_WELL) + rng.normal(0, READ_NOISE, linear.shape)
        shown = np.clip(electrons / FULL_WELL * GAIN, 0, 1) ** (1 / 2.2)
        dark.append(np.round(shown * 255).astype(np.uint8))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "night.mp4")
        write_clip(dark, path, fps=fps, tone_hz=None, crf=NIGHT_CRF)
        return list(read_frames(path))


def object_placement(progress: float, size: tuple[int, int]) -> np.ndarray:
    """The 2x3 matrix from OBJECT_FILE's pixels to the screen's at `progress` (0..1) through the clip."""
    width, height = size
    cx, cy, _, ay = OBJECT_ELLIPSE
    first, last = OBJECT_HEIGHTS
    scale = first / (1 - (1 - first / last) * progress) * height / (2 * ay)  # accelerating, as `approach`
    centre = (width * (0.56 - 0.06 * progress), height * (0.62 - 0.07 * progress))
    return np.array([[scale, 0, centre[0] - cx * scale], [0, scale, centre[1] - cy * scale]], np.float64)


def object_approach(frames: list[np.ndarray], heads: list[np.ndarray], size: tuple[int, int]) -> list[np.ndarray]:
    """OBJECT_ELLIPSE of `heads` growing over `frames` (both played from their start), at `size` = (width, height)."""
    cx, cy, ax, ay = OBJECT_ELLIPSE
    rows, columns = np.mgrid[0:heads[0].shape[0], 0:heads[0].shape[1]]
    inside = ((columns - cx) / ax) ** 2 + ((rows - cy) / ay) ** 2 <= 1
    mask = cv2.GaussianBlur(inside.astype(np.float32), (0, 0), 1.5)
    count = max(1, len(frames) - 1)
    out = []
    for t, frame in enumerate(frames):
        matrix = object_placement(t / count, size)
        head = cv2.warpAffine(heads[t % len(heads)], matrix, size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
        alpha = cv2.warpAffine(mask, matrix, size, flags=cv2.INTER_LINEAR)[..., None]
        soft = OBJECT_DEFOCUS * max(0.0, 3 * t / count - 2)
        head = cv2.GaussianBlur(head, (0, 0), soft) if soft > 0.05 else head
        behind = BACKGROUND_DEFOCUS * t / count
        scene = cv2.GaussianBlur(frame, (0, 0), behind) if behind > 0.05 else frame
        out.append(np.round(alpha * head + (1 - alpha) * scene).astype(np.uint8))
    return out


DERIVATIONS = {"approach": 2, "recede": 2, "night": 1, "object": 1}  # the derivation's name -> how much larger it reads the clip


def derive(kind: str, path: str, size: tuple[int, int], start: float, frames: int, fps: float) -> list[np.ndarray]:
    """The clip at `path` derived as `kind` (a key of DERIVATIONS), at `size` = (width, height)."""
    factor = DERIVATIONS[kind]
    read = list(read_frames(path, size=(size[0] * factor, size[1] * factor), start=start, max_frames=frames))
    if kind == "night":
        return night(read, fps)
    if kind == "object":
        return object_approach(read, list(read_frames(os.path.join(os.path.dirname(path), OBJECT_FILE),
                                                      max_frames=frames)), size)
    return approach(read, size) if kind == "approach" else approach(read[::-1], size)[::-1]
