"""dreamvid: DeepDream stills, zoom tunnels and temporally stable dreamed clips."""

__version__ = "0.1.0"

__all__ = ["dream_image", "__version__"]


def __getattr__(name: str):
    # `dreamvid.dream_image` needs torch; importing it lazily keeps `dreamvid --help` and the
    # other light commands from paying ~2-3 s of imports for it (PEP 562 module __getattr__).
    if name == "dream_image":
        from dreamvid.render.still import dream_image

        return dream_image
    raise AttributeError(f"module 'dreamvid' has no attribute {name!r}")
