"""dreamvid: DeepDream stills, zoom tunnels and temporally stable dreamed clips."""

__version__ = "0.1.0"

from dreamvid.render.still import dream_image  # noqa: E402

__all__ = ["dream_image", "__version__"]
