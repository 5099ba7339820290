"""What the page sends, checked and turned into a job: the input and every other file a render reads (an
upload or a sample, by id or by name from a list, never by path), the mode, the preset, the model and the
settings, each within the studio's bounds; and the atlas's state."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PIL import Image

from dreamvid.errors import UserError
from dreamvid.settings import BY_NAME
from dreamvid.settings.files import FILE_SETTINGS, MASK_FROM_MOTION, description, load_preset, preset_names, \
    preset_text
from dreamvid.studio import atlas, jobs
from dreamvid.studio.bounds import most_clip_frames
from dreamvid.studio.budget import Source, check_request
from dreamvid.studio.models import check_model, model_menu
from dreamvid.studio.queue import Job
from dreamvid.studio.reproduce import cli_command, output_name, settings_toml
from dreamvid.studio.state import Studio
from dreamvid.studio.uploads import Upload
from dreamvid.studio.workfolder import regular_file

MODES = ("image", "zoom", "video")
ACTIONS = ("dream", "render")  # dream: a live look (a still, or frames not written); render: a file
INPUT_KINDS = {"image": ("picture",), "zoom": ("picture", "noise"), "video": ("clip",)}
# the files a render may read besides its input, and what each must be (never a path: an upload or a sample)
FILE_KINDS = {"mask": ("picture", "clip"), "guide": ("picture",), "colour_reference": ("picture",),
              "audio": ("sound",)}
# settings that name machines or the encoder: the page never sets them (weights: the model menu's own)
REFUSED_SETTINGS = ("weights", "ray", "workers", "max_shot_seconds", "codec")
ATLAS_MODEL = "efficientnet_lite0"  # the embedded model: the one every machine has the weights of
KNOBS = ("iterations", "octaves", "step", "size", "frames", "fps", "zoom", "rotate", "cadence", "temporal_weight",
         "seed", "scale")


def preset_modes(name: str) -> list[str]:
    """The modes a preset suits: a preset with zoom or clip settings suits that mode only."""
    groups = {BY_NAME[key].group for key in load_preset(name)} & {"zoom", "video"}
    return sorted(groups) if groups else list(MODES)


def options(max_upload_bytes: int) -> dict:
    """Everything the page builds its controls from."""
    return {"presets": [{"name": name, "description": description(preset_text(name)), "modes": preset_modes(name)}
                        for name in preset_names()],
            "samples": atlas.sample_names(), "model": ATLAS_MODEL, "models": model_menu(),
            "layers": atlas.atlas_layers(ATLAS_MODEL), "max_upload_mb": max_upload_bytes / 1e6,
            "help": {name: BY_NAME[name].help for name in KNOBS}}


def upload_of(uploads: dict[str, Upload], upload_id: object, kinds: tuple[str, ...]) -> Upload:
    upload = uploads.get(str(upload_id))
    if upload is None:
        raise UserError("unknown upload: upload the file again")
    if upload.kind not in kinds:
        raise UserError(f"this needs a {' or '.join(kinds)}, and {upload.name} is a {upload.kind}")
    return upload


def file_of(studio: Studio, reference: object, kinds: tuple[str, ...]) -> tuple[Path, str, Source]:
    """(the path a job reads, the name shown in the command, its size) of an upload or a sample."""
    reference = reference if isinstance(reference, dict) else {}
    if reference.get("source") == "sample" and "picture" in kinds:
        name = str(reference.get("name", ""))
        path = regular_file(atlas.sample_path(name))
        with Image.open(path) as picture:
            return path, f"samples/{name}", Source(*picture.size)
    if reference.get("source") == "upload":
        upload = upload_of(studio.uploads, reference.get("id"), kinds)
        return (studio.folder.upload_path(upload.filename), upload.name,
                Source(upload.width, upload.height, upload.frames, upload.seconds))
    raise UserError(f"this needs {' or '.join(kinds)}: an upload or a sample, by its id or name (never a path)")


def input_of(studio: Studio, body: dict, mode: str) -> tuple[Path | None, str, Source | None]:
    """(stored path or None for noise, the name shown in the CLI command, its size)."""
    source, kinds = body.get("source"), INPUT_KINDS[mode]
    if source == "noise" and "noise" in kinds:
        return None, "noise", None
    if source in ("sample", "upload") and not (source == "sample" and mode == "video"):
        return file_of(studio, body, tuple(kind for kind in kinds if kind != "noise"))
    wanted = {"picture": "a picture (an upload or a sample)", "noise": "noise", "clip": "an uploaded clip"}
    raise UserError(f"{mode} starts from {' or '.join(wanted[kind] for kind in kinds)}")


def checked_settings(values: object) -> dict:
    if not isinstance(values, dict):
        raise UserError("settings must be a JSON object")
    for name, value in values.items():
        if name not in BY_NAME:
            raise UserError(f"unknown setting {name!r}")
        if name in REFUSED_SETTINGS:
            raise UserError(f"the studio does not set {name!r}; use the command line for it")
        if name in FILE_SETTINGS and value not in ("", *(MASK_FROM_MOTION if name == "mask" else ())):
            raise UserError(f"{name} takes an upload, not a path: upload the file and send it under files.{name}")
    return dict(values)


def other_files(studio: Studio, body: dict, mode: str) -> tuple[dict, dict, float]:
    """(setting -> stored path, setting -> shown name, the sound's seconds) of the files besides the input."""
    files = body.get("files") or {}
    if not isinstance(files, dict) or set(files) - set(FILE_KINDS):
        raise UserError(f"files may be {', '.join(FILE_KINDS)}, each an upload or a sample")
    if files.get("audio") and mode == "image":
        raise UserError("a still has no sound: music schedules are for zoom and video")
    paths, names, seconds = {}, {}, 0.0
    for name, reference in files.items():
        if reference:
            paths[name], names[name], found = file_of(studio, reference, FILE_KINDS[name])
            seconds = found.seconds if name == "audio" else seconds
    return paths, names, seconds


def dream_request(body: dict, studio: Studio) -> tuple[jobs.DreamRequest, str]:
    """The page's JSON as a request, every value checked now: a bad one is a message, not a failed job."""
    mode, action = body.get("mode"), body.get("action")
    if mode not in MODES or action not in ACTIONS:
        raise UserError(f"mode must be one of {', '.join(MODES)} and action one of {', '.join(ACTIONS)}")
    preset = body.get("preset") or None
    if preset is not None and preset not in preset_names():
        raise UserError(f"unknown preset {preset!r}")
    settings = checked_settings(body.get("settings") or {})
    input_path, input_name, source = input_of(studio, body.get("input") or {}, mode)
    if mode == "zoom":
        settings["noise"] = input_path is None
    paths, names, sound_seconds = other_files(studio, body, mode)
    request = jobs.DreamRequest(mode, preset, settings, input_path, input_name, paths, names)
    resolved = request.resolved()
    check_model(resolved["model"])
    frames = check_request(mode, resolved, source, sound_seconds, action == "dream")
    if mode == "video":
        request = replace(request, most_frames=most_clip_frames(frames))
    return request, action


def result_file(job: Job, request: jobs.DreamRequest, path: Path) -> dict:
    return {"file": path.name, "filename": output_name(request), "type": "image" if request.mode == "image" else "video",
            "url": f"/api/jobs/{job.id}/result"}


def submit_job(studio: Studio, request: jobs.DreamRequest, action: str, client: str) -> Job:
    """Queue the request; a page's new Dream replaces its previous one (nobody looks at the old one)."""
    kind = "preview" if action == "dream" else "render"
    job = Job(client=client, kind=kind, work=lambda job: {},
              files=tuple(path for path in (request.input_path, *request.paths.values()) if path))
    reproduce = {"command": cli_command(request), "toml": settings_toml(request)}
    output = studio.folder.results / f"{job.id}{jobs.RESULT_EXTENSIONS[request.mode]}"

    def written(path: Path) -> dict:
        studio.keep_result(job, path)
        return {**reproduce, **result_file(job, request, path)}

    if request.mode == "image":
        job.work = lambda job: written(jobs.dream_still(job, request, studio.dreamers, output))
    elif kind == "preview":
        job.work = lambda job: jobs.preview_frames(job, request, studio.dreamers) or reproduce
    else:
        job.work = lambda job: written(jobs.render_video(job, request, studio.dreamers, output))
    job.result = reproduce
    if kind == "preview":
        studio.queue.cancel_client(job.client, "preview")
    studio.queue.submit(job)
    studio.add_job(job)
    return job


def atlas_state(studio: Studio, model: str, dream: bool) -> dict:
    """Each main layer with its thumbnail's address once dreamed; with `dream` (a POST), the missing ones are
    queued as background work (a GET starts nothing)."""
    layers = []
    if dream:
        check_model(model)
    for entry in atlas.atlas_layers(model):
        path = atlas.thumbnail_path(studio.folder.atlas, model, entry["layer"])
        job = studio.thumbnails.get(str(path))
        if path.is_file():
            entry["url"] = f"/api/atlas/{model}/{entry['layer']}.jpg"
        elif job is not None and job.status == "failed":
            entry["error"] = job.message
        elif dream and (job is None or job.finished):
            studio.thumbnails[str(path)] = studio.queue.submit(Job(
                client="atlas", kind="thumbnail", background=True,
                work=lambda job, layer=entry["layer"], path=path: {"file": str(atlas.dream_thumbnail(
                    job, model, layer, studio.thumbnail_dreamers, path))}))
        layers.append(entry)
    return {"model": model, "layers": layers}
