"""What the page sends, checked and turned into a job: the input (an upload, a sample or noise, by id
or by name from a list, never by path), the mode, the preset and the settings; and the atlas's state."""

from __future__ import annotations

from pathlib import Path
from dreamvid.errors import UserError
from dreamvid.settings import BY_NAME
from dreamvid.settings.files import description, preset_names, preset_text
from dreamvid.studio import atlas, jobs
from dreamvid.studio.queue import Job
from dreamvid.studio.reproduce import cli_command, output_name, settings_toml
from dreamvid.studio.state import Studio
from dreamvid.studio.uploads import Upload
from dreamvid.studio.workfolder import WorkFolder

MODES = ("image", "zoom", "video")
ACTIONS = ("dream", "render")  # dream: a live look (a still, or frames not written); render: a file
INPUT_KINDS = {"image": ("picture",), "zoom": ("picture", "noise"), "video": ("clip",)}
# settings that name files or machines: the page never sets them (paths come only from uploads)
REFUSED_SETTINGS = ("weights", "guide", "colour_reference", "audio", "ray", "workers", "max_shot_seconds", "codec")
ATLAS_MODEL = "efficientnet_lite0"  # the embedded model: the one every machine has the weights of
KNOBS = ("iterations", "octaves", "step", "size", "frames", "fps", "zoom", "rotate", "cadence", "temporal_weight",
         "seed", "scale")


def options(max_upload_bytes: int) -> dict:
    """Everything the page builds its controls from."""
    return {"presets": [{"name": name, "description": description(preset_text(name))} for name in preset_names()],
            "samples": atlas.sample_names(), "model": ATLAS_MODEL, "layers": atlas.atlas_layers(ATLAS_MODEL),
            "max_upload_mb": max_upload_bytes / 1e6,
            "help": {name: BY_NAME[name].help for name in KNOBS}}


def upload_of(uploads: dict[str, Upload], upload_id: object, kinds: tuple[str, ...]) -> Upload:
    upload = uploads.get(str(upload_id))
    if upload is None:
        raise UserError("unknown upload: upload the file again")
    if upload.kind not in kinds:
        raise UserError(f"this needs a {' or '.join(kinds)}, and {upload.name} is a {upload.kind}")
    return upload


def input_of(body: dict, mode: str, folder: WorkFolder, uploads: dict[str, Upload]) -> tuple[Path | None, str]:
    """(stored path or None for noise, the name shown in the CLI command)."""
    source, kinds = str(body.get("source", "")), INPUT_KINDS[mode]
    if source == "noise" and "noise" in kinds:
        return None, "noise"
    if source == "sample" and "picture" in kinds:
        name = str(body.get("name", ""))
        return atlas.sample_path(name), f"samples/{name}"
    if source == "upload":
        upload = upload_of(uploads, body.get("id"), tuple(kind for kind in kinds if kind != "noise"))
        return folder.uploads / upload.filename, upload.name
    wanted = {"picture": "a picture (an upload or a sample)", "noise": "noise", "clip": "an uploaded clip"}
    raise UserError(f"{mode} starts from {' or '.join(wanted[kind] for kind in kinds)}")


def checked_settings(values: dict) -> dict:
    for name in values:
        if name not in BY_NAME:
            raise UserError(f"unknown setting {name!r}")
        if name in REFUSED_SETTINGS:
            raise UserError(f"the studio does not set {name!r}; use the command line for it")
    return dict(values)


def dream_request(body: dict, folder: WorkFolder, uploads: dict[str, Upload]) -> tuple[jobs.DreamRequest, str]:
    """The page's JSON as a request, every value checked now: a bad one is a message, not a failed job."""
    mode, action = str(body.get("mode")), str(body.get("action"))
    if mode not in MODES or action not in ACTIONS:
        raise UserError(f"mode must be one of {', '.join(MODES)} and action one of {', '.join(ACTIONS)}")
    preset = body.get("preset") or None
    if preset is not None and preset not in preset_names():
        raise UserError(f"unknown preset {preset!r}")
    settings = checked_settings(body.get("settings") or {})
    input_path, input_name = input_of(body.get("input") or {}, mode, folder, uploads)
    if mode == "zoom":
        settings["noise"] = input_path is None
    paths, sound_name = {}, ""
    if body.get("sound"):
        if mode == "image":
            raise UserError("a still has no sound: music schedules are for zoom and video")
        sound = upload_of(uploads, body["sound"], ("sound",))
        paths, sound_name = {"audio": folder.uploads / sound.filename}, sound.name
    request = jobs.DreamRequest(mode, preset, settings, input_path, input_name, sound_name, paths)
    request.resolved()
    return request, action


def result_file(job: Job, request: jobs.DreamRequest, path: Path) -> dict:
    return {"file": path.name, "filename": output_name(request), "type": "image" if request.mode == "image" else "video",
            "url": f"/api/jobs/{job.id}/result"}


def submit_job(studio: Studio, request: jobs.DreamRequest, action: str, client: str) -> Job:
    """Queue the request; a page's new Dream replaces its previous one (nobody looks at the old one)."""
    kind = "preview" if action == "dream" else "render"
    job = Job(client=client[:64] or "anonymous", kind=kind, work=lambda job: {})
    reproduce = {"command": cli_command(request), "toml": settings_toml(request)}
    output = studio.folder.results / f"{job.id}{jobs.RESULT_EXTENSIONS[request.mode]}"
    if request.mode == "image":
        job.work = lambda job: {**reproduce, **result_file(job, request, jobs.dream_still(job, request, studio.dreamers,
                                                                                          output))}
    elif kind == "preview":
        job.work = lambda job: jobs.preview_frames(job, request, studio.dreamers) or reproduce
    else:
        job.work = lambda job: {**reproduce, **result_file(job, request, jobs.render_video(job, request,
                                                                                           studio.dreamers, output))}
    job.result = reproduce
    if kind == "preview":
        studio.queue.cancel_client(job.client, "preview")
    studio.jobs[job.id] = job
    return studio.queue.submit(job)


def atlas_state(studio: Studio, model: str) -> dict:
    """Each main layer with its thumbnail's address once dreamed; missing ones are queued as background work."""
    layers = []
    for entry in atlas.atlas_layers(model):
        path = atlas.thumbnail_path(studio.folder.atlas, model, entry["layer"])
        job = studio.thumbnails.get(str(path))
        if path.is_file():
            entry["url"] = f"/api/atlas/{model}/{entry['layer']}.jpg"
        elif job is not None and job.status == "failed":
            entry["error"] = job.message
        elif job is None or job.finished:
            studio.thumbnails[str(path)] = studio.queue.submit(Job(
                client="atlas", kind="thumbnail", background=True,
                work=lambda job, layer=entry["layer"], path=path: {"file": str(atlas.dream_thumbnail(
                    job, model, layer, studio.thumbnail_dreamers, path))}))
        layers.append(entry)
    return {"model": model, "layers": layers}
