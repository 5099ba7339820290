"""The studio's bounds where a request could slip past them (a fifth review's findings): a clip or a sound
whose header does not say (or lies about) its length, an input no dream can use, a JSON body of any size,
uploads at once and a declared size past the limit, WebSockets, a stopped render's checkpoint, a stream
that ends as its job does, a port out of range. Each is refused or stopped in one line, leaving nothing."""

from __future__ import annotations

from dataclasses import replace
import socket
import time

import numpy as np
import pytest

pytest.importorskip("starlette", reason="the studio extra is not installed: pip install '.[studio]'")
pytest.importorskip("httpx", reason="the test client needs httpx (the test extra)")

from conftest import run_ffmpeg  # noqa: E402
from test_studio import SAMPLE, dream, events, upload  # noqa: E402
from test_studio_guard import one_line, queued, studio, work_files  # noqa: E402, F401 (studio: a fixture)

TINY_CLIP = {"size": 32, "iterations": 1, "octaves": 1, "iterations_next": 1, "octaves_next": 1}


def clip_upload(client, path) -> dict:
    answer = upload(client, path.read_bytes(), path.name)
    assert answer.status_code == 200, answer.json()
    return answer.json()


def raw_stream(tmp_path, frames: int):
    """A raw H.264 stream: a clip whose header has no duration, so its length is unknown until decoded."""
    path = tmp_path / "clip.h264"
    run_ffmpeg("-f", "lavfi", "-i", "color=c=gray:size=32x24:rate=30", "-frames:v", str(frames), "-c:v", "libx264",
               "-preset", "ultrafast", "-f", "h264", str(path))
    return path


def test_a_clip_of_unknown_length_needs_frames(studio, tmp_path):
    clip = clip_upload(studio, raw_stream(tmp_path, 700))
    assert clip["frames"] == 0  # the header says nothing: 700 frames, more than a Dream's 600, would pass unseen
    source = {"source": "upload", "id": clip["id"]}
    answer = dream(studio, mode="video", settings=TINY_CLIP, source=source)
    assert answer.status_code == 400 and "set frames" in one_line(answer) and queued(studio) == 0
    answer = dream(studio, mode="video", settings={**TINY_CLIP, "frames": 2}, source=source)
    assert answer.status_code == 200
    assert events(studio, answer.json()["id"])[-1][1]["status"] == "done"


def test_a_clip_longer_than_its_header_says_is_stopped(studio, tmp_path):
    from dreamvid.media.synthetic import write_clip

    path = tmp_path / "clip.mp4"
    write_clip([np.full((24, 32, 3), value, np.uint8) for value in range(40)], str(path), fps=30, tone_hz=None)
    clip = clip_upload(studio, path)
    uploads = studio.app.state.studio.uploads
    uploads[clip["id"]] = replace(uploads[clip["id"]], frames=2)  # what a lying header would have said
    answer = dream(studio, mode="video", action="render", settings=TINY_CLIP,
                   source={"source": "upload", "id": clip["id"]})
    assert answer.status_code == 200
    ended = events(studio, answer.json()["id"])[-1][1]
    assert ended["status"] == "failed" and "more frames than its header says" in ended["message"]
    assert ended["done"] <= 2 + 30
    assert not [name for name in work_files(studio) if name.startswith("results/")]


def test_a_cancelled_render_leaves_no_checkpoint(studio, tmp_path):
    from dreamvid.media.synthetic import write_clip

    path = tmp_path / "clip.mp4"
    write_clip([np.full((24, 32, 3), value, np.uint8) for value in range(40)], str(path), fps=30, tone_hz=None)
    clip = clip_upload(studio, path)
    answer = dream(studio, mode="video", action="render", settings={**TINY_CLIP, "checkpoint_frames": 2},
                   source={"source": "upload", "id": clip["id"]})
    job = studio.app.state.studio.job(answer.json()["id"])
    job.pause = lambda job: job.done >= 6 and studio.app.state.studio.queue.cancel(job)  # past 3 checkpoints
    assert events(studio, job.id)[-1][1]["status"] == "cancelled"
    assert not [name for name in work_files(studio) if name.startswith("results/")]


def test_the_end_event_says_how_the_job_ended_even_when_it_ended_mid_look(studio):
    from dreamvid.studio.queue import Job

    job = Job(client="tab", kind="render", work=lambda job: {}, status="running")
    looked = job.snapshot

    def look_then_finish() -> dict:  # the job ends between the stream's look at it and its next step
        state = looked()
        job.update(status="done", result={"url": "/api/jobs/x/result"})
        return state

    job.snapshot = look_then_finish
    studio.app.state.studio.add_job(job)
    name, state = events(studio, job.id)[-1]
    assert name == "end" and state["status"] == "done" and state["result"]  # the page shows the result


@pytest.mark.parametrize("route", ["/api/jobs", "/api/atlas"])
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_json_body_past_the_bound_is_refused_unread(studio, route, declared):
    from dreamvid.studio.bounds import MAX_JSON_BYTES

    body = b'{"mode": "image", "settings": {"seed": 1}, "pad": "' + b"x" * MAX_JSON_BYTES + b'"}'
    content = body if declared else iter([body[i:i + 65536] for i in range(0, len(body), 65536)])
    answer = studio.post(route, content=content, headers={"content-type": "application/json"})
    assert answer.status_code == 413 and "MB of JSON" in one_line(answer) and queued(studio) == 0
    assert studio.post(route, json={"model": "efficientnet_lite0"}).status_code != 413


def test_a_websocket_is_refused_even_where_a_route_would_take_it(studio):
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocketDisconnect

    async def echo(websocket):
        await websocket.accept()
        await websocket.send_text("in")
        await websocket.close()

    studio.app.router.routes.append(WebSocketRoute("/ws", echo))  # a route added later: protected by default
    for path in ("/ws", "/static/studio.js", "/api/jobs"):
        with pytest.raises(WebSocketDisconnect):
            with studio.websocket_connect(path, headers={"origin": "http://evil.example"}) as socket:
                socket.receive_text()


def test_a_sound_is_timed_by_decoding_it_not_by_its_header(studio, tmp_path):
    path = tmp_path / "live.mka"  # a live recording's header has no duration: the studio took it for 5 s
    run_ffmpeg("-f", "lavfi", "-i", "sine=f=440:d=30", "-f", "matroska", "-live", "1", str(path))
    answer = upload(studio, path.read_bytes(), path.name, purpose="sound")
    assert answer.status_code == 200 and answer.json()["seconds"] == pytest.approx(30, abs=0.1)
    sound = {"audio": {"source": "upload", "id": answer.json()["id"]}}
    body = {"client": "tab", "mode": "zoom", "action": "dream", "settings": {"size": 32, "fps": 30},
            "input": {"source": "noise"}, "files": sound}
    answer = studio.post("/api/jobs", json=body)  # 30 s at 30 fps: 900 frames, past a Dream's 600
    assert answer.status_code == 400 and "a Dream" in one_line(answer) and queued(studio) == 0


@pytest.mark.parametrize("shape, words", [((1, 1), "at least 16"), ((1, 56), "at least 16"),
                                          ((16, 2000), "ratio")])
def test_an_input_no_dream_can_use_is_refused_before_it_is_queued(studio, shape, words):
    import io

    from PIL import Image

    data = io.BytesIO()
    Image.fromarray(np.zeros((*shape, 3), np.uint8)).save(data, "png")
    picture = upload(studio, data.getvalue(), "tiny.png").json()
    answer = dream(studio, settings={"iterations": 1, "octaves": 1}, source={"source": "upload", "id": picture["id"]})
    assert answer.status_code == 400 and words in one_line(answer) and queued(studio) == 0


def partial_upload(server, declared: int, sent: bytes) -> socket.socket:
    """An upload over a socket that declares `declared` bytes and sends `sent`, then waits."""
    cookie = f"dreamvid-studio-{server.listener.getsockname()[1]}={server.token}"
    raw = socket.create_connection(("127.0.0.1", server.listener.getsockname()[1]))
    raw.sendall((f"POST /api/uploads?name=x.jpg HTTP/1.1\r\nHost: {server.origin[7:]}\r\nOrigin: {server.origin}\r\n"
                 f"Cookie: {cookie}\r\nContent-Type: application/octet-stream\r\nContent-Length: {declared}\r\n\r\n"
                 ).encode() + sent)
    return raw


def test_uploads_at_once_are_capped_and_a_declared_size_past_the_limit_costs_nothing(tmp_path, monkeypatch):
    from dreamvid.studio.bounds import MAX_UPLOADS_AT_ONCE
    from dreamvid.studio.server import ServerThread
    from dreamvid.studio.uploads import UploadSink

    written: list[int] = []
    original = UploadSink.write
    monkeypatch.setattr(UploadSink, "write", lambda sink, chunk: written.append(len(chunk)) or original(sink, chunk))
    server = ServerThread(tmp_path / "work", max_upload_mb=1)
    with server, server.session(timeout=60) as client:
        with partial_upload(server, 10**12, b"") as raw:  # declared past the limit: refused, nothing allocated
            raw.settimeout(5)
            assert b" 413 " in raw.recv(1000).split(b"\r\n")[0]
        assert max(written, default=0) <= 1 << 16  # the old refusal wrote one chunk of limit + 1 zero bytes
        held = [partial_upload(server, 100_000, b"x" * 1000) for _ in range(MAX_UPLOADS_AT_ONCE)]
        deadline = time.monotonic() + 5
        while server.app.state.studio.receiving < MAX_UPLOADS_AT_ONCE and time.monotonic() < deadline:
            time.sleep(0.02)
        answer = upload(client, b"x" * 1000)
        assert answer.status_code == 429 and "at once" in one_line(answer)
        for raw in held:
            raw.close()
        deadline = time.monotonic() + 5
        while server.app.state.studio.receiving and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.app.state.studio.receiving == 0 and upload(client, SAMPLE.read_bytes()).status_code == 200


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_a_port_out_of_range_is_one_line(port, capsys, tmp_path):
    from dreamvid.cli import run

    assert run(["studio", "--port", port, "--work-folder", str(tmp_path)]) == 2  # was an OverflowError from bind
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--port must be from 0" in error


def test_a_pruned_result_takes_its_settings_sidecar_with_it(tmp_path):
    from test_studio import signed_in, studio_app

    with signed_in(studio_app(tmp_path / "work", max_storage_bytes=1)) as client:  # each result prunes the last
        for _ in range(3):
            answer = dream(client, action="render", settings={"size": 32, "iterations": 1, "octaves": 1})
            assert events(client, answer.json()["id"])[-1][1]["status"] == "done"
        results = [name for name in work_files(client) if name.startswith("results/")]
        assert len(results) == 2 and results[0] + ".dreamvid.toml" == results[1]  # the last, and its sidecar


def test_a_previous_run_s_files_count_against_the_quota(tmp_path):
    import os

    from dreamvid.studio.state import Studio
    from dreamvid.studio.workfolder import WorkFolder

    folder = WorkFolder(tmp_path / "work")
    for index in range(6):  # 6 x 100 KB from earlier runs, oldest first; they may fill half of a 500 KB quota
        path = (folder.uploads if index % 2 else folder.results) / f"{index:016x}.png"
        path.write_bytes(b"x" * 100_000)
        path.with_name(path.name + ".dreamvid.toml").write_text("seed = 0\n")
        os.utime(path, (1000 + index, 1000 + index))
    (folder.results / "0000000000000009.mp4.dreamvid-state").mkdir()  # a render killed mid-way
    Studio(folder, 1_000_000, max_storage_bytes=500_000)
    left = sorted(path.name for path in (tmp_path / "work").rglob("*") if path.is_file() or path.is_dir())
    assert [name for name in left if name.endswith(".png")] == ["0000000000000004.png", "0000000000000005.png"]
    assert [name for name in left if name.endswith(".toml")] == ["0000000000000004.png.dreamvid.toml",
                                                                 "0000000000000005.png.dreamvid.toml"]
    assert not [name for name in left if "dreamvid-state" in name]
