"""dreamvid's Python API: stills, zooms and clips as arrays or generators, and renders to files exactly
as the CLI writes them (docs/API.md). The CLI is a layer of parsing and messages over these calls.

Library code never prints and never exits: notices go through `notices_to`, bad input raises
`UserError`, a render stopped by its callback raises `Cancelled` (Ctrl-C: `Interrupted`), with its
state kept so that `resume=True` completes it exactly.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from dreamvid.ascent.dream import StepProgress
from dreamvid.errors import Cancelled, UserError
from dreamvid.media.pictures import Picture, as_frame
from dreamvid.render import clip as clip_render
from dreamvid.render import atlas, still, zoom
from dreamvid.render.dreaming import ENGINE_SETTINGS, build_engine, engine_mismatch
from dreamvid.render.jobs import check_distinct_outputs, job_settings, render_job_settings
from dreamvid.render.loop import Callback, dreamed_frames
from dreamvid.settings import Resolved
from dreamvid.settings.commands import check_applies, check_preset_fits
from dreamvid.settings.files import DEFAULT_PRESETS, command_settings  # noqa: F401 (DEFAULT_PRESETS: public)

OnStep = Callable[[StepProgress], "bool | None"]  # after every ascent step; False cancels


def resolve_settings(command: str, preset: str | None = None, config: str | None = None, **settings) -> dict:
    """The settings a render of `command` ("image", "zoom", "video") uses, merged as the CLI merges
    them: defaults < preset (None: the command's default) < config file < `settings`."""
    return merged_settings(command, preset, config, settings, "the arguments")


def merged_settings(command: str, preset: str | None, config: str | None, given: dict, source: str,
                    dreamer: "Dreamer | None" = None) -> dict:
    check_applies(command, given)
    check_preset_fits(command, preset)
    return command_settings(command, preset, config, given, source, dreamer.model_settings() if dreamer else None)


class Dreamer:
    """A model built once and reused by every call given `dreamer=`: the calls' settings may change the
    dream (iterations, step, layer weights...), not the model (`ENGINE_SETTINGS` and the layers)."""

    def __init__(self, settings: dict, engine):
        self.settings, self.engine = settings, engine

    @classmethod
    def from_settings(cls, preset: str | None = None, device: str = "auto", **settings) -> "Dreamer":
        merged = merged_settings("image", preset, None, {"device": device, **settings}, "Dreamer.from_settings")
        return cls(merged, build_engine(Resolved(merged)))

    @property
    def device(self):
        return self.engine.device

    def model_settings(self) -> dict:
        return {name: self.settings[name] for name in (*ENGINE_SETTINGS, "layers")}

    def engine_for(self, settings: dict):
        """This Dreamer's engine, for a call whose merged settings agree with it on the model."""
        different = engine_mismatch(self.settings, settings)
        if different:
            raise UserError(f"this Dreamer cannot dream with {different}; make another with Dreamer.from_settings")
        return self.engine


def engine_of(dreamer: Dreamer | None, settings: dict):
    return dreamer.engine_for(settings) if dreamer else None


def step_watcher(on_step: OnStep | None) -> Callable[[StepProgress], None] | None:
    """`on_step` as the ascent calls it: a False from it cancels the dream."""
    if on_step is None:
        return None

    def watch(progress: StepProgress) -> None:
        if on_step(progress) is False:
            raise Cancelled()

    return watch


def dream_image(picture: Picture, preset: str | None = None, *, dreamer: Dreamer | None = None,
                on_step: OnStep | None = None, **settings) -> np.ndarray:
    """Dream a picture (a path or an H x W x 3 uint8 RGB array); returns the H x W x 3 uint8 RGB dream.

    Keyword arguments are settings (`layers="blocks.4"`, `iterations=20`, `device="cpu"`...).
    `on_step(progress)` sees every step (`progress.image()` is the dream so far); False cancels."""
    frame = as_frame(picture)
    merged = merged_settings("image", preset, None, settings, "dream_image arguments", dreamer)
    return still.dream_frame(frame, merged, engine_of(dreamer, merged), step_watcher(on_step))


@dataclass(frozen=True)
class Frame:
    """One frame of a zoom or clip: its index, its time in seconds, its H x W x 3 uint8 RGB image."""

    index: int
    time: float
    image: np.ndarray
    total: int  # frames in the whole render


def frames_of(work, time_of: Callable[[int], float]) -> Iterator[Frame]:
    """The frames a render writes (not a loop's lead); a boomerang's way back follows, mirrored in time."""
    written, boomerang = work.frames - work.lead, work.settings["boomerang"]
    total, forward = written + max(0, written - 2) * boomerang, []
    with closing(dreamed_frames(work.step_from, 0, work.frames, work.start())) as frames:
        for t, image, _ in frames:
            if t >= work.lead:
                forward += [image] if boomerang else []
                yield Frame(t - work.lead, time_of(t - work.lead), image, total)
    for index, back in enumerate(range(written - 2, 0, -1) if boomerang else (), start=written):
        yield Frame(index, 2 * time_of(written - 1) - time_of(back), forward[back], total)


def zoom_frames(picture: Picture | None = None, *, preset: str | None = "tunnel", dreamer: Dreamer | None = None,
                **settings) -> Iterator[Frame]:
    """A zoom's frames as a generator (`picture=None`: from noise); nothing is written. Closing it early
    ends the render."""
    given = {**settings, "noise": True} if picture is None and "noise" not in settings else settings
    merged = merged_settings("zoom", preset, None, given, "zoom_frames arguments", dreamer)
    work, _ = zoom.prepare_zoom(picture, merged, engine_of(dreamer, merged))
    fps = float(work.settings.fps)
    return frames_of(work, lambda t: t / fps)


def clip_frames(path: str, *, preset: str | None = "video-subtle", dreamer: Dreamer | None = None,
                **settings) -> Iterator[Frame]:
    """A clip's dreamed frames as a generator; nothing is written. Closing it early ends ffmpeg and the
    flow thread. A variable-rate clip gives each stored frame once, at its time."""
    merged = merged_settings("video", preset, None, settings, "clip_frames arguments", dreamer)
    work, _ = clip_render.prepare_clip_work(path, merged, engine=engine_of(dreamer, merged))
    return frames_of(work, work.time_of)


def render_image(picture: str, output: str, preset: str | None = None, *, dreamer: Dreamer | None = None,
                 overwrite: bool = False, on_step: OnStep | None = None, progress: bool = True,
                 config: str | None = None, **settings) -> str:
    """Dream a picture file into `output` (and its settings beside it, OUT.dreamvid.toml); returns `output`."""
    merged = merged_settings("image", preset, config, settings, "render_image arguments", dreamer)
    return still.render_image(picture, output, merged, overwrite, engine_of(dreamer, merged), step_watcher(on_step),
                              progress)


def render_zoom(picture: str | None, output: str, *, preset: str | None = None, dreamer: Dreamer | None = None,
                overwrite: bool = False, resume: bool = False, preview: bool = False, progress: bool = True,
                callback: Callback | None = None, config: str | None = None, **settings) -> str:
    """A zoom video written as the CLI writes it (`picture=None` with `noise=True`: from noise); returns the
    path written. `callback(index, frame, total)` returning False stops it (`Cancelled`); `resume=True`
    then completes it exactly."""
    merged = merged_settings("zoom", preset, config, settings, "render_zoom arguments", dreamer)
    return zoom.render_zoom(picture or "", output, merged, overwrite, resume, preview,
                            engine=engine_of(dreamer, merged), progress=progress, callback=callback)


def render_clip(path: str, output: str, *, preset: str | None = None, dreamer: Dreamer | None = None,
                overwrite: bool = False, resume: bool = False, preview: bool = False, progress: bool = True,
                callback: Callback | None = None, config: str | None = None, **settings) -> str:
    """A dreamed clip written as the CLI writes it, with the source's sound; `workers=N` or `ray=ADDRESS`:
    its shots on Ray workers. Returns the path written; `callback` as in `render_zoom`."""
    merged = merged_settings("video", preset, config, settings, "render_clip arguments", dreamer)
    return render_merged_clip(path, output, merged, overwrite, resume, preview, progress, callback,
                              engine_of(dreamer, merged))


def render_merged_clip(path: str, output: str, settings: dict, overwrite: bool, resume: bool, preview: bool = False,
                       progress: bool = True, callback: Callback | None = None, engine=None) -> str:
    """Here, or shot by shot on Ray workers: distribution is decided here, above the clip renderer."""
    if settings["workers"] > 1 or settings["ray"]:
        if callback is not None:
            raise UserError("a callback sees frames in order, which shots on workers do not give; "
                            "render with workers=1 to use one")
        from dreamvid.distributed.workers import render_shots

        job, work = clip_render.prepare_clip(path, output, settings, overwrite, preview)
        return render_shots(job, work, overwrite, resume, progress)
    return clip_render.render_clip(path, output, settings, overwrite, resume, preview, engine=engine,
                                   progress=progress, callback=callback)


def render_atlas(picture: str, output: str, model: str = "efficientnet_lite0", size: int = 256,
                 overwrite: bool = False) -> str:
    """The picture dreamed at each main layer of `model`, labelled, in one contact sheet; returns `output`."""
    atlas.render_atlas(picture, output, model, size, overwrite)
    return output


def render_job(toml_path: str, *, overwrite: bool = False, resume: bool = False, progress: bool = True,
               callback: Callback | None = None, workers: int | None = None, ray: str | None = None) -> str:
    """Render a job file (the OUT.dreamvid.toml beside any output); returns the path written."""
    placement = {name: value for name, value in (("workers", workers), ("ray", ray)) if value is not None}
    return render_job_settings(*job_settings(toml_path, placement), overwrite, resume, progress, callback,
                               render_video=render_merged_clip)


def render_jobs(paths: list[str], *, overwrite: bool = False, resume: bool = False, workers: int | None = None,
                ray: str | None = None) -> list[str]:
    """Several job files: one after another, or `workers` at a time on Ray (each job in one process)."""
    check_distinct_outputs(paths)
    if len(paths) > 1 and (workers and workers > 1 or ray):
        from dreamvid.distributed.job_pool import render_jobs as render_on_pool

        render_on_pool(paths, overwrite, resume, workers or 1, ray or "")
        return [job_settings(path)[2] for path in paths]
    return [render_job(path, overwrite=overwrite, resume=resume, workers=workers, ray=ray) for path in paths]
