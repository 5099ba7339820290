"""The studio's HTTP side through Starlette's test client, its queue, its safety, and the CLI hook.
Dreams are tiny (64 px, one octave, one or two steps); skipped, saying so, without the studio extra."""

from __future__ import annotations

import io
import os
import json
from pathlib import Path
import shlex
import threading
import time
import warnings

import numpy as np
from PIL import Image
import pytest

pytest.importorskip("starlette", reason="the studio extra is not installed: pip install '.[studio]'")
pytest.importorskip("httpx", reason="the test client needs httpx (the test extra)")

with warnings.catch_warnings():  # Starlette 1.x asks for httpx2 in its test client; httpx works the same here
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient  # noqa: E402

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import dreamvid  # noqa: E402
from dreamvid.cli import build_parser, given_settings, run  # noqa: E402
from dreamvid.studio.app import create_app  # noqa: E402
from dreamvid.studio.queue import Job, RenderQueue  # noqa: E402
from dreamvid.studio.workfolder import WorkFolder  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "chelsea.jpg"


def cli_resolve(args) -> dict:
    """The settings the CLI renders with for parsed arguments (its own merge, through the API)."""
    return dreamvid.resolve_settings(args.command, args.preset, args.config, **given_settings(args))
TINY = {"size": 64, "octaves": 1, "iterations": 1}
PORT, TOKEN = 8765, "the-printed-token"
ORIGIN = f"http://127.0.0.1:{PORT}"


def studio_app(folder: Path, **options):
    return create_app(WorkFolder(folder), 1_000_000, port=PORT, token=TOKEN, **options)


def signed_in(app) -> TestClient:
    """A client as the studio's own page is: at its address, with the session cookie from the printed URL."""
    client = TestClient(app, base_url=ORIGIN, headers={"origin": ORIGIN})
    assert client.get("/", params={"token": TOKEN}).status_code == 200
    return client


@pytest.fixture
def studio(tmp_path):
    with signed_in(studio_app(tmp_path / "work")) as client:
        yield client


def uploads_folder(client: TestClient) -> Path:
    return client.app.state.studio.folder.uploads


def upload(client: TestClient, data: bytes, name: str = "x.jpg", purpose: str = "input", tab: str = "tab"):
    return client.post("/api/uploads", params={"name": name, "purpose": purpose, "tab": tab}, content=data,
                       headers={"content-type": "application/octet-stream"})


def events(client: TestClient, job_id: str) -> list[tuple[str, dict]]:
    """Every event of a job's stream until its end."""
    found, name = [], None
    with client.stream("GET", f"/api/jobs/{job_id}/events") as response:
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                found.append((name, json.loads(line[6:])))
                if name == "end":
                    break
    return found


def dream(client: TestClient, mode="image", action="dream", settings=None, source=None, client_id="tab"):
    body = {"client": client_id, "mode": mode, "action": action, "settings": settings or TINY,
            "input": source or {"source": "sample", "name": "chelsea.jpg"}}
    return client.post("/api/jobs", json=body)


# ---------------------------------------------------------------- page and options


def test_page_and_options(studio):
    assert "dreamvid studio" in studio.get("/").text
    options = studio.get("/api/options").json()
    assert {"eyes", "tunnel", "video-subtle"} <= {preset["name"] for preset in options["presets"]}
    assert "chelsea.jpg" in options["samples"]
    assert [entry["layer"] for entry in options["layers"]][:2] == ["blocks.0", "blocks.1"]
    assert studio.get("/api/samples/chelsea.jpg").content == SAMPLE.read_bytes()
    assert studio.get("/api/samples/..%2FREADME.md").status_code == 404


def test_presets_are_offered_for_their_modes_and_models_by_their_weights(studio):
    options = studio.get("/api/options").json()
    modes = {preset["name"]: preset["modes"] for preset in options["presets"]}
    assert modes["eyes"] == ["image", "zoom", "video"] and modes["tunnel"] == ["zoom"]
    assert modes["video-subtle"] == ["video"]
    assert options["models"][0] == {"name": "efficientnet_lite0", "description": options["models"][0]["description"],
                                    "missing": ""}


def test_the_page_shows_one_eta_not_the_library_s_estimates():
    from dreamvid.studio.jobs import shown_notice

    job = Job(client="a", kind="render", work=lambda job: {})
    notice = shown_notice(job)
    notice("zoom: 12 frames at 96x64 on cpu: about 3 s by a rough guess, refined after the first frames")
    notice("0.2 s a frame: about 2 s left")
    assert job.message == ""
    notice("the mask is smaller than the frames: stretched")
    assert job.message == "the mask is smaller than the frames: stretched"


def test_settings_are_the_cli_merge(studio):
    zoom = studio.get("/api/settings", params={"mode": "zoom"}).json()
    args = build_parser().parse_args(["zoom", "x.jpg", "-o", "x.mp4"])
    assert zoom == json.loads(json.dumps(cli_resolve(args)))


# ---------------------------------------------------------------- uploads and safety


def test_picture_upload_gets_a_generated_name(studio):
    answer = upload(studio, SAMPLE.read_bytes(), name="../../etc/passwd.jpg")
    assert answer.status_code == 200
    body = answer.json()
    assert body["kind"] == "picture" and (body["width"], body["height"]) == (451, 300)
    assert body["name"] == "passwd.jpg"
    assert [path.name for path in uploads_folder(studio).iterdir()] == [body["id"] + ".jpg"]


def bad_uploads(tmp_path: Path) -> dict[str, bytes]:
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20_000, 20_000)).save(bomb)  # 400 megapixels in a few tens of kB
    big = tmp_path / "big.png"
    Image.new("L", (9_000, 9_000)).save(big)  # 81 megapixels: under Pillow's limit, over the studio's
    return {"not a picture": np.random.default_rng(0).bytes(5000), "empty": b"",
            "bomb": bomb.read_bytes(), "big": big.read_bytes(), "truncated": SAMPLE.read_bytes()[:3000]}


@pytest.mark.parametrize("what", ["not a picture", "empty", "bomb", "big", "truncated"])
def test_bad_upload_is_refused_and_leaves_nothing(studio, tmp_path, what):
    answer = upload(studio, bad_uploads(tmp_path)[what])
    assert answer.status_code == 400
    message = answer.json()["error"]
    assert message and "\n" not in message
    if what in ("bomb", "big"):
        assert "decompression bomb" in message
    assert list(uploads_folder(studio).iterdir()) == []


def test_too_big_upload_is_refused_declared_or_streamed(studio):
    data = SAMPLE.read_bytes() * 30  # 1.2 MB against the fixture's 1 MB limit
    assert upload(studio, data).status_code == 413
    chunks = (data[i:i + 65536] for i in range(0, len(data), 65536))  # no Content-Length: counted as it comes
    answer = studio.post("/api/uploads", params={"name": "x.jpg"}, content=chunks,
                         headers={"content-type": "application/octet-stream"})
    assert answer.status_code == 413 and "--max-upload-mb" in answer.json()["error"]
    assert list(uploads_folder(studio).iterdir()) == []


def test_clip_upload_and_sound_purpose(studio, tmp_path):
    from dreamvid.media.synthetic import write_clip

    clip = tmp_path / "clip.mp4"
    frames = [np.full((64, 96, 3), value, np.uint8) for value in range(0, 120, 10)]
    write_clip(frames, str(clip), fps=12, tone_hz=None)
    assert upload(studio, clip.read_bytes(), "clip.mp4").json()["kind"] == "clip"
    refused = upload(studio, clip.read_bytes(), "clip.mp4", purpose="sound")
    assert refused.status_code == 400 and "sound" in refused.json()["error"]


def test_requests_never_name_paths(studio):
    assert dream(studio, settings={"guide": "/etc/passwd"}).status_code == 400
    assert dream(studio, source={"source": "upload", "id": "../../etc/passwd"}).status_code == 400
    assert dream(studio, source={"source": "sample", "name": "../README.md"}).status_code == 400
    assert dream(studio, mode="video").status_code == 400  # a clip is needed, and a sample is a picture
    message = dream(studio, settings={"octaves": 99}).json()["error"]
    assert "octaves" in message


# ---------------------------------------------------------------- jobs


def test_still_dreams_and_downloads(studio):
    answer = dream(studio).json()
    assert answer["command"].startswith("dreamvid image samples/chelsea.jpg -o chelsea_dream.png --size 64")
    seen = events(studio, answer["id"])
    end = seen[-1][1]
    assert end["status"] == "done", end
    assert any(state.get("total") for name, state in seen if name == "progress")
    result = studio.get(end["result"]["url"], params={"download": ""})
    assert result.headers["content-disposition"].startswith('attachment; filename="chelsea_dream.png"')
    picture = np.asarray(Image.open(io.BytesIO(result.content)))
    assert picture.shape == (43, 64, 3)


def test_command_and_toml_reproduce_the_merge(studio):
    from dreamvid.studio import jobs

    settings = {**TINY, "zoom": "0: 1.1, 6: 1.3", "rotate": 5, "layers": {"blocks.3": 1}}
    answer = dream(studio, mode="zoom", action="render", settings={**settings, "frames": 4}).json()
    studio.post(f"/api/jobs/{answer['id']}/cancel", json={})
    args = build_parser().parse_args(shlex.split(answer["command"])[1:])
    from_command = cli_resolve(args)
    from_toml = tomllib.loads(answer["toml"])
    expected = jobs.DreamRequest("zoom", None, {**settings, "frames": 4, "noise": False}, SAMPLE,
                                 "samples/chelsea.jpg").resolved()
    assert from_command == expected
    assert from_toml == json.loads(json.dumps(expected))


def test_new_dream_replaces_the_tab_s_previous_one(studio):
    slow = {"size": 96, "octaves": 1, "iterations": 200}
    first = dream(studio, settings=slow).json()
    second = dream(studio).json()
    assert events(studio, first["id"])[-1][1]["status"] == "cancelled"
    assert events(studio, second["id"])[-1][1]["status"] == "done"


def test_cancel_stops_a_running_still(studio):
    answer = dream(studio, settings={"size": 96, "octaves": 1, "iterations": 200}).json()
    with studio.stream("GET", f"/api/jobs/{answer['id']}/events") as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and json.loads(line[6:]).get("done", 0) > 0:
                break
    started = time.monotonic()
    studio.post(f"/api/jobs/{answer['id']}/cancel", json={})
    assert events(studio, answer["id"])[-1][1]["status"] == "cancelled"
    assert time.monotonic() - started < 10


# ---------------------------------------------------------------- the queue


def waiting_job(client: str, ran: list, gate: threading.Event | None = None, background=False) -> Job:
    def work(job: Job) -> dict:
        if gate:
            gate.wait(10)
        ran.append(job.id)
        return {}

    return Job(client=client, kind="render", work=work, background=background)


def test_queue_is_round_robin_between_tabs():
    queue, ran, gate = RenderQueue(), [], threading.Event()
    try:
        blocker = queue.submit(waiting_job("a", ran, gate))
        while blocker.status != "running":
            time.sleep(0.01)
        thumb = queue.submit(waiting_job("atlas", ran, background=True))
        a = [queue.submit(waiting_job("a", ran)) for _ in range(3)]
        b = queue.submit(waiting_job("b", ran))
        assert queue.order("render") == [b, a[0], a[1], a[2]]  # a was just served: b goes first
        assert queue.position(b) == 1 and queue.position(a[0]) == 2 and queue.position(a[2]) == 4
        gate.set()
        while not thumb.finished:
            time.sleep(0.01)
        assert ran == [blocker.id, b.id, a[0].id, a[1].id, a[2].id, thumb.id]
    finally:
        queue.close()


def test_failures_reach_the_job_as_one_line():
    from dreamvid.errors import UserError

    def broken(job):
        raise UserError("no such thing")

    queue = RenderQueue()
    try:
        job = queue.submit(Job(client="a", kind="render", work=broken))
        while not job.finished:
            time.sleep(0.01)
        assert (job.status, job.message) == ("failed", "no such thing")
    finally:
        queue.close()


# ---------------------------------------------------------------- closing the tab, the CLI


def test_closing_the_event_stream_cancels_the_job(tmp_path):
    from dreamvid.studio.server import ServerThread

    server = ServerThread(tmp_path / "work")
    stopped = threading.Event()

    def endless(job: Job) -> dict:
        while not job.should_stop():
            job.report(1, 2)
            time.sleep(0.02)
        stopped.set()
        return {}

    with server:
        studio = server.app.state.studio
        job = studio.queue.submit(Job(client="tab", kind="preview", work=endless))
        studio.jobs[job.id] = job
        with server.session(timeout=10) as client, client.stream("GET", f"/api/jobs/{job.id}/events") as response:
            next(response.iter_lines())
        assert stopped.wait(5)
        assert job.status == "cancelled"


def test_studio_without_the_extra_says_how_to_install(monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a))
    assert run(["studio"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and 'pip install "dreamvid[studio]"' in error


def test_page_and_samples_travel_with_a_non_editable_install(tmp_path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(root)], check=True, cwd=tmp_path)
    assert (target / "dreamvid" / "studio" / "static" / "index.html").is_file()
    probe = "import dreamvid.studio.atlas as a; print(a.sample_path('chelsea.jpg'))"
    listed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(target)})
    assert listed.stdout.strip().startswith(str(target))


def test_one_dreamer_per_network_serves_every_layer_and_preset(monkeypatch):
    from dreamvid.studio import jobs

    built = []
    monkeypatch.setattr(jobs, "library", lambda: type("Api", (), {"Dreamer": type("D", (), {
        "from_settings": staticmethod(lambda **fixed: built.append(fixed) or object())})}))
    network = {"model": "efficientnet_lite0", "weights": None, "device": "cpu", "precision": "auto", "compile": False}
    dreamers = jobs.Dreamers()
    first = dreamers.get({**network, "layers": {"blocks.4": 1.0}, "channels": "", "guide": None})
    again = dreamers.get({**network, "layers": {"blocks.2": 0.5, "blocks.3": 1.0}, "channels": "1,2", "guide": "g.jpg"})
    other = dreamers.get({**network, "device": "cuda", "layers": {"blocks.4": 1.0}, "channels": "", "guide": None})
    assert first is again and other is not first
    assert built == [network, {**network, "device": "cuda"}]  # the network's settings only: no layers as defaults
