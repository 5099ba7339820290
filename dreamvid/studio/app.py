"""The studio's HTTP side (Starlette): the page, uploads, samples, jobs with their progress as
server-sent events, results, the layer atlas. Every request passes the guard first (`guard`: Host, origin,
token, body type); handlers stay thin: the work lives in the other modules."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from dreamvid.errors import UserError, WriteFailed
from dreamvid.studio import atlas, jobs
from dreamvid.studio.bounds import DEFAULT_MAX_STORAGE_MB, MAX_JSON_BYTES, BodyTooLarge, Refused, parse_json
from dreamvid.studio.guard import Guard
from dreamvid.studio.queue import FINISHED
from dreamvid.studio.state import Studio
from dreamvid.studio.submit import ATLAS_MODEL, MODES, atlas_state, dream_request, options, submit_job
from dreamvid.studio.uploads import PURPOSES, TooBig, UploadSink
from dreamvid.studio.workfolder import WorkFolder

STATIC = Path(__file__).with_name("static")
UPLOAD_IDLE_S = 30.0  # an upload that sends nothing this long is dropped, and its partial file deleted
EVENT_POLL_S = 0.05  # how often an event stream looks for news: well under a frame's time
HEARTBEAT_S = 1.0  # a comment this often, so a closed tab is noticed (and its jobs cancelled) within a second


class Stalled(UserError):
    """An upload that stopped sending (HTTP 408)."""


def error_response(error: UserError, status: int = 400) -> JSONResponse:
    status = 429 if isinstance(error, Refused) else 413 if isinstance(error, BodyTooLarge) else status
    return JSONResponse({"error": str(error)}, status_code=status)


def declared_past(request: Request, limit: int) -> bool:
    """The body's declared length (Content-Length) is past `limit`, or is no length: refused before it is read."""
    declared = request.headers.get("content-length") or "0"
    return not declared.isdigit() or int(declared) > limit


async def json_body(request: Request) -> dict:
    """The page's JSON object, read chunk by chunk up to MAX_JSON_BYTES (declared or not: a chunked body too)."""
    too_large = BodyTooLarge(f"the request is larger than the studio takes ({MAX_JSON_BYTES / 1e6:g} MB of JSON)")
    if declared_past(request, MAX_JSON_BYTES):
        raise too_large  # refused unread
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise too_large
    return parse_json(bytes(body))


async def page(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


async def get_options(request: Request) -> Response:
    studio: Studio = request.app.state.studio
    return JSONResponse(await asyncio.to_thread(options, studio.max_upload_bytes))


async def get_settings(request: Request) -> Response:
    """The merged settings a mode and preset start from: the knobs' initial values."""
    mode, preset = request.query_params.get("mode", "image"), request.query_params.get("preset") or None
    try:
        if mode not in MODES:
            raise UserError(f"mode must be one of {', '.join(MODES)}")
        return JSONResponse(await asyncio.to_thread(jobs.library().resolve_settings, mode, preset))
    except UserError as error:
        return error_response(error)


def tab_of(value: object) -> str:
    """A tab's id as the page sends it: a short token (the queue's fairness and quotas are per tab)."""
    text = str(value or "")
    return text if 0 < len(text) <= 64 and text.replace("-", "").isalnum() else "anonymous"


async def receive_body(request: Request, sink: UploadSink) -> None:
    """The body into `sink`, chunk by chunk; a client silent for UPLOAD_IDLE_S is dropped."""
    chunks = request.stream().__aiter__()
    while True:
        try:
            chunk = await asyncio.wait_for(chunks.__anext__(), UPLOAD_IDLE_S)
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError:
            raise Stalled(f"the upload stalled (nothing for {UPLOAD_IDLE_S:g} s): try again") from None
        sink.write(chunk)


async def post_upload(request: Request) -> Response:
    """The file is the raw body (no multipart parser): streamed to disk, counted, refused past the limit;
    whatever goes wrong (too big, stalled, the client gone), the partial file is deleted. At most
    MAX_UPLOADS_AT_ONCE at a time: the disk they fill is counted only once they are whole."""
    studio: Studio = request.app.state.studio
    purpose, tab = request.query_params.get("purpose", "input"), tab_of(request.query_params.get("tab"))
    if purpose not in PURPOSES:
        return error_response(UserError(f"purpose must be one of {', '.join(PURPOSES)}"))
    try:
        studio.open_upload()
    except Refused as error:
        return error_response(error)
    try:
        return await receive_upload(request, studio, purpose, tab)
    finally:
        studio.close_upload()


async def receive_upload(request: Request, studio: Studio, purpose: str, tab: str) -> Response:
    try:
        sink = UploadSink(studio.folder, studio.max_upload_bytes)
    except WriteFailed as error:
        return error_response(error, 507)
    try:
        if declared_past(request, studio.max_upload_bytes):
            sink.refuse()  # before reading a byte of the body
        await receive_body(request, sink)
        upload = await asyncio.to_thread(sink.finish, request.query_params.get("name", ""), purpose)
    except TooBig as error:
        return error_response(error, 413)
    except UserError as error:
        sink.discard()
        return error_response(error, 408 if isinstance(error, Stalled) else 507 if isinstance(error, WriteFailed) else 400)
    except ClientDisconnect:
        sink.discard()
        return Response(status_code=400)  # nobody reads it: the page has gone
    except BaseException:
        sink.discard()
        raise
    studio.keep_upload(upload, tab)
    return JSONResponse(upload.to_json())


async def get_sample(request: Request) -> Response:
    try:
        return FileResponse(atlas.sample_path(request.path_params["name"]))
    except UserError as error:
        return error_response(error, 404)


async def post_job(request: Request) -> Response:
    studio: Studio = request.app.state.studio
    try:
        body = await json_body(request)
        # off the event loop: the first request imports the library (torch), and other pages must not wait
        request_, action = await asyncio.to_thread(dream_request, body, studio)
        job = submit_job(studio, request_, action, tab_of(body.get("client")))
    except UserError as error:
        return error_response(error)
    except (ValueError, TypeError, AttributeError, OverflowError, KeyError):
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


class HeldStream(StreamingResponse):
    """A streaming response that runs `on_end` once when it ends, however it ends: finished, the client gone,
    cancelled, or before its body ever started (a generator's own `finally` would not run then)."""

    def __init__(self, content, on_end, **kwargs):
        super().__init__(content, **kwargs)
        self.on_end = on_end

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.on_end()


async def job_events(request: Request) -> Response:
    """Progress (with ETA and queue position) and the latest frame as server-sent events; when the page
    goes away (tab closed), its job is cancelled."""
    studio: Studio = request.app.state.studio
    try:
        job = studio.job(request.path_params["job"])
        studio.open_stream()
    except UserError as error:
        return error_response(error, 404)

    async def stream():
        sent, sent_frame, quiet = None, -1, 0.0
        while True:
            state = {**job.snapshot(), "position": studio.queue.position(job) if job.status == "queued" else 0}
            if state != sent:
                yield sse("progress", state)
                sent, quiet = state, 0.0
            if job.frame_index != sent_frame and job.frame is not None:
                sent_frame = job.frame_index
                yield sse("frame", {"index": sent_frame, "src": "data:image/jpeg;base64,"
                                    + base64.b64encode(job.frame).decode()})
            if state["status"] in FINISHED:  # the state sent, not the job's now: it may have ended since
                yield sse("end", state)
                return
            if quiet >= HEARTBEAT_S:
                yield ": still here\n\n"
                quiet = 0.0
            if await request.is_disconnected():
                return
            await asyncio.sleep(EVENT_POLL_S)
            quiet += EVENT_POLL_S

    def ended() -> None:
        studio.close_stream()
        if not job.finished:
            studio.queue.cancel(job)

    return HeldStream(stream(), ended, media_type="text/event-stream",
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
    if not path.is_file():
        return error_response(UserError("the result was removed to make room for newer ones"), 404)
    attachment = "download" in request.query_params
    return FileResponse(path, filename=job.result["filename"] if attachment else None,
                        content_disposition_type="attachment" if attachment else "inline")


async def get_atlas(request: Request) -> Response:
    """The atlas's layers and the thumbnails dreamed so far (a GET starts nothing)."""
    studio: Studio = request.app.state.studio
    try:
        return JSONResponse(atlas_state(studio, request.query_params.get("model", ATLAS_MODEL), dream=False))
    except UserError as error:
        return error_response(error)


async def post_atlas(request: Request) -> Response:
    """The same, and the thumbnails not yet in the cache queued as background work."""
    studio: Studio = request.app.state.studio
    try:
        model = (await json_body(request)).get("model", ATLAS_MODEL)
        return JSONResponse(await asyncio.to_thread(atlas_state, studio, str(model), True))
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


def create_app(folder: WorkFolder, max_upload_bytes: int, *, port: int, token: str, host: str = "127.0.0.1",
               max_storage_bytes: int = int(DEFAULT_MAX_STORAGE_MB * 1e6)) -> Starlette:
    """The studio's app, answering only at `host` (and localhost) on `port`, to a session that showed `token`."""
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
        Route("/api/atlas", post_atlas, methods=["POST"]),
        Route("/api/atlas/{model}/{layer}.jpg", get_thumbnail),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    studio = Studio(folder, max_upload_bytes, max_storage_bytes)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        # import the library (torch: seconds) while the user looks at the page, not after pressing Dream
        threading.Thread(target=jobs.import_library, name="dreamvid-import", daemon=True).start()
        yield
        await asyncio.to_thread(studio.queue.close)  # a running render stops at its next step

    guard = Middleware(Guard, host=host, port=port, token=token)
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[guard])
    app.state.studio = studio
    return app
