"""A render's mask frame by frame (docs/DESIGN.md, "Masks"): a still's, a zoom's on the screen (or moving
with the camera), and a clip's, whose motion masks are smoothed along the flow in the loop state.

Everything here is a function of the source and the loop state, so resume stays exact."""

from __future__ import annotations

from contextlib import closing
from dataclasses import replace
from typing import Callable, Iterator

import numpy as np

from dreamvid.errors import UserError
from dreamvid.flow import is_scene_cut
from dreamvid.masks.moving import motion_evidence, moving_mask, smoothed
from dreamvid.masks.sources import STILL, MaskSource, open_mask, raw_frames, shaped, within
from dreamvid.media.frames import float_to_frame, frame_to_float
from dreamvid.render.cadence import move_image, path_matrix

KEPT_FRAMES = 64  # mask frames a zoom keeps behind the newest: cadence asks for a key frame up to 16 ahead


def still_mask(settings, frame: np.ndarray, input_size: tuple[int, int]) -> np.ndarray | None:
    """A still's mask at the dreamed frame's size (every check first), or None."""
    size = (frame.shape[1], frame.shape[0])
    source = open_mask(settings, size, input_size)
    return None if source is None else shaped(next(raw_frames(source, size)), settings)


class FrameSequence:
    """Frames of an iterator by index, read forward, the last `KEPT_FRAMES` kept (a zoom's cadence
    asks for a key frame ahead, then for the frames before it)."""

    def __init__(self, frames: Iterator[np.ndarray], first: int):
        self.frames, self.next_index, self.kept = frames, first, {}

    def at(self, index: int) -> np.ndarray:
        while self.next_index <= index:
            self.kept[self.next_index] = next(self.frames)
            self.kept.pop(self.next_index - KEPT_FRAMES, None)
            self.next_index += 1
        return self.kept[index]


class ZoomMasks:
    """A zoom's masks in screen space, and what frame t shows outside them: the start picture under the
    camera (one warp along the whole path, so it stays as sharp as the camera allows)."""

    def __init__(self, source: MaskSource, settings, first_picture: np.ndarray, first: int,
                 camera_at: Callable[[int], object]):
        self.settings, self.picture, self.camera_at = settings, first_picture, camera_at
        height, width = first_picture.shape[:2]
        self.size = (width, height)
        self.raw = FrameSequence(raw_frames(source, self.size, first), first)
        self.paths = {0: np.eye(3)}  # frame -> the camera's path from frame 0 to it

    def path(self, t: int) -> np.ndarray:
        start = max(frame for frame in self.paths if frame <= t)
        fps = float(self.settings.fps)
        moves = [self.camera_at(frame) for frame in range(start + 1, t + 1)]
        self.paths[t] = path_matrix(moves, fps, *self.size) @ self.paths[start]
        return self.paths[t]

    def mask_at(self, t: int) -> np.ndarray:
        raw = self.raw.at(t)
        if self.settings["mask_follow"]:
            raw = move_image(raw[..., None], self.path(t), "linear")
            raw = raw.reshape(raw.shape[:2])
        return shaped(raw, self.settings, t)

    def plain_at(self, t: int) -> np.ndarray:
        return move_image(self.picture, self.path(t), self.settings["interpolation"])

    def outside(self, step):
        """`step` with each frame shown only inside the mask, the plain picture under the camera outside."""
        def masked_step(t: int, state):
            frame, state = step(t, state)
            return float_to_frame(within(self.mask_at(t), frame_to_float(frame), self.plain_at(t))), state

        return masked_step


def check_clip_mask(settings, size: tuple[int, int], input_size: tuple[int, int], frames: int,
                    estimates_flow: bool) -> MaskSource | None:
    source = open_mask(settings, size, input_size, frames, clip=True)
    if source is not None and source.from_motion and not estimates_flow:
        raise UserError(f"--mask {source.path} is made from the optical flow: use --flow dis or dis-fast")
    return source


class ClipMasks:
    """A clip's mask per frame: read ahead with the source frames (`attach`), shaped in the loop."""

    def __init__(self, source: MaskSource | None, settings, size: tuple[int, int]):
        self.source, self.settings, self.size = source, settings, size

    def attach(self, sources: Iterator, first: int) -> Iterator:
        """The source frames, each with its raw mask: a mask frame, or motion evidence (a frame the flow
        cannot reach from the one before, such as a cut, takes the next frame's)."""
        if self.source is None:
            return sources
        if self.source.from_motion:
            return self._with_motion(sources)
        return self._with_frames(sources, first)

    def _with_frames(self, sources: Iterator, first: int) -> Iterator:
        with closing(sources):
            for source, raw in zip(sources, raw_frames(self.source, self.size, first)):
                yield replace(source, mask=raw)

    def _with_motion(self, sources: Iterator) -> Iterator:
        with closing(sources):
            waiting = None
            for source in sources:
                if waiting is not None:
                    yield replace(waiting, mask=motion_evidence(source.backward, source.camera))
                    waiting = None
                if self._unconnected(source):
                    waiting = source
                else:
                    yield replace(source, mask=motion_evidence(source.backward, source.camera))
            if waiting is not None:  # the clip's last frame, on its own: nothing is known to move
                yield replace(waiting, mask=np.zeros(waiting.frame.shape[:2], np.float32))

    def _unconnected(self, source) -> bool:
        return source.backward is None or is_scene_cut(source.weights, self.settings["cut_threshold"])

    def frame_mask(self, t: int, source, state: dict, fresh: bool) -> tuple[np.ndarray | None, dict]:
        """Frame t's mask and what the loop state keeps of it (the smoothed motion; the mask's area)."""
        if self.source is None:
            return None, {}
        kept = {}
        raw = source.mask
        if self.source.from_motion:
            evidence = smoothed(raw, None if fresh else state.get("motion"), source.backward, source.weights)
            raw, kept = moving_mask(evidence), {"motion": evidence}
            raw = 1.0 - raw if self.source.kind == STILL else raw
        mask = shaped(raw, self.settings, t)
        return mask, {**kept, "mask_area": np.float64(mask.mean())}

    def for_carry(self, state: dict) -> dict:
        """The state as the carried dream reads it: the dream's strength in the mask is held per pixel of the
        mask, so a region that grows or shrinks (a mover entering) keeps its strength."""
        if "mask_area" not in state or "strength" not in state:
            return state
        return {**state, "strength": state["strength"] * state["mask_area"]}

    @staticmethod
    def restrict(start, current: np.ndarray, mask: np.ndarray | None):
        """A clip's start inside the mask: the carried dream and the temporal term's target are the source outside."""
        if mask is None:
            return start
        target = None if start.target is None else within(mask, start.target, current)
        return replace(start, image=within(mask, start.image, current), target=target)

    @staticmethod
    def strength(dreamed: np.ndarray, current: np.ndarray, mask: np.ndarray | None) -> np.float64:
        """mean |dream - source| per pixel of the mask (of the frame, without one)."""
        difference = np.abs(dreamed - current).mean()
        return np.float64(difference if mask is None else difference / max(float(mask.mean()), 1e-6))
