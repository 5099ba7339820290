"""Cadence for zoom videos: dream every N-th frame and make the frames between from the camera move.

In a zoom the camera's path between any two frames is an exact affine map, so an in-between frame
needs no optical flow: the key frame before it is moved forward to its time, the key frame after
it moved back (the inverse map), and the two are cross-faded by distance (docs/DESIGN.md, "Zoom
loop"). A linear fade changes the picture by the same amount every frame, so nothing pops when the
next key frame lands; a one-sided fade (the earlier key alone) would, at every key frame.
Matrices here are 3x3 (affine, last row 0 0 1) so that moves compose by matrix product.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from dreamvid.motion import CameraMove, apply_camera, camera_matrix, per_frame

# A key frame's ascent step is the setting's x cadence ** KEY_STEP_POWER. Measured (bench_zoom.py's
# method, tunnel preset, 256 px, cadence 3): x3 (the "same growth per second" guess) made the dream
# noisier and weaker (mean |Laplacian| 0.64 vs 0.40 at cadence 1, layer level 124 vs 171), since
# large steps pile up at the 0..1 clamp; x1.25 matched cadence 1's detail (0.41) at level 151, like
# x1 (154-162: the level varies ~5% run to run). Only more iterations restore the full level (x3: 175),
# at the cost of the speed-up. So the look is kept, the dream settles ~10-15% weaker: raise --iterations.
KEY_STEP_POWER = 0.2

# Below this a matrix coefficient moves no pixel of even an 8K frame visibly (as motion.py's tolerance).
_IDENTITY_TOLERANCE = 1e-9
# Where only one key frame covers a pixel (the other was moved past the frame's edge), the fade
# falls back to that one; this soft edge, a share of the shorter side, hides the change of weights.
COVERAGE_FEATHER = 0.03


def key_step_scale(cadence: int) -> float:
    """What a key frame's ascent step is multiplied by at `cadence` (1 at cadence 1)."""
    return float(cadence) ** KEY_STEP_POWER


def frame_matrix(move: CameraMove, fps: float, width: int, height: int) -> np.ndarray:
    """One frame's camera move as a 3x3 forward matrix (source pixel -> destination pixel)."""
    return np.vstack([camera_matrix(per_frame(move, fps), width, height), [0.0, 0.0, 1.0]])


def path_matrix(moves: Sequence[CameraMove], fps: float, width: int, height: int) -> np.ndarray:
    """The camera path over several frames, each frame's own move applied after the one before.

    Schedules change the move per frame, so a path is a product of per-frame matrices, never one
    matrix raised to a power. A single move gives exactly that frame's matrix (no product is taken).
    """
    total = None
    for move in moves:
        step = frame_matrix(move, fps, width, height)
        total = step if total is None else step @ total
    return np.eye(3) if total is None else total


def is_identity(matrix: np.ndarray) -> bool:
    return bool(np.allclose(matrix[:2], np.eye(2, 3), rtol=0.0, atol=_IDENTITY_TOLERANCE))


def move_image(image: np.ndarray, matrix: np.ndarray, interpolation: str) -> np.ndarray:
    """Move a float H x W x 3 image along a 3x3 path; no move is a copy (a resample would soften it)."""
    if is_identity(matrix):
        return image.copy()
    return apply_camera(image, np.ascontiguousarray(matrix[:2]), interpolation)


def coverage(matrix: np.ndarray, width: int, height: int) -> np.ndarray:
    """How much of each destination pixel the moved frame really covers (1), or only by reflection (0),
    with a soft edge of COVERAGE_FEATHER; float32 H x W."""
    import cv2

    if is_identity(matrix):
        return np.ones((height, width), np.float32)
    inside = cv2.warpAffine(np.ones((height, width), np.float32), np.ascontiguousarray(matrix[:2]), (width, height),
                            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    side = max(3, round(COVERAGE_FEATHER * min(width, height)) | 1)
    # the frame's own edge stays covered (replicated), only the moved frame's edge inside it is softened
    return cv2.blur(inside, (side, side), borderType=cv2.BORDER_REPLICATE)


def cross_fade(before: np.ndarray, after: np.ndarray, forward: np.ndarray, backward: np.ndarray,
               weight: float, interpolation: str) -> np.ndarray:
    """An in-between frame: key `before` moved by `forward`, key `after` moved by `backward` (both 3x3),
    mixed with `after`'s share `weight` (0..1) wherever both cover the pixel, else from the one that does."""
    height, width = before.shape[:2]
    early = move_image(before, forward, interpolation)
    late = move_image(after, backward, interpolation)
    early_weight = (1.0 - weight) * coverage(forward, width, height)
    late_weight = weight * coverage(backward, width, height)
    total = early_weight + late_weight
    # where neither covers the pixel (both reflected at a zoom-out's edge), the plain distance weights
    share = np.where(total > 1e-6, late_weight / np.maximum(total, 1e-6), np.float32(weight))
    return (early + share[..., None] * (late - early)).astype(np.float32)
