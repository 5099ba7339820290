"""Job files: a job file fully describes a render (mode, input, output, settings); here it renders in
this process (the API decides whether a video job's shots go to workers instead)."""

from __future__ import annotations

import os
from typing import Callable

from dreamvid.errors import UserError
from dreamvid.media.outputs import output_target
from dreamvid.render.clip import render_clip
from dreamvid.render.still import render_image
from dreamvid.render.zoom import render_zoom
from dreamvid.settings import merge
from dreamvid.settings.files import load_job

ONE_PROCESS = {"workers": 1, "ray": ""}  # a job inside a pool renders in its own worker, not on more workers


def check_distinct_outputs(paths: list[str]) -> None:
    """Two job files writing one output would overwrite or resume each other's render: refused up front."""
    owners: dict[str, str] = {}
    for path in paths:
        target = os.path.abspath(output_target(load_job(path)[2]))
        if target in owners:
            raise UserError(f"{owners[target]} and {path} both write {target}; give each job its own output")
        owners[target] = path


def job_settings(path: str, overrides: dict | None = None) -> tuple[str, str, str, dict]:
    """(mode, input, output, settings) of a job file; `overrides` (the command line's) over the file's."""
    mode, input_path, output_path, values = load_job(path)
    if mode == "video" and not input_path:
        raise UserError(f"{path}: a video job needs an 'input' clip")
    return mode, input_path, output_path, merge((path, values), ("the command line", overrides or {}))


def render_job_here(path: str, overwrite: bool = False, resume: bool = False, progress: bool = True,
                    callback: Callable | None = None) -> str:
    """Render a job file in this process only; returns the output's path."""
    return render_job_settings(*job_settings(path, ONE_PROCESS), overwrite, resume, progress, callback)


def render_job_settings(mode: str, input_path: str, output_path: str, settings: dict, overwrite: bool,
                        resume: bool, progress: bool, callback: Callable | None,
                        render_video: Callable[..., str] = render_clip) -> str:
    """A job's render by its mode; `render_video`: what renders a video job (the API's may use workers)."""
    if mode == "image":
        return render_image(input_path, output_path, settings, overwrite, progress=progress)
    render = render_zoom if mode == "zoom" else render_video
    return render(input_path, output_path, settings, overwrite, resume, progress=progress, callback=callback)
