"""Dreaming one picture: the `dreamvid image` command and the `dream_image` Python API."""

from __future__ import annotations

import os

import numpy as np
from tqdm import tqdm

from dreamvid.ascent.dream import total_steps
from dreamvid.ascent.engine import Dreamer
from dreamvid.audio.schedules import require_audio
from dreamvid.errors import UserError
from dreamvid.media.frames import frame_to_image, image_to_frame
from dreamvid.media.pictures import check_picture_output, load_picture, resize_frame, save_picture
from dreamvid.nets.device import pick_device
from dreamvid.settings import Resolved, merge
from dreamvid.settings.files import load_preset, save_job


def dream_frame(frame: np.ndarray, settings: dict, progress: bool = False, dreamer: Dreamer | None = None) -> np.ndarray:
    """Dream an RGB uint8 frame with resolved settings; returns the dreamed frame."""
    require_audio(settings, False, "only zoom and video renders have sound")
    resolved = Resolved(settings)
    frame = resize_frame(frame, resolved["size"])
    dreamer = dreamer or Dreamer(resolved, pick_device(resolved["device"]))
    image = frame_to_image(frame, dreamer.device)
    steps = total_steps(image.shape[-2], image.shape[-1], dreamer.params())
    with tqdm(total=steps, unit="step", desc="dreaming", disable=not progress, leave=False) as bar:
        dreamed = dreamer.dream(image, on_step=lambda: bar.update())
    return image_to_frame(dreamed)


def render_image(input_path: str, output_path: str, settings: dict, overwrite: bool = False) -> None:
    """`dreamvid image`: every check before any work; the output and its settings written atomically."""
    check_picture_output(output_path, overwrite)
    frame = load_picture(input_path)
    save_picture(dream_frame(frame, settings, progress=True), output_path)
    save_job("image", input_path, output_path, settings)


def dream_image(picture: str | np.ndarray, preset: str | None = None, **settings) -> np.ndarray:
    """Dream a picture (a path or an RGB uint8 array) and return the RGB uint8 result.

    Keyword arguments are settings (`layers="blocks.4"`, `iterations=20`, `device="cpu"`...).
    """
    frame = load_picture(picture) if isinstance(picture, (str, os.PathLike)) else np.asarray(picture)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise UserError("dream_image needs an H x W x 3 uint8 RGB array or a picture's path")
    sources = [(f"preset {preset}", load_preset(preset))] if preset else []
    return dream_frame(frame, merge(*sources, ("dream_image arguments", settings)))
