"""The layer atlas: one small dream per main layer of the model, each a thumbnail cached on disk in
the work folder (dreamed once, then served), so that a layer is picked by what it grows."""

from __future__ import annotations

from pathlib import Path

from dreamvid.settings.files import packaged_folder
from dreamvid.studio.jobs import Dreamers, jpeg, library
from dreamvid.studio.queue import Job

THUMBNAIL_SIDE = 128  # small enough to dream each layer in well under a second on 2 CPU cores
# a short, strong dream: the thumbnail shows the kind of pattern, not a finished picture
THUMBNAIL_SETTINGS = {"size": THUMBNAIL_SIDE, "octaves": 2, "iterations": 8, "step": 0.04}
ATLAS_PICTURE = "astronaut.jpg"  # the README's atlas picture: faces, fabric and flat areas
ATLAS_VERSION = "1"  # part of the cache name: bump it when the thumbnails' settings change


def sample_folder():
    return packaged_folder("dreamvid.samples", "samples")


def sample_names() -> list[str]:
    return sorted(entry.name for entry in sample_folder().iterdir()
                  if entry.name.lower().endswith((".jpg", ".jpeg", ".png")))


def sample_path(name: str) -> Path:
    """A bundled sample by name: only names from the list, so no client text ever becomes a path."""
    if name not in sample_names():
        from dreamvid.errors import UserError

        raise UserError(f"no sample {name!r}; the samples are {', '.join(sample_names())}")
    return Path(str(sample_folder().joinpath(name)))


def atlas_layers(model: str) -> list[dict]:
    """The model's main layers (not sub-blocks), each with the role presets call it by, if any."""
    from dreamvid.nets.registry import get_spec

    spec = get_spec(model)
    roles = {layer: role for role, layer in spec.roles.items()}
    names = [name for name in spec.layers if name.rpartition(".")[0] not in spec.layers]
    return [{"layer": name, "role": roles.get(name, ""), "default": name == spec.default_layer} for name in names]


def thumbnail_path(atlas_folder: Path, model: str, layer: str) -> Path:
    return atlas_folder / f"v{ATLAS_VERSION}-{model}" / f"{layer}.jpg"


def dream_thumbnail(job: Job, model: str, layer: str, dreamers: Dreamers, path: Path) -> Path:
    """Dream the atlas picture at one layer into the cache (written whole, then renamed: never half a file)."""
    api = library()
    settings = {**THUMBNAIL_SETTINGS, "model": model, "layers": {layer: 1.0}}
    dreamer = dreamers.get(api.resolve_settings("image", None, **settings))
    with api.notices_to(None):
        frame = api.dream_image(str(sample_path(ATLAS_PICTURE)), dreamer=dreamer,
                                on_step=lambda progress: not job.should_stop(), **settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_bytes(jpeg(frame, THUMBNAIL_SIDE, 90))
    partial.replace(path)
    return path
