"""Dreaming one picture: `dreamvid image` and, under it, the still the API's `dream_image` returns."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
from tqdm import tqdm

from dreamvid.ascent.dream import StepProgress, total_steps
from dreamvid.ascent.engine import Engine
from dreamvid.audio.schedules import require_audio
from dreamvid.media.frames import frame_to_image, image_to_frame
from dreamvid.media.pictures import check_picture_output, load_picture, resize_frame, save_picture
from dreamvid.render.dreaming import frame_dreamer
from dreamvid.render.lock import output_lock
from dreamvid.render.masking import still_mask
from dreamvid.settings import Resolved
from dreamvid.render.report import StillReport, wrote
from dreamvid.settings.commands import sidecar_for


NO_SOUND = "only zoom and video renders have sound"


def dream_frame(frame: np.ndarray, settings: dict, engine: Engine | None = None,
                on_step: Callable[[StepProgress], None] | None = None, progress: bool = False,
                announced: bool = False) -> np.ndarray:
    """Dream an RGB uint8 frame with merged settings (over `engine`, or one built now); returns the dream.
    `announced`: a render's first line (report.py) once every check has passed and the model is built."""
    require_audio(settings, False, NO_SOUND)
    resolved = Resolved(settings)
    input_size = (frame.shape[1], frame.shape[0])
    frame = resize_frame(frame, resolved["size"])
    mask = still_mask(resolved, frame, input_size)  # checked before the model is built
    dreamer = frame_dreamer(resolved, engine)
    report = StillReport((frame.shape[1], frame.shape[0]), resolved, dreamer.device.type) if announced else None
    image = frame_to_image(frame, dreamer.device)
    steps = total_steps(image.shape[-2], image.shape[-1], dreamer.params())
    with tqdm(total=steps, unit="step", desc="dreaming", disable=not progress, leave=False) as bar:
        def stepped(step: StepProgress) -> None:
            bar.update()
            if report:
                report.step_done(step.octave, step.octave_done, step.step, step.total)
            if on_step:
                on_step(step)

        dreamed = dreamer.dream(image, on_step=stepped, mask=mask)
    return image_to_frame(dreamed)


def render_image(input_path: str, output_path: str, settings: dict, overwrite: bool = False,
                 engine: Engine | None = None, on_step: Callable[[StepProgress], None] | None = None,
                 progress: bool = True) -> str:
    """`dreamvid image`: every check before any work; the output and its settings written atomically."""
    started = time.monotonic()
    with output_lock(output_path):
        check_picture_output(output_path, overwrite)
        frame = load_picture(input_path)
        dreamed = dream_frame(frame, settings, engine, on_step, progress, announced=True)
        with sidecar_for("image", input_path, output_path, settings) as commit_settings:
            save_picture(dreamed, output_path)
            sidecar = commit_settings()
    wrote(output_path, 1, time.monotonic() - started, sidecar)
    return output_path
