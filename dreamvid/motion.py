"""The camera move of a zoom loop ("dream tunnel"): zoom and rotation about a centre, then a shift.

Rates are per second and turned into per-frame moves with `per_frame`, so that a clip looks the
same at any frame rate, and translation is a percentage of the frame, so that a low-resolution
preview moves like the full render.
"""

from dataclasses import dataclass, replace

import numpy as np

from dreamvid.errors import UserError

# Lanczos keeps a feedback loop sharp: after 32 warps of 0.25 px it stays at 30.8 dB PSNR, where
# cubic falls to 21.8 and linear to 24.5 (docs/DESIGN.md, "Zoom loop"); it costs ~7x linear.
# Values name OpenCV's flags: cv2 is imported only where a frame is warped (start-up stays light).
RESAMPLING = {
    "lanczos": "INTER_LANCZOS4",
    "cubic": "INTER_CUBIC",
    "linear": "INTER_LINEAR",
}

# Below this a matrix coefficient moves no pixel of even an 8K frame by a visible amount, so the
# move is treated as the identity and the frame is not resampled.
_IDENTITY_TOLERANCE = 1e-9


@dataclass(frozen=True)
class CameraMove:
    """A camera move in rates per second (or per frame, once through `per_frame`)."""

    zoom: float = 1.0  # scale factor per second: 1.0 still, 1.05 = 5% closer each second
    rotate: float = 0.0  # degrees per second, positive = counter-clockwise on screen
    translate_x: float = 0.0  # percent of the frame's width per second, positive = right
    translate_y: float = 0.0  # percent of the frame's height per second, positive = down
    center_x: float = 0.5  # zoom/rotation centre as a fraction of the width, 0 = left edge
    center_y: float = 0.5  # ... and of the height, 0 = top edge

    def __post_init__(self) -> None:
        if not self.zoom > 0:  # also rejects NaN
            raise UserError(f"zoom must be greater than 0 (1.0 = still), got {self.zoom}")


def per_frame(move: CameraMove, fps: float) -> CameraMove:
    """The move of one frame at `fps`: two frames at 60 fps equal one frame at 30 fps."""
    if not fps > 0:
        raise UserError(f"fps must be greater than 0, got {fps}")
    return replace(
        move,
        zoom=move.zoom ** (1.0 / fps),  # a rate compounds, so it is a root, never zoom * 30 / fps
        rotate=move.rotate / fps,
        translate_x=move.translate_x / fps,
        translate_y=move.translate_y / fps,
    )


def camera_matrix(move_per_frame: CameraMove, width: int, height: int) -> np.ndarray:
    """Forward 2x3 affine map, source pixel -> destination pixel: zoom and rotate about the centre,
    then translate."""
    move = move_per_frame
    # Pixel centres sit on integers, so the frame spans -0.5 .. width - 0.5; a fractional centre
    # then names the same spot of the picture at every resolution.
    cx = move.center_x * width - 0.5
    cy = move.center_y * height - 0.5
    angle = np.deg2rad(move.rotate)
    a = move.zoom * np.cos(angle)
    b = move.zoom * np.sin(angle)
    # Rows point down on screen, so a counter-clockwise turn has -sin in the y row.
    linear = np.array([[a, b], [-b, a]])
    center = np.array([cx, cy])
    shift = np.array([move.translate_x / 100.0 * width, move.translate_y / 100.0 * height])
    offset = center - linear @ center + shift
    return np.hstack([linear, offset[:, None]])


def apply_camera(
    image: np.ndarray, matrix: np.ndarray, interpolation: str = "lanczos"
) -> np.ndarray:
    """Warp `image` by the forward `matrix`, reflecting at the borders; same size and dtype."""
    import cv2

    if interpolation not in RESAMPLING:
        allowed = ", ".join(RESAMPLING)
        raise UserError(f"unknown interpolation {interpolation!r}; allowed: {allowed}")
    height, width = image.shape[:2]
    warped = cv2.warpAffine(
        image,
        matrix,
        (width, height),
        flags=getattr(cv2, RESAMPLING[interpolation]),
        # Reflection continues the picture past the edge, so a zoom-out shows no black border.
        borderMode=cv2.BORDER_REFLECT_101,
    )
    if np.issubdtype(warped.dtype, np.floating):
        np.clip(warped, 0.0, 1.0, out=warped)  # Lanczos and cubic overshoot at edges
    return warped


def move_frame(
    image: np.ndarray, move: CameraMove, fps: float, interpolation: str = "lanczos"
) -> np.ndarray:
    """Move the camera by one frame of `move` at `fps`; an identity move is only copied."""
    height, width = image.shape[:2]
    matrix = camera_matrix(per_frame(move, fps), width, height)
    if np.allclose(matrix, np.eye(2, 3), rtol=0.0, atol=_IDENTITY_TOLERANCE):
        # Even an identity resample softens the picture with some kernels, and a loop compounds it.
        return image.copy()
    return apply_camera(image, matrix, interpolation)
