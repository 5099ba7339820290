"""The studio's HTTP side (Starlette): the page, uploads, samples, jobs with their progress as
server-sent events, results, the layer atlas. Handlers stay thin: the work lives in the other modules."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from dreamvid.errors import UserError
from dreamvid.studio import atlas, jobs
from dreamvid.studio.state import Studio
from dreamvid.studio.submit import atlas_state, dream_request, options, submit_job
from dreamvid.studio.uploads import PURPOSES, TooBig, UploadSink
from dreamvid.studio.workfolder import WorkFolder

STATIC = Path(__file__).with_name("static")
EVENT_POLL_S = 0.05  # how often an event stream looks for news: well under a frame's time
HEARTBEAT_S = 1.0  # a comment this often, so a closed tab is noticed (and its jobs cancelled) within a second


def error_response(error: UserError, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": str(error)}, status_code=status)


async def page(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


async def get_options(request: Request) -> Response:
    studio: Studio = request.app.state.studio
    return JSONResponse(options(studio.max_upload_bytes))


async def get_settings(request: Request) -> Response:
    """The merged settings a mode and preset start from: the knobs' initial values."""
    mode, preset = request.query_params.get("mode", "image"), request.query_params.get("preset") or None
    try:
        return JSONResponse(await asyncio.to_thread(jobs.library().resolve_settings, mode, preset))
    except UserError as error:
        return error_response(error)


async def post_upload(request: Request) -> Response:
    """The file is the raw body (no multipart parser): streamed to disk, counted, refused past the limit."""
    studio: Studio = request.app.state.studio
    purpose = request.query_params.get("purpose", "input")
    if purpose not in PURPOSES:
        return error_response(UserError(f"purpose must be one of {', '.join(PURPOSES)}"))
    declared = int(request.headers.get("content-length") or 0)
    sink = UploadSink(studio.folder, studio.max_upload_bytes)
    try:
        if declared > studio.max_upload_bytes:
            sink.write(b"\0" * (studio.max_upload_bytes + 1))  # refuse before reading a byte of the body
        async for chunk in request.stream():
            sink.write(chunk)
        upload = await asyncio.to_thread(sink.finish, request.query_params.get("name", ""), purpose)
    except TooBig as error:
        return error_response(error, 413)
    except UserError as error:
        return error_response(error)
    except BaseException:
        sink.discard()
        raise
    studio.uploads[upload.id] = upload
    return JSONResponse(upload.to_json())


async def get_sample(request: Request) -> Response:
    try:
        return FileResponse(atlas.sample_path(request.path_params["name"]))
    except UserError as error:
        return error_response(error, 404)


async def post_job(request: Request) -> Response:
    studio: Studio = request.app.state.studio
    try:
        body = await request.json()
        # off the event loop: the first request imports the library (torch), and other pages must not wait
        request_, action = await asyncio.to_thread(dream_request, body, studio.folder, studio.uploads)
        job = submit_job(studio, request_, action, str(body.get("client", "")))
    except UserError as error:
        return error_response(error)
    except (ValueError, TypeError, AttributeError):
        return error_response(UserError("the request is not the JSON the page sends"))
    return JSONResponse({"id": job.id, "position": studio.queue.position(job), **job.result})


async def post_cancel(request: Request) -> Response:
    studio: Studio = request.app.state.studio
    try:
        studio.queue.cancel(studio.job(request.path_params["job"]))
    except UserError as error:
        return error_response(error, 404)
    return JSONResponse({"ok": True})


def sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


async def job_events(request: Request) -> Response:
    """Progress (with ETA and queue position) and the latest frame as server-sent events; when the page
    goes away (tab closed), its job is cancelled."""
    studio: Studio = request.app.state.studio
    try:
        job = studio.job(request.path_params["job"])
    except UserError as error:
        return error_response(error, 404)

    async def stream():
        sent, sent_frame, quiet = None, -1, 0.0
        try:
            while True:
                state = {**job.snapshot(), "position": studio.queue.position(job) if job.status == "queued" else 0}
                if state != sent:
                    yield sse("progress", state)
                    sent, quiet = state, 0.0
                if job.frame_index != sent_frame and job.frame is not None:
                    sent_frame = job.frame_index
                    yield sse("frame", {"index": sent_frame, "src": "data:image/jpeg;base64,"
                                        + base64.b64encode(job.frame).decode()})
                if job.finished:
                    yield sse("end", state)
                    return
                if quiet >= HEARTBEAT_S:
                    yield ": still here\n\n"
                    quiet = 0.0
                if await request.is_disconnected():
                    return
                await asyncio.sleep(EVENT_POLL_S)
                quiet += EVENT_POLL_S
        finally:
            if not job.finished:
                studio.queue.cancel(job)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def get_result(request: Request) -> Response:
    studio: Studio = request.app.state.studio
    try:
        job = studio.job(request.path_params["job"])
    except UserError as error:
        return error_response(error, 404)
    if job.status != "done" or "file" not in job.result:
        return error_response(UserError("no result (yet)"), 404)
    path = studio.folder.results / job.result["file"]
    attachment = "download" in request.query_params
    return FileResponse(path, filename=job.result["filename"] if attachment else None,
                        content_disposition_type="attachment" if attachment else "inline")


async def get_atlas(request: Request) -> Response:
    """The atlas's layers; a thumbnail not yet in the cache is queued as background work."""
    studio: Studio = request.app.state.studio
    try:
        return JSONResponse(atlas_state(studio, request.query_params.get("model", "efficientnet_lite0")))
    except UserError as error:
        return error_response(error)


async def get_thumbnail(request: Request) -> Response:
    studio: Studio = request.app.state.studio
    model, layer = request.path_params["model"], request.path_params["layer"]
    try:
        known = [entry["layer"] for entry in atlas.atlas_layers(model)]
    except UserError as error:
        return error_response(error, 404)
    path = atlas.thumbnail_path(studio.folder.atlas, model, layer)
    if layer not in known or not path.is_file():
        return error_response(UserError("no such thumbnail (yet)"), 404)
    return FileResponse(path)


def create_app(folder: WorkFolder, max_upload_bytes: int) -> Starlette:
    routes = [
        Route("/", page),
        Route("/api/options", get_options),
        Route("/api/settings", get_settings),
        Route("/api/uploads", post_upload, methods=["POST"]),
        Route("/api/samples/{name}", get_sample),
        Route("/api/jobs", post_job, methods=["POST"]),
        Route("/api/jobs/{job}/events", job_events),
        Route("/api/jobs/{job}/cancel", post_cancel, methods=["POST"]),
        Route("/api/jobs/{job}/result", get_result),
        Route("/api/atlas", get_atlas),
        Route("/api/atlas/{model}/{layer}.jpg", get_thumbnail),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    studio = Studio(folder, max_upload_bytes)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        # import the library (torch: seconds) while the user looks at the page, not after pressing Dream
        threading.Thread(target=jobs.import_library, name="dreamvid-import", daemon=True).start()
        yield
        await asyncio.to_thread(studio.queue.close)  # a running render stops at its next step

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.studio = studio
    return app
