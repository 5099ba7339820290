"""`dreamvid render JOB.toml`: a job file fully describes a render (mode, input, output, settings)."""

from __future__ import annotations

from dreamvid.errors import UserError
from dreamvid.settings import merge
from dreamvid.settings.files import load_job


def render_job(path: str, overwrite: bool = False, resume: bool = False, overrides: dict | None = None) -> None:
    """`overrides`: settings given on the command line (`--workers`, `--ray`), over the file's."""
    mode, input_path, output_path, values = load_job(path)
    settings = merge((path, values), ("the command line", overrides or {}))
    if mode == "image":
        from dreamvid.render.still import render_image

        render_image(input_path, output_path, settings, overwrite=overwrite)
    elif mode == "zoom":
        from dreamvid.render.zoom import render_zoom

        render_zoom(input_path, output_path, settings, overwrite=overwrite, resume=resume)
    else:
        if not input_path:
            raise UserError(f"{path}: a video job needs an 'input' clip")
        from dreamvid.render.clip import render_clip

        render_clip(input_path, output_path, settings, overwrite=overwrite, resume=resume)
