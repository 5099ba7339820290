"""Masks made from a clip's own motion (`--mask motion`, `--mask still`), from the flow the clip's
dream computes anyway.

1. Evidence: how far each pixel moves against the camera, |B - A| in px per frame, where B is the
   backward flow and A the affine motion that fits most of the frame (the camera's pan, zoom, roll).
2. Over time: the evidence carried along the flow and averaged with the new (an exponential average,
   kept in the clip's loop state, so resume stays exact); a fresh start begins again.
3. In space: hysteresis (weak evidence counts where it touches strong), then an opening that drops
   specks and a closing that fills holes, and a small dilation over the mover's edges, where flow
   under-reports. The result is 0 or 1; feathering comes after, as for any mask.
"""

from __future__ import annotations

import cv2
import numpy as np

from dreamvid.flow import camera_motion, warp_with_flow

STRONG = 1.2  # px per frame against the camera: surely moving (DIS errs by ~0.1 px on a still scene)
WEAK = 0.6  # px per frame: moving, where connected to a strong part (flow bleeds ~4 px past an edge at 0.4)
CARRIED = 0.6  # share of the smoothed evidence carried to the next frame: a mover's mask holds over pauses
CLEAN_SHARE = 0.012  # radius of the opening / closing, a share of the shorter side (1 px at 64 px, 6 at 512)
GROW_SHARE = 0.008  # the dilation over the mover's edges, a share of the shorter side


def motion_evidence(backward: np.ndarray, camera: np.ndarray | None = None) -> np.ndarray:
    """How far each pixel moves against the camera, px per frame, float32 H x W (lightly blurred); `camera`: the
    camera's motion (flow.camera_motion of `backward`), where it is known already."""
    camera = camera_motion(backward) if camera is None else camera
    against = np.linalg.norm(backward - camera, axis=2).astype(np.float32)
    return cv2.GaussianBlur(against, (0, 0), 1.0)


def smoothed(evidence: np.ndarray, previous: np.ndarray | None, backward: np.ndarray | None,
             reliability: np.ndarray | None) -> np.ndarray:
    """The evidence averaged over time along the motion, where the flow is reliable (elsewhere, as
    behind a mover, the pixel was something else a frame ago); `previous` None (a fresh start): the evidence."""
    if previous is None or backward is None:
        return evidence
    carried = warp_with_flow(previous, backward)
    share = CARRIED * (1.0 if reliability is None else reliability)
    return (share * carried + (1.0 - share) * evidence).astype(np.float32)


def disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def hysteresis(evidence: np.ndarray) -> np.ndarray:
    """uint8 0/1: the weak regions that hold some strong evidence."""
    weak = (evidence > WEAK).astype(np.uint8)
    count, labels = cv2.connectedComponents(weak, connectivity=8)
    if count <= 1:
        return weak
    holds_strong = np.zeros(count, bool)
    holds_strong[np.unique(labels[evidence > STRONG])] = True
    holds_strong[0] = False
    return holds_strong[labels].astype(np.uint8)


def moving_mask(evidence: np.ndarray) -> np.ndarray:
    """What moves, float32 0 or 1, without specks or holes."""
    side = min(evidence.shape)
    clean = disc(max(1, round(CLEAN_SHARE * side)))
    mask = cv2.morphologyEx(hysteresis(evidence), cv2.MORPH_OPEN, clean)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, clean)
    mask = cv2.dilate(mask, disc(max(1, round(GROW_SHARE * side))))
    return mask.astype(np.float32)
