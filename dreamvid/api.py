"""dreamvid's Python API: stills, zooms and clips as arrays or generators, and renders to files exactly
as the CLI writes them (docs/API.md). The CLI is a layer of parsing and messages over these calls.

Library code never prints and never exits: notices go through `notices_to`, bad input raises
`UserError`, a render stopped by its callback raises `Cancelled` (Ctrl-C: `Interrupted`), with its
state kept so that `resume=True` completes it exactly.
"""

from __future__ import annotations

from collections import OrderedDict
from contextlib import closing
from dataclasses import dataclass
from functools import partial
import os
import shutil
import tempfile
from typing import Callable, Iterable, Iterator

import numpy as np
from PIL import Image

from dreamvid.ascent.dream import StepProgress
from dreamvid.errors import Cancelled, UserError
from dreamvid.media.outputs import check_new_output, output_target
from dreamvid.media.pictures import PICTURE_KINDS, Picture, as_frame, is_path, save_picture
from dreamvid.media.video_file import write_video
from dreamvid.render import clip as clip_render
from dreamvid.render import atlas, still, zoom
from dreamvid.render.dreaming import NETWORK_SETTINGS, build_engine, build_network, network_mismatch
from dreamvid.render.jobs import check_distinct_outputs, job_settings, render_job_settings
from dreamvid.render.loop import Callback, dreamed_frames
from dreamvid.settings import Resolved
from dreamvid.settings.commands import COMMAND_GROUPS, applies, check_applies, check_preset_fits, preset_commands
from dreamvid.settings.table import BY_NAME
from dreamvid.settings.files import DEFAULT_PRESETS, command_settings, load_preset  # noqa: F401 (DEFAULT_PRESETS: public)

OnStep = Callable[[StepProgress], "bool | None"]  # after every ascent step; False cancels


def resolve_settings(command: str, preset: str | None = None, config: str | None = None, **settings) -> dict:
    """The settings a render of `command` ("image", "zoom", "video") uses, merged as the CLI merges
    them: defaults < preset (None: the command's default) < config file < `settings`."""
    return merged_settings(command, preset, config, settings, "the arguments")


def merged_settings(command: str, preset: str | None, config: str | None, given: dict, source: str,
                    dreamer: "Dreamer | None" = None) -> dict:
    check_applies(command, given)
    check_preset_fits(command, preset)
    return command_settings(command, preset, config, given, source, dreamer.call_defaults() if dreamer else None)


KEPT_ENGINES = 8  # layer sets, channels and guides a Dreamer keeps ready (each is a few small tensors)


class Dreamer:
    """A network built once and reused by every call given `dreamer=`. A call may dream any layer, channel
    set, guide and preset of its model; another model (or weights, device, precision, compile: the
    `NETWORK_SETTINGS`) needs another Dreamer. The settings given to `from_settings`, its preset's included,
    are the defaults of its calls, below each call's own preset and settings."""

    def __init__(self, settings: dict, net, defaults: dict | None = None):
        self.settings, self.net, self.defaults = settings, net, dict(defaults or {})
        self._engines: OrderedDict[str, object] = OrderedDict()

    @classmethod
    def from_settings(cls, preset: str | None = None, device: str = "auto", **settings) -> "Dreamer":
        """The network for these settings (any preset, for any command), hooked on every layer of its model."""
        given = {"device": device, **settings}
        command = dreamer_command(preset, given)
        merged = merged_settings(command, preset, None, given, "Dreamer.from_settings")
        from dreamvid.nets.registry import get_spec

        net = build_network(Resolved(merged), list(get_spec(merged["model"]).layers))
        defaults = {**(load_preset(preset) if preset else {}), **{k: v for k, v in given.items() if v is not None}}
        return cls(merged, net, defaults)

    @property
    def device(self):
        return self.net.mean.device

    def call_defaults(self) -> dict:
        """What a call starts from, below its own preset: this Dreamer's network and the settings it was given."""
        return {**self.defaults, **{name: self.settings[name] for name in NETWORK_SETTINGS}}

    def engine_for(self, settings: dict):
        """An engine over this Dreamer's network for a call's merged settings (kept for the next call alike)."""
        different = network_mismatch(self.settings, settings)
        if different:
            raise UserError(f"this Dreamer cannot dream with {different}: another network needs another "
                            f"Dreamer: Dreamer.from_settings({network_arguments(settings)})")
        key = repr((list(settings["layers"]), settings["channels"], settings["guide"]))
        if key not in self._engines:
            self._engines[key] = build_engine(Resolved(settings), net=self.net)
            while len(self._engines) > KEPT_ENGINES:
                self._engines.popitem(last=False)
        self._engines.move_to_end(key)
        return self._engines[key]


def network_arguments(settings: dict) -> str:
    """The keyword arguments that build the network `settings` ask for, as Python reads them."""
    return ", ".join(f"{name}={settings[name]!r}" for name in NETWORK_SETTINGS
                     if settings[name] != BY_NAME[name].default or name == "model")


def dreamer_command(preset: str | None, given: dict) -> str:
    """The first command that a Dreamer's preset is for and that takes every setting given to it."""
    fits = preset_commands(load_preset(preset)) if preset else list(COMMAND_GROUPS)
    takes_all = (command for command in fits if all(applies(name, command) for name in given if name in BY_NAME))
    return next(takes_all, fits[0] if fits else "image")


def engine_of(dreamer: Dreamer | None, settings: dict):
    return dreamer.engine_for(settings) if dreamer else None


def step_watcher(on_step: OnStep | None) -> Callable[[StepProgress], None] | None:
    """`on_step` as the ascent calls it: a False from it cancels the dream."""
    if on_step is None:
        return None

    def watch(progress: StepProgress) -> None:
        if on_step(progress) is False:
            raise Cancelled(reason=f"on_step returned False at step {progress.step} of {progress.total}")

    return watch


def dream_image(picture: Picture, preset: str | None = None, *, dreamer: Dreamer | None = None,
                on_step: OnStep | None = None, **settings) -> np.ndarray:
    """Dream a picture (a path, an H x W x 3 uint8 RGB array or a PIL image); returns the H x W x 3 uint8 RGB
    dream. Keyword arguments are settings (`layers="blocks.4"`, `iterations=20`, `device="cpu"`...).
    `on_step(progress)` sees every step (`progress.image()` is the dream so far); False cancels."""
    frame = as_frame(picture)
    merged = merged_settings("image", preset, None, settings, "dream_image arguments", dreamer)
    return still.dream_frame(frame, merged, engine_of(dreamer, merged), step_watcher(on_step))


@dataclass(frozen=True)
class Frame:
    """One frame of a zoom or clip."""

    index: int  # 0-based, in the order dreamed
    time: float  # seconds from the first frame (a variable-rate clip's frames: their own times)
    image: np.ndarray  # H x W x 3 uint8 RGB
    total: int  # frames in the whole render


def frames_of(work, time_of: Callable[[int], float], cleanup: Callable[[], None] | None = None) -> Iterator[Frame]:
    """The frames a render writes (not a loop's lead); a boomerang's way back follows, mirrored in time."""
    written, boomerang = work.frames - work.lead, work.settings["boomerang"]
    total, forward = written + max(0, written - 2) * boomerang, []
    try:
        with closing(dreamed_frames(work.step_from, 0, work.frames, work.start())) as frames:
            for t, image, _ in frames:
                if t >= work.lead:
                    forward += [image] if boomerang else []
                    yield Frame(t - work.lead, time_of(t - work.lead), image, total)
        for index, back in enumerate(range(written - 2, 0, -1) if boomerang else (), start=written):
            yield Frame(index, 2 * time_of(written - 1) - time_of(back), forward[back], total)
    finally:
        if cleanup:
            cleanup()


def zoom_frames(picture: Picture | None = None, preset: str | None = None, *, dreamer: Dreamer | None = None,
                **settings) -> Iterator[Frame]:
    """A zoom's frames as a generator (`picture=None`: from noise); nothing is written, so the frames keep the
    picture's own size (a video's even sides are not needed). Closing it early ends the render."""
    given = {**settings, "noise": True} if picture is None and "noise" not in settings else settings
    merged = merged_settings("zoom", preset, None, given, "zoom_frames arguments", dreamer)
    work, _ = zoom.prepare_zoom(picture, merged, engine_of(dreamer, merged), for_video=False)
    fps = float(work.settings.fps)
    return frames_of(work, lambda t: t / fps)


def clip_frames(clip: "str | os.PathLike | Iterable[Picture]", preset: str | None = None, *, fps: float | None = None,
                dreamer: Dreamer | None = None, **settings) -> Iterator[Frame]:
    """A clip's dreamed frames as a generator; nothing is written. `clip`: a clip's path, or frames (arrays,
    PIL images or paths) with their `fps`. Closing it early ends ffmpeg and the flow thread. A variable-rate
    clip gives each stored frame once, at its time."""
    merged = merged_settings("video", preset, None, settings, "clip_frames arguments", dreamer)
    path, cleanup = clip_file(clip, fps)
    try:
        work, _ = clip_render.prepare_clip_work(path, merged, engine=engine_of(dreamer, merged))
    except BaseException:
        cleanup()
        raise
    return frames_of(work, work.time_of, cleanup)


def clip_file(clip: object, fps: float | None) -> tuple[str, Callable[[], None]]:
    """A clip's path, and what to do when done with it: frames held in memory are written first, losslessly
    but for the video's colour subsampling, into a temporary clip that is deleted afterwards."""
    frames = frames_given(clip, fps, "clip_frames")
    if frames is None:
        return os.fspath(clip), lambda: None
    folder = tempfile.mkdtemp(prefix="dreamvid-clip-")
    cleanup = partial(shutil.rmtree, folder, ignore_errors=True)
    try:
        return write_video(even_sided(frames), os.path.join(folder, "frames.mkv"), fps, crf=0), cleanup
    except BaseException:
        cleanup()
        raise


def frames_given(clip: object, fps: float | None, call: str) -> Iterable[Picture] | None:
    """The frames of a clip given as frames (None for a clip's path), checked: one line for anything else."""
    if is_path(clip):
        if fps is not None:
            raise UserError("fps is for frames given as arrays or pictures; a clip file has its own")
        return None
    one_picture = isinstance(clip, Image.Image) or (isinstance(clip, np.ndarray) and clip.ndim != 4)
    if one_picture or not isinstance(clip, Iterable):
        raise UserError(f"a clip must be a path or an iterable of frames ({PICTURE_KINDS} each) with fps=; "
                        f"got {type(clip).__name__}")
    if fps is None:
        raise UserError(f"frames given to {call} need their rate: fps=30, say")
    return clip


def clip_beside(clip: object, fps: float | None, output: str, replacing: bool) -> str:
    """A render's clip as a file: a path as given; frames written beside the output first (OUT.input.mkv,
    lossless but for the colour subsampling, and the same bytes for the same frames), so that the settings
    written there render it again and a resume finds it unchanged."""
    frames = frames_given(clip, fps, "render_clip")
    if frames is None:
        return os.fspath(clip)
    check_writable_beside(output, replacing)
    return write_video(even_sided(frames), output_target(output) + ".input.mkv", fps, overwrite=True, crf=0)


def check_writable_beside(output: str, replacing: bool) -> None:
    """An input is written beside its output only where the render may write: a render refused because its
    output exists leaves that output's input (which its settings name) as it was."""
    if not replacing:
        check_new_output(output, overwrite=False)


def even_sided(frames: Iterable[Picture]) -> Iterator[np.ndarray]:
    """Frames cropped to even sides, which the temporary clip's colour format needs (as a clip file's are)."""
    for frame in frames:
        frame = as_frame(frame)
        yield frame[: frame.shape[0] - frame.shape[0] % 2, : frame.shape[1] - frame.shape[1] % 2]


def picture_file(picture: Picture | None, output: str, replacing: bool) -> str:
    """A render's input as a file: a path as given; an array or PIL image saved beside the output
    (OUT.input.png), so that the settings written there render it again and a resume finds it unchanged."""
    if picture is None or is_path(picture):
        return os.fspath(picture) if picture is not None else ""
    frame = as_frame(picture)
    check_writable_beside(output, replacing)
    path = output_target(output) + ".input.png"
    save_picture(frame, path)
    return path


def render_image(picture: Picture, output: str, preset: str | None = None, *, dreamer: Dreamer | None = None,
                 overwrite: bool = False, on_step: OnStep | None = None, progress: bool = True,
                 config: str | None = None, **settings) -> str:
    """Dream a picture into `output` (and its settings beside it, OUT.dreamvid.toml); returns the absolute
    path written. A picture given as an array or PIL image is saved beside it first (OUT.input.png)."""
    merged = merged_settings("image", preset, config, settings, "render_image arguments", dreamer)
    written = still.render_image(picture_file(picture, output, overwrite), output, merged, overwrite,
                                 engine_of(dreamer, merged), step_watcher(on_step), progress)
    return os.path.abspath(written)


def render_zoom(picture: Picture | None, output: str, preset: str | None = None, *, dreamer: Dreamer | None = None,
                overwrite: bool = False, resume: bool = False, preview: bool = False, progress: bool = True,
                callback: Callback | None = None, config: str | None = None, **settings) -> str:
    """A zoom video written as the CLI writes it (`picture=None` with `noise=True`: from noise); returns the
    absolute path written. `callback(index, frame, total)` returning False stops it (`Cancelled`);
    `resume=True` then completes it exactly. A picture given as an array or PIL image is saved beside the
    output first (OUT.input.png)."""
    merged = merged_settings("zoom", preset, config, settings, "render_zoom arguments", dreamer)
    written = zoom.render_zoom(picture_file(picture, output, overwrite or resume), output, merged, overwrite, resume,
                               preview, engine=engine_of(dreamer, merged), progress=progress, callback=callback)
    return os.path.abspath(written)


def render_clip(clip: "str | os.PathLike | Iterable[Picture]", output: str, preset: str | None = None, *,
                fps: float | None = None, dreamer: Dreamer | None = None, overwrite: bool = False, resume: bool = False,
                preview: bool = False, progress: bool = True, callback: Callback | None = None,
                config: str | None = None, **settings) -> str:
    """A dreamed clip written as the CLI writes it, with the source's sound; `workers=N` or `ray=ADDRESS`:
    its shots on Ray workers. Returns the absolute path written; `callback` as in `render_zoom`. `clip`: a
    clip's path, or frames (arrays, PIL images or paths) with their `fps`, written beside the output first
    (OUT.input.mkv)."""
    merged = merged_settings("video", preset, config, settings, "render_clip arguments", dreamer)
    path = clip_beside(clip, fps, output, overwrite or resume)
    return os.path.abspath(render_merged_clip(path, output, merged, overwrite, resume, preview, progress,
                                              callback, engine_of(dreamer, merged)))


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


def render_atlas(picture: Picture, output: str, model: str = "efficientnet_lite0", size: int = 256,
                 overwrite: bool = False) -> str:
    """The picture dreamed at each main layer of `model`, labelled, in one contact sheet; returns the absolute
    path written."""
    atlas.render_atlas(picture, output, model, size, overwrite)
    return os.path.abspath(output)


def render_job(toml_path: str, *, overwrite: bool = False, resume: bool = False, progress: bool = True,
               callback: Callback | None = None, workers: int | None = None, ray: str | None = None) -> str:
    """Render a job file (the OUT.dreamvid.toml beside any output); returns the path written."""
    placement = {name: value for name, value in (("workers", workers), ("ray", ray)) if value is not None}
    return os.path.abspath(render_job_settings(*job_settings(toml_path, placement), overwrite, resume, progress,
                                               callback, render_video=render_merged_clip))


def render_jobs(paths: list[str], *, overwrite: bool = False, resume: bool = False, workers: int | None = None,
                ray: str | None = None) -> list[str]:
    """Several job files: one after another, or `workers` at a time on Ray (each job in one process)."""
    check_distinct_outputs(paths)
    if len(paths) > 1 and (workers and workers > 1 or ray):
        from dreamvid.distributed.job_pool import render_jobs as render_on_pool

        render_on_pool(paths, overwrite, resume, workers or 1, ray or "")
        return [os.path.abspath(job_settings(path)[2]) for path in paths]
    return [render_job(path, overwrite=overwrite, resume=resume, workers=workers, ray=ray) for path in paths]
