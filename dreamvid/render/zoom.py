"""Zoom videos: the feedback loop that dreams a frame, moves the camera a little, and dreams again."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import partial

import cv2
import numpy as np

from dreamvid.ascent.engine import Engine
from dreamvid.audio.features import Features
from dreamvid.audio.schedules import Soundtrack, music_frames, zoom_music, zoom_soundtrack
from dreamvid.colour import ColourStats, colour_stats, match_colours
from dreamvid.media.frames import float_to_frame, frame_to_float, frame_to_image, image_to_float_frame
from dreamvid.media.pictures import Picture, as_frame, load_picture, resize_frame
from dreamvid.media.writer import even_size
from dreamvid.motion import CameraMove, move_frame
from dreamvid.errors import UserError
from dreamvid.notices import notify
from dreamvid.render.cadence import cross_fade, key_step_scale, move_image, path_matrix
from dreamvid.masks.sources import MaskSource, open_mask
from dreamvid.render.dreaming import FrameDreamer, frame_dreamer
from dreamvid.render.masking import ZoomMasks
from dreamvid.render.loop import Callback, FrameJob, LoopState, Step, prepare_output, render_frames
from dreamvid.render.zoom_loop import (Closing, ZoomLoop, check_loop_schedules, loop_soundtrack, music_loop_frames,
                                       plan_loop, quiet_head)
from dreamvid.settings import Resolved, check_schedules, parse_fps

SECONDS_WHEN_UNSET = 5  # `frames = 0` renders this many seconds


def noise_picture(side: int, seed: int) -> np.ndarray:
    """Soft coloured noise (coarse blobs plus grain): the network finds more in it than in white noise."""
    rng = np.random.default_rng(seed)
    coarse = cv2.resize(rng.random((max(2, side // 16), max(2, side // 16), 3), dtype=np.float32),
                        (side, side), interpolation=cv2.INTER_CUBIC)
    grain = rng.random((side, side, 3), dtype=np.float32)
    return np.clip(0.35 + 0.3 * coarse + 0.15 * grain, 0.0, 1.0)


def crop_to_even(image: np.ndarray) -> np.ndarray:
    """Video needs even sides: drop the last row/column, and say so (never a silent size change)."""
    height, width = image.shape[:2]
    even_width, even_height = even_size(width, height)
    even = image[:even_height, :even_width]
    if even.shape != image.shape:
        notify(f"cropped {width}x{height} to {even.shape[1]}x{even.shape[0]} (video needs even sides)")
    return even


def start_picture(picture: Picture, settings: Resolved, for_video: bool = True) -> np.ndarray:
    """The loop's first image as float32 H x W x 3 in 0..1 (for a video: with even sides)."""
    if settings["noise"]:
        side = settings["size"] or settings["noise_size"]
        first = noise_picture(side, settings["seed"])
    else:
        first = frame_to_float(resize_frame(as_frame(picture), settings["size"]))
    return crop_to_even(first) if for_video else first


def camera_at(settings: Resolved, frame: int) -> CameraMove:
    at = settings.at
    return CameraMove(zoom=at("zoom", frame), rotate=at("rotate", frame), translate_x=at("translate_x", frame),
                      translate_y=at("translate_y", frame), center_x=at("center_x", frame),
                      center_y=at("center_y", frame))


def stats_array(stats: ColourStats) -> np.ndarray:
    return np.array([*stats.mean, *stats.std], np.float64)


def array_stats(values: np.ndarray) -> ColourStats:
    return ColourStats(mean=tuple(values[:3].tolist()), std=tuple(values[3:].tolist()))


def dream_and_match(dreamer: FrameDreamer, settings: Resolved, image: np.ndarray, t: int, reference: np.ndarray | None,
                    fixed_reference: ColourStats | None, step_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Dream a float frame as frame `t`, then colour coherence toward the reference (a given picture's,
    else the first dreamed frame's). Returns (dreamed, reference)."""
    dreamed = image_to_float_frame(dreamer.dream(frame_to_image(image, dreamer.device), frame=t,
                                                 step_scale=step_scale))
    if reference is None:
        reference = stats_array(fixed_reference or colour_stats(dreamed))
    strength = settings.at("colour_coherence", t)
    if strength > 0:
        dreamed = match_colours(dreamed, array_stats(reference), strength)
    return dreamed, reference


def zoom_step(dreamer: FrameDreamer, settings: Resolved, fixed_reference: ColourStats | None,
              closing: Closing | None = None):
    """frame t = colour(dream(camera(frame t-1))); frame 0 is the start picture dreamed. A loop's last
    frames are pulled toward its head (render/zoom_loop.py)."""
    fps = float(settings.fps)

    def step(t: int, state: LoopState) -> tuple[np.ndarray, LoopState]:
        image = state["image"]
        # 1. move the camera (frame 0 is the picture itself); a loop's closing frame starts from its moved head
        if t > 0:
            image = move_frame(image, camera_at(settings, t), fps, settings["interpolation"])
        if closing:
            image = closing.pull(image, t, state)
        # 2. dream, 3. colour coherence
        dreamed, reference = dream_and_match(dreamer, settings, image, t, state.get("reference"), fixed_reference)
        head = closing.kept(t, dreamed, state) if closing else {}
        return float_to_frame(dreamed), {"image": dreamed, "reference": reference, **head}

    return step


def cadence_step(dreamer: FrameDreamer, settings: Resolved, fixed_reference: ColourStats | None, cadence: int,
                 closing: Closing | None = None):
    """Key frames every `cadence` frames, key k+1 = colour(dream(camera^cadence(key k))) with a slightly
    larger step (`key_step_scale`); the frames between are cross-faded from both keys (render/cadence.py).

    A key frame is dreamed one key ahead, so the loop state holds {image: the last key, next: the
    key after it, reference}: any frame can end a segment and resume stays exact."""
    fps, interpolation = float(settings.fps), settings["interpolation"]

    def path(first: int, last: int, image: np.ndarray) -> np.ndarray:
        return camera_path(settings, first, last, image.shape[1], image.shape[0])

    def step(t: int, state: LoopState) -> tuple[np.ndarray, LoopState]:
        offset = t % cadence
        key_time = t - offset
        if offset == 0:
            # 1. this key frame: the start picture dreamed, or the one dreamed ahead at the last key
            if t == 0:
                key, reference = dream_and_match(dreamer, settings, state["image"], 0, None, fixed_reference)
            else:
                key, reference = state["next"], state["reference"]
            # 2. dream the next key now: the frames until then fade toward it. One warp for the whole path
            # (fewer resamples than frame by frame); a larger step, not more iterations, keeps the speed-up
            head = closing.kept(t, key, state) if closing else {}
            moved = move_image(key, path(t + 1, t + cadence, key), interpolation)
            if closing:
                moved = closing.pull(moved, t + cadence, head)
            after, _ = dream_and_match(dreamer, settings, moved, t + cadence, reference, fixed_reference,
                                       step_scale=key_step_scale(cadence))
            return float_to_frame(key), {"image": key, "next": after, "reference": reference, **head}
        # 3. an in-between frame: the key before moved forward to t, the key after moved back to t
        before, after = state["image"], state["next"]
        forward = path(key_time + 1, t, before)
        backward = np.linalg.inv(path(t + 1, key_time + cadence, before))
        return float_to_frame(cross_fade(before, after, forward, backward, offset / cadence, interpolation)), state

    return step


def camera_path(settings: Resolved, first: int, last: int, width: int, height: int) -> np.ndarray:
    """The camera's move over frames first..last (each frame's own move) as a 3x3 matrix."""
    moves = [camera_at(settings, frame) for frame in range(first, last + 1)]
    return path_matrix(moves, float(settings.fps), width, height)


def loop_step(dreamer: FrameDreamer, settings: Resolved, fixed_reference: ColourStats | None,
              closing: Closing | None = None):
    """The zoom's step for its cadence; at cadence 1 today's loop, untouched (every frame dreamed)."""
    cadence = settings["cadence"]
    if cadence == 1:
        return zoom_step(dreamer, settings, fixed_reference, closing)
    return cadence_step(dreamer, settings, fixed_reference, cadence, closing)


@dataclass(frozen=True)
class ZoomWork:
    """What a zoom's frame loop needs: its settings, first picture, length and the engine to dream with."""

    settings: Resolved
    first: np.ndarray  # float32 H x W x 3 in 0..1
    frames: int
    fixed_reference: ColourStats | None = None  # a `colour_reference` picture's colours
    engine: Engine | None = None  # None: built when the loop starts
    baseline: bool = False
    mask: MaskSource | None = None  # where to dream, on the screen
    loop: ZoomLoop | None = None  # `--loop`: frames dreamed before it (not written), and its closing

    @property
    def size(self) -> tuple[int, int]:
        return self.first.shape[1], self.first.shape[0]

    def start(self) -> LoopState:
        return {"image": self.first}

    @property
    def lead(self) -> int:
        return self.loop.lead if self.loop else 0

    def closing(self) -> Closing | None:
        if self.loop is None:
            return None
        width, height = self.size
        centre = lambda t: (self.settings.at("center_x", t), self.settings.at("center_y", t))  # noqa: E731
        return Closing(self.loop, partial(camera_path, self.settings, width=width, height=height), centre,
                       self.settings["interpolation"])

    def step_from(self, first: int) -> Step:
        """Called once a render goes ahead (after the resume check: a refused resume loads no model)."""
        dreamer = frame_dreamer(self.settings, self.engine, self.baseline)
        step = loop_step(dreamer, self.settings, self.fixed_reference, self.closing())
        if self.mask is None:
            return step
        masks = ZoomMasks(self.mask, self.settings, self.first, first, partial(camera_at, self.settings))
        dreamer.mask_at = masks.mask_at
        return masks.outside(step)


def check_zoom_input(picture: Picture | None, settings: dict) -> None:
    given = picture is not None and not (isinstance(picture, str) and not picture)
    if given and settings["noise"]:
        raise UserError("give an input picture or --noise, not both")
    if not given and not settings["noise"]:
        raise UserError("zoom needs an input picture or --noise")


def prepare_zoom(picture: Picture | None, settings: dict, engine: Engine | None = None,
                 baseline: bool = False, for_video: bool = True) -> tuple[ZoomWork, Soundtrack]:
    """Every check of a zoom before any dreaming: the input, the music, the schedules; returns the work
    and its sound. `baseline` (benchmarks only): the straightforward dreamer (render/dreaming.py);
    `for_video` False: frames for the caller, at the picture's own size (no even sides needed)."""
    check_zoom_input(picture, settings)
    fps = parse_fps(settings["fps"])
    music = zoom_music({**settings, "frames": 0} if settings["loop"] else settings, fps)  # once, ahead
    frames = settings["frames"] or (music_frames(music, fps) if music else round(SECONDS_WHEN_UNSET * fps))
    loop = zoom_loop(settings, music, fps, frames)
    if loop:
        frames, sound = loop.end, (loop_soundtrack(settings["audio"], music, loop, fps) if music else Soundtrack())
    else:
        sound = zoom_soundtrack(settings, music, fps, frames)
    resolved = Resolved(settings, audio=sound.table)
    check_schedules(resolved, frames)
    if loop:
        notify(f"loop: {loop.lead} frames dreamed ahead of the loop's {loop.frames} (not written), so that it "
               f"starts on a settled dream; its last {loop.closing} fly into its first")
        check_loop_schedules(resolved, loop)
    reference_path = resolved["colour_reference"]
    fixed_reference = colour_stats(load_picture(reference_path)) if reference_path else None
    first = start_picture(picture, resolved, for_video)
    mask = open_mask(resolved, (first.shape[1], first.shape[0]), picture_size(picture, first), frames)
    return ZoomWork(resolved, first, frames, fixed_reference, engine, baseline, mask, loop), sound


def zoom_loop(settings: dict, music: Features | None, fps: Fraction, frames: int) -> ZoomLoop | None:
    """`--loop`'s plan: `frames` long (music: minus the lead when the music sets the length, then whole bars)."""
    if not settings["loop"]:
        return None
    if music is None:
        return plan_loop(max(2, frames), fps, settings["cadence"])
    lead = plan_loop(2, fps, settings["cadence"]).lead
    wanted = settings["frames"] or max(2, frames - lead)
    return quiet_head(plan_loop(music_loop_frames(wanted, music, fps), fps, settings["cadence"]), music, fps,
                      settings["cadence"])


def picture_size(picture: Picture | None, first: np.ndarray) -> tuple[int, int]:
    """(width, height) of the picture the zoom starts from, before any resize (noise: the first frame's)."""
    frame = as_frame(picture) if picture is not None and not (isinstance(picture, str) and not picture) else first
    return frame.shape[1], frame.shape[0]


def render_zoom(input_path: str, output_path: str, settings: dict, overwrite: bool = False, resume: bool = False,
                preview: bool = False, baseline: bool = False, engine: Engine | None = None, progress: bool = True,
                callback: Callback | None = None) -> str:
    """`dreamvid zoom`: checks first, then the loop, resumable, into one video file; returns its path."""
    output_path, settings = prepare_output(output_path, settings, overwrite, preview)
    work, sound = prepare_zoom(input_path, settings, engine, baseline)
    job = FrameJob("zoom", input_path, output_path, work.settings, work.size, work.settings.fps, work.frames,
                   audio=sound.source, audio_digest=sound.digest, lead=work.lead)
    return render_frames(job, work.step_from, work.start, overwrite, resume, progress, callback)
