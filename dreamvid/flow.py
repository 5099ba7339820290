"""Optical flow on source frames, flow warping, and Ruder et al.'s reliability weights.

Flow convention: a flow field is float32 H x W x 2 (dx, dy) in pixels on the grid of the frame
it starts from, so `from_frame(x) ~ to_frame(x + flow(x))`, and warping pulls pixels:
`warp_with_flow(to_frame, flow) ~ from_frame`.
"""

from dataclasses import dataclass

import numpy as np

from dreamvid.errors import UserError

# DIS MEDIUM: end-point error 0.05-0.08 px at ~60 ms per 720p pair (docs/DESIGN.md, "Optical flow");
# FAST halves the time (~15 ms) for about twice the error. Values name OpenCV's presets: cv2 is
# imported where flow runs, so that the settings table (which lists these names) loads without it.
FLOW_PRESETS = {
    "dis": "DISOPTICAL_FLOW_PRESET_MEDIUM",
    "dis-fast": "DISOPTICAL_FLOW_PRESET_FAST",
    "dis-fine": "DISOPTICAL_FLOW_PRESET_MEDIUM",
}

# Ruder et al.'s consistency check constants (docs/DESIGN.md, "Dreaming a clip").
DISOCCLUSION_RELATIVE = 0.01
DISOCCLUSION_ABSOLUTE = 0.5
BOUNDARY_RELATIVE = 0.01
BOUNDARY_ABSOLUTE = 0.002
RELIABILITY_BLUR_SIGMA = 0.8

# cv2.remap handles at most 4 channels per call, and in OpenCV 5.0 its 2-channel path still
# rounds sample positions to 1/32 px (errors of ~3/255 measured; 1, 3 and 4 are exact;
# the old table is opencv/opencv#26361), so 2 channels are remapped one by one.
_REMAP_MAX_CHANNELS = 4


class FlowEstimator:
    """Dense optical flow between RGB frames, holding one reusable DIS instance."""

    def __init__(self, method: str = "dis") -> None:
        if method not in FLOW_PRESETS:
            allowed = ", ".join(sorted(FLOW_PRESETS))
            raise UserError(f"unknown flow method {method!r}; allowed: {allowed}")
        self.method = method
        import cv2

        self._dis = cv2.DISOpticalFlow_create(getattr(cv2, FLOW_PRESETS[method]))
        if method == "dis-fine":
            self._dis.setFinestScale(0)

    def flow(self, from_frame: np.ndarray, to_frame: np.ndarray) -> np.ndarray:
        """Flow on from_frame's grid such that from_frame(x) ~ to_frame(x + flow(x))."""
        if from_frame.shape[:2] != to_frame.shape[:2]:
            raise ValueError(f"frame sizes differ: {from_frame.shape} vs {to_frame.shape}")
        return self._dis.calc(_grey(from_frame), _grey(to_frame), None).astype(np.float32)


def _grey(frame: np.ndarray) -> np.ndarray:
    # DIS accepts only 8-bit single-channel images.
    import cv2

    if frame.dtype != np.uint8:
        raise ValueError(f"flow needs uint8 frames, got {frame.dtype}")
    if frame.ndim == 2:
        return np.ascontiguousarray(frame)
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def backward_forward(
    estimator: FlowEstimator, prev_frame: np.ndarray, cur_frame: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(backward, forward): backward = flow(cur -> prev) on cur's grid, forward = flow(prev -> cur),
    the pair reliability() and the residual warp need."""
    return estimator.flow(cur_frame, prev_frame), estimator.flow(prev_frame, cur_frame)


def _sample_maps(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    height, width = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return xs + flow[..., 0], ys + flow[..., 1]


def warp_with_flow(image: np.ndarray, flow: np.ndarray, interpolation: str = "linear") -> np.ndarray:
    """Pull pixels: out(x) = image(x + flow(x)), edges replicated (never black); bilinear, or
    "cubic" / "lanczos", which blur less when the same content is warped frame after frame."""
    if image.shape[:2] != flow.shape[:2]:
        raise ValueError(f"image {image.shape} and flow {flow.shape} sizes differ")
    import cv2

    flags = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}[interpolation]
    if image.dtype == np.float64:  # OpenCV 5.0's cubic remap of float64 is off (a constant 0.1 came back 0.092)
        image = image.astype(np.float32)

    map_x, map_y = _sample_maps(flow)

    def remap(channels: np.ndarray) -> np.ndarray:
        out = cv2.remap(
            np.ascontiguousarray(channels), map_x, map_y,
            interpolation=flags, borderMode=cv2.BORDER_REPLICATE,
        )
        return out.reshape(channels.shape)  # remap drops a trailing axis of length 1

    if image.ndim == 2:
        return remap(image)
    chunks = _channel_chunks(image.shape[2])
    if len(chunks) == 1:
        return remap(image)
    return np.concatenate([remap(image[..., start:stop]) for start, stop in chunks], axis=2)


def _channel_chunks(channels: int) -> list[tuple[int, int]]:
    chunks, start = [], 0
    while start < channels:
        size = min(_REMAP_MAX_CHANNELS, channels - start)
        size = 1 if size == 2 else size
        chunks.append((start, start + size))
        start += size
    return chunks


def resize_flow(flow: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """Resample a flow field to size_wh = (width, height), scaling its vectors to match."""
    import cv2

    width, height = size_wh
    scale = np.array([width / flow.shape[1], height / flow.shape[0]], dtype=np.float32)
    resized = cv2.resize(flow.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    return resized * scale


def lands_inside(flow: np.ndarray) -> np.ndarray:
    """Bool H x W: where x + flow(x) falls inside the frame (elsewhere the pixel has just entered it)."""
    height, width = flow.shape[:2]
    map_x, map_y = _sample_maps(flow)
    return (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)


@dataclass(frozen=True)
class RoundTrip:
    """Backward flow B out and the forward flow F back, on B's grid: computed once per pair of frames, for the
    disocclusion check, the reliability and how far the two flows disagree."""

    miss: np.ndarray  # B(x) + F(x + B(x)), px: 0 where the two flows agree exactly
    scale: np.ndarray  # |B(x)|^2 + |F(x + B(x))|^2

    @classmethod
    def of(cls, backward: np.ndarray, forward: np.ndarray) -> "RoundTrip":
        forward_there = warp_with_flow(forward, backward)  # F(x + B(x))
        return cls(backward + forward_there, np.sum(backward**2, axis=2) + np.sum(forward_there**2, axis=2))

    def error(self) -> np.ndarray:
        """Float32 H x W, px: how far the round trip misses."""
        return np.linalg.norm(self.miss, axis=2).astype(np.float32)

    def disoccluded(self) -> np.ndarray:
        """Bool: where the round trip fails (content hidden in the other frame)."""
        return np.sum(self.miss**2, axis=2) >= DISOCCLUSION_RELATIVE * self.scale + DISOCCLUSION_ABSOLUTE


def disoccluded(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Bool on backward's grid: where the forward-backward round trip fails (content hidden in the other frame)."""
    return RoundTrip.of(backward, forward).disoccluded()


def motion_boundary(flow: np.ndarray) -> np.ndarray:
    """Bool: where the flow changes too fast across the grid to be one surface's motion."""
    # np.gradient takes central differences in the interior.
    du_dy, du_dx = np.gradient(flow[..., 0])
    dv_dy, dv_dx = np.gradient(flow[..., 1])
    gradient_sq = du_dx**2 + du_dy**2 + dv_dx**2 + dv_dy**2
    return gradient_sq > BOUNDARY_RELATIVE * np.sum(flow**2, axis=2) + BOUNDARY_ABSOLUTE


def reliability(backward: np.ndarray, forward: np.ndarray, failed: np.ndarray | None = None) -> np.ndarray:
    """Ruder et al.'s weights in [0, 1] on backward's grid: 0 where out of frame, disoccluded
    or on a motion boundary, then blurred (sigma 0.8); `failed` (disoccluded or on a motion boundary): the
    pair's, where it is known already."""
    import cv2

    if failed is None:
        failed = RoundTrip.of(backward, forward).disoccluded() | motion_boundary(backward)
    tracked = lands_inside(backward) & ~failed
    weights = cv2.GaussianBlur(tracked.astype(np.float32), (0, 0), RELIABILITY_BLUR_SIGMA)
    return np.clip(weights, 0.0, 1.0)


# The camera's motion: an affine flow fitted to most of a frame's flow (the movers drop out).
FIT_GRID = 4  # px between the flow samples the camera's motion is fitted to
FIT_ROUNDS = 3  # least-squares fits, each on the samples the last one explained (the movers drop out)
FIT_INLIER = 0.5  # px: a sample this close to the camera's motion is taken to belong to it


def camera_motion(flow: np.ndarray) -> np.ndarray:
    """The affine flow field that fits most of `flow` (H x W x 2): least squares on a grid of samples,
    first those near the median motion, then each round those the last fit explains to within FIT_INLIER
    (the movers drop out). Deterministic: no random sampling."""
    height, width = flow.shape[:2]
    ys, xs = np.mgrid[0:height:FIT_GRID, 0:width:FIT_GRID]
    design = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)], axis=1).astype(np.float64)
    target = flow[ys.ravel(), xs.ravel()].astype(np.float64)
    keep = np.linalg.norm(target - np.median(target, axis=0), axis=1) <= FIT_INLIER
    coefficients = np.zeros((3, 2))
    for _ in range(FIT_ROUNDS):
        if keep.sum() < 3:
            break
        coefficients = np.linalg.lstsq(design[keep], target[keep], rcond=None)[0]
        keep = np.linalg.norm(design @ coefficients - target, axis=1) <= FIT_INLIER
    full_ys, full_xs = np.mgrid[0:height, 0:width]
    grid = np.stack([full_xs, full_ys, np.ones_like(full_xs)], axis=-1).astype(np.float64)
    return (grid @ coefficients).astype(np.float32)


def is_scene_cut(weights: np.ndarray, threshold: float = 0.3) -> bool:
    """True when too little of the frame is reliably tracked from the previous one."""
    return float(np.mean(weights)) < threshold
