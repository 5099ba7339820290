"""TEMPORARY, deleted when issue 18's Python API lands on main: the few calls of its contract that
the studio uses, on today's internals, so that the studio can be built and tried before then.
Known gaps: a still's preview has no picture before the end; renders neither report frames nor cancel;
clip_frames is refused."""

from __future__ import annotations

from dataclasses import dataclass
import os
from typing import Callable, Iterator

import numpy as np

from dreamvid.errors import UserError
from dreamvid.notices import notices_to  # noqa: F401 - part of the contract
from dreamvid.settings import Resolved, merge
from dreamvid.settings.files import load_preset, save_job

DEFAULT_PRESETS = {"zoom": "tunnel", "video": "video-subtle"}
MODEL_KEYS = ("model", "weights", "layers", "channels", "guide", "device", "precision", "compile")


class Cancelled(Exception):
    pass


def resolve_settings(command: str, preset: str | None = None, config: str | None = None, **settings) -> dict:
    preset = preset or DEFAULT_PRESETS.get(command)
    sources = [(f"preset {preset}", load_preset(preset))] if preset else []
    return merge(*sources, ("the studio", settings))


class Dreamer:
    def __init__(self, settings: dict):
        from dreamvid.ascent.engine import Dreamer as Engine
        from dreamvid.nets.device import pick_device

        self.settings = settings
        self.device = pick_device(settings["device"])
        self.engine = Engine(Resolved(settings), self.device)

    @classmethod
    def from_settings(cls, preset: str | None = None, device: str = "auto", **settings) -> "Dreamer":
        return cls(resolve_settings("image", preset, device=device, **settings))

    def for_settings(self, settings: dict):
        from dreamvid.ascent.engine import Dreamer as Engine

        return Engine(Resolved(settings), self.device, self.engine.net)


@dataclass
class Progress:
    step: int
    total: int
    octave: int
    octaves: int
    octave_done: bool

    def image(self) -> None:
        return None  # the real API gives the dream so far


def as_frame(picture) -> np.ndarray:
    from dreamvid.media.pictures import load_picture

    return load_picture(picture) if isinstance(picture, (str, os.PathLike)) else np.asarray(picture)


def dream_image(picture, preset=None, *, dreamer: Dreamer, on_step: Callable | None = None, **settings) -> np.ndarray:
    from dreamvid.ascent.dream import octave_sizes
    from dreamvid.media.frames import frame_to_image, image_to_frame
    from dreamvid.media.pictures import resize_frame

    resolved = resolve_settings("image", preset, **settings)
    engine = dreamer.for_settings(resolved)
    image = frame_to_image(resize_frame(as_frame(picture), resolved["size"]), dreamer.device)
    params = engine.params()
    octaves = len(octave_sizes(image.shape[-2], image.shape[-1], params.octaves, params.octave_scale))
    total, count = octaves * params.iterations, [0]

    def counted() -> None:
        count[0] += 1
        octave, within = divmod(count[0] - 1, params.iterations)
        if on_step and on_step(Progress(count[0], total, octave, octaves, within == params.iterations - 1)) is False:
            raise Cancelled()

    return image_to_frame(engine.dream(image, on_step=counted))


def render_image(picture, output, preset=None, *, dreamer: Dreamer, overwrite=False, on_step=None, **settings) -> str:
    from dreamvid.media.pictures import save_picture

    save_picture(dream_image(picture, preset, dreamer=dreamer, on_step=on_step, **settings), str(output))
    save_job("image", str(picture), str(output), resolve_settings("image", preset, **settings))
    return str(output)


@dataclass
class Frame:
    index: int
    time: float
    image: np.ndarray
    total: int


def zoom_frames(picture=None, *, preset="tunnel", dreamer: Dreamer, **settings) -> Iterator[Frame]:
    from dreamvid.render.zoom import SECONDS_WHEN_UNSET, loop_step, start_picture

    resolved = Resolved(resolve_settings("zoom", preset, **({"noise": True} if picture is None else {}), **settings))
    frames = resolved["frames"] or round(SECONDS_WHEN_UNSET * resolved.fps)
    step = loop_step(dreamer.for_settings(resolved.values), resolved, None)
    state = {"image": start_picture(str(picture or ""), resolved)}
    for t in range(frames):
        frame, state = step(t, state)
        yield Frame(t, t / float(resolved.fps), frame, frames)


def clip_frames(path, *, preset="video-subtle", dreamer: Dreamer, **settings) -> Iterator[Frame]:
    raise UserError("live clip frames come with the Python API (issue 18); Render works")
    yield


def render_zoom(picture, output, *, preset="tunnel", dreamer=None, overwrite=False, progress=True, callback=None,
                **settings) -> str:
    from dreamvid.render.zoom import render_zoom as render

    settings = resolve_settings("zoom", preset, **({"noise": True} if picture is None else {}), **settings)
    render(str(picture or ""), str(output), settings, overwrite=overwrite)
    return str(output)


def render_clip(path, output, *, preset="video-subtle", dreamer=None, overwrite=False, progress=True, callback=None,
                **settings) -> str:
    from dreamvid.render.clip import render_clip as render

    render(str(path), str(output), resolve_settings("video", preset, **settings), overwrite=overwrite)
    return str(output)
