"""dreamvid: DeepDream stills, zoom tunnels and temporally stable dreamed clips, from Python.

    import dreamvid
    dreamer = dreamvid.Dreamer.from_settings(device="cpu")            # the model, built once
    picture = dreamvid.dream_image("cat.jpg", preset="eyes", dreamer=dreamer)   # H x W x 3 uint8 RGB
    for frame in dreamvid.zoom_frames("cat.jpg", frames=24, size=96):          # a generator of Frames
        ...
    dreamvid.render_clip("walk.mp4", "walk_dream.mp4", callback=lambda i, image, total: None)

Settings are keyword arguments with the names of the TOML files (`dreamvid image --help` lists them).
Bad input raises `UserError`; a render stopped by its callback raises `Cancelled`, and the same call
with `resume=True` completes it exactly. docs/API.md has the whole API.
"""

from typing import TYPE_CHECKING

from dreamvid.nets.device import calm_threads_environment

# Here, before anything imports torch: OpenMP reads its thread count and wait policy once, when it loads.
calm_threads_environment()

__version__ = "0.1.0"

# Each public name and the module it lives in: `import dreamvid` stays light (no torch) until one is used.
_PUBLIC = {
    "Dreamer": "dreamvid.api", "Frame": "dreamvid.api", "dream_image": "dreamvid.api",
    "zoom_frames": "dreamvid.api", "clip_frames": "dreamvid.api", "render_image": "dreamvid.api",
    "render_zoom": "dreamvid.api", "render_clip": "dreamvid.api", "render_job": "dreamvid.api",
    "render_jobs": "dreamvid.api", "render_atlas": "dreamvid.api", "resolve_settings": "dreamvid.api", "DEFAULT_PRESETS": "dreamvid.api",
    "UserError": "dreamvid.errors", "Cancelled": "dreamvid.errors", "Interrupted": "dreamvid.errors",
    "notices_to": "dreamvid.notices", "write_video": "dreamvid.media.video_file", "VideoFile": "dreamvid.media.video_file",
}

__all__ = [*_PUBLIC, "__version__"]

if TYPE_CHECKING:  # for readers and type checkers; at run time the names load on first use
    from dreamvid.api import (DEFAULT_PRESETS, Dreamer, Frame, clip_frames, dream_image, render_atlas,  # noqa: F401
                              render_clip, render_image, render_job, render_jobs, render_zoom, resolve_settings,
                              zoom_frames)
    from dreamvid.errors import Cancelled, Interrupted, UserError  # noqa: F401
    from dreamvid.media.video_file import VideoFile, write_video  # noqa: F401
    from dreamvid.notices import notices_to  # noqa: F401


def __getattr__(name: str):
    # PEP 562: the API needs torch; importing it lazily keeps `dreamvid --help` and the light commands fast
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'dreamvid' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
