"""What the studio's jobs do, through the library's Python API and nothing else (one render path): a
still dreamed octave by octave, a zoom's or clip's frames as they render, a render into a file, a
layer atlas thumbnail. Models stay loaded between jobs (`Dreamers`)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
import json
from pathlib import Path
import re

import numpy as np

from dreamvid.errors import UserError
from dreamvid.render.resume import discard_state, state_folder
from dreamvid.studio.queue import Job

KEPT_MODELS = 3  # a few networks in memory: switching models back and forth costs no rebuild
PREVIEW_SIDE = 384  # frames sent to the page are at most this big: enough to look at, quick to send
RESULT_EXTENSIONS = {"image": ".png", "zoom": ".mp4", "video": ".mp4"}
# the library's own time estimates (render/report.py): the page shows one ETA, the job's, so these are dropped
TIME_ESTIMATE = re.compile(r"about .* left$|by a rough guess|an estimate follows")


def library():
    """The Python API (docs/API.md), imported when first needed: it brings torch, the page's server does not."""
    import dreamvid

    return dreamvid


def import_library() -> None:
    """Load the API's modules (torch, the renderers) ahead of the first dream."""
    import dreamvid.api  # noqa: F401


@dataclass(frozen=True)
class DreamRequest:
    """What a page asked for: the mode, the preset, and only the settings it changed from the preset."""

    mode: str  # image | zoom | video
    preset: str | None
    settings: dict  # explicit settings, by their TOML names
    input_path: Path | None  # None: start from noise (zoom)
    input_name: str  # the client's name for the input: shown in the CLI command only
    paths: dict = field(default_factory=dict)  # file setting -> stored path the render reads (mask, sound...)
    names: dict = field(default_factory=dict)  # file setting -> the client's name for it, likewise shown only
    most_frames: int = 0  # a clip's frames past which its render stops (its header may lie); 0: no such cap

    def call_settings(self) -> dict:
        return {**self.settings, **{key: str(path) for key, path in self.paths.items()}}

    def resolved(self) -> dict:
        """The same merge as the CLI: defaults < preset < explicit settings."""
        return library().resolve_settings(self.mode, self.preset, **self.call_settings())


class Dreamers:
    """Dreamer objects (a loaded model each) kept between jobs, keyed by the settings that define a model."""

    def __init__(self, kept: int = KEPT_MODELS):
        self._kept = kept
        self._dreamers: OrderedDict[str, object] = OrderedDict()

    def get(self, resolved: dict):
        from dreamvid.render.dreaming import NETWORK_SETTINGS

        # a Dreamer is the network: it dreams any layers, channels and guide of its model, so only these pick one
        fixed = {key: resolved[key] for key in NETWORK_SETTINGS}
        key = json.dumps(fixed, sort_keys=True, default=str)
        if key not in self._dreamers:
            self._dreamers[key] = library().Dreamer.from_settings(**fixed)
            while len(self._dreamers) > self._kept:
                self._dreamers.popitem(last=False)
        self._dreamers.move_to_end(key)
        return self._dreamers[key]


def shown_notice(job: Job):
    """Where the library's notices go during a job: to the page beside the progress, but for time estimates."""
    def notice(message: str) -> None:
        if TIME_ESTIMATE.search(message) is None:
            job.update(message=message)

    return notice


def check_length(request: DreamRequest, done: int) -> None:
    """One line when a clip turns out longer than its header said (and than the studio's bounds were checked for)."""
    if request.most_frames and done > request.most_frames:
        raise UserError(f"the clip has more frames than its header says (past {request.most_frames}): "
                        "set frames to dream part of it")


def jpeg(frame: np.ndarray, side: int = PREVIEW_SIDE, quality: int = 85) -> bytes:
    """An RGB uint8 frame as JPEG bytes, no larger than `side` px: what the page shows while dreaming."""
    import cv2

    height, width = frame.shape[:2]
    if max(height, width) > side:
        scale = side / max(height, width)
        frame = cv2.resize(frame, (max(1, round(width * scale)), max(1, round(height * scale))),
                           interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(frame[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return data.tobytes()


def dream_still(job: Job, request: DreamRequest, dreamers: Dreamers, output: Path) -> Path:
    """A still into `output`, shown to the page as it grows, octave by octave."""
    api = library()

    def on_step(progress) -> bool:
        shown = progress.image() if progress.octave_done else None
        job.report(progress.step, progress.total, jpeg(shown) if shown is not None else None)
        return not job.should_stop()

    dreamer = dreamers.get(request.resolved())
    with api.notices_to(shown_notice(job)):
        api.render_image(str(request.input_path), str(output), request.preset, dreamer=dreamer, overwrite=True,
                         on_step=on_step, progress=False, **request.call_settings())
    return output


def frames_of(request: DreamRequest, dreamer):
    """The frames of a zoom or a clip as the library renders them, no file written."""
    api = library()
    if request.mode == "zoom":
        picture = str(request.input_path) if request.input_path else None
        return api.zoom_frames(picture, preset=request.preset or "tunnel", dreamer=dreamer, **request.call_settings())
    return api.clip_frames(str(request.input_path), preset=request.preset or "video-subtle", dreamer=dreamer,
                           **request.call_settings())


def preview_frames(job: Job, request: DreamRequest, dreamers: Dreamers) -> None:
    """A zoom's or clip's frames, each shown to the page as it is dreamed; Cancel closes the generator,
    which ends the library's decoder and threads."""
    api = library()
    frames = frames_of(request, dreamers.get(request.resolved()))
    try:
        with api.notices_to(shown_notice(job)):
            for frame in frames:
                check_length(request, frame.index + 1)
                job.report(frame.index + 1, frame.total, jpeg(frame.image))
                if job.should_stop():
                    break
    finally:
        frames.close()


def render_video(job: Job, request: DreamRequest, dreamers: Dreamers, output: Path) -> Path:
    """A zoom or a clip rendered into `output` by the library's render call, every frame shown as written."""
    api = library()

    def callback(index: int, image: np.ndarray, total: int) -> bool:
        check_length(request, index + 1)
        job.report(index + 1, total, jpeg(image))
        return not job.should_stop()

    render = api.render_zoom if request.mode == "zoom" else api.render_clip
    preset = request.preset or ("tunnel" if request.mode == "zoom" else "video-subtle")
    source = str(request.input_path) if request.input_path else None
    try:
        with api.notices_to(shown_notice(job)):
            render(source, str(output), preset=preset, dreamer=dreamers.get(request.resolved()), overwrite=True,
                   progress=False, callback=callback, **request.call_settings())
    except BaseException:
        discard_checkpoint(output)
        raise
    return output


def discard_checkpoint(output: Path) -> None:
    """A stopped render's checkpoint: the studio never resumes one, so it would only fill the disk unseen."""
    discard_state(state_folder(str(output)))
