"""dreamvid as a library: generators of frames, a model built once, callbacks that stop a render which
`resume=True` completes exactly, one render per output, and an import graph without circles."""

import ast
import os
import pydoc
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import dreamvid
from conftest import REPO, SAMPLES, decoded, slowed_cli
from dreamvid.cli import run
from dreamvid.media import process
from dreamvid.media.synthetic import pan_clip, write_clip
from dreamvid.render import dreaming

FAST = {"octaves": 1, "iterations": 1, "device": "cpu"}


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory):
    """16 frames at 12 fps of a pan over the cat, 64x48, with a tone."""
    path = tmp_path_factory.mktemp("clip") / "pan.mp4"
    cat = dreamvid.media.pictures.load_picture(os.path.join(SAMPLES, "chelsea.jpg"))
    write_clip(pan_clip(cat, 16, (64, 48), 1.5), str(path), fps=12)
    return path


def test_zoom_frames_come_out_of_a_generator():
    frames = dreamvid.zoom_frames(size=96, frames=24, fps=12, **FAST)  # no picture: from noise
    seen = list(frames)
    assert [frame.index for frame in seen] == list(range(24))
    assert [frame.time for frame in seen] == pytest.approx([t / 12 for t in range(24)])
    assert all(frame.image.shape == (96, 96, 3) and frame.image.dtype == np.uint8 and frame.total == 24
               for frame in seen)
    assert not np.array_equal(seen[0].image, seen[-1].image)  # the camera moved


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """80 frames: more than the pipe and the read-ahead hold, so the decoder is still running after 3."""
    path = tmp_path_factory.mktemp("clip") / "long.mp4"
    cat = dreamvid.media.pictures.load_picture(os.path.join(SAMPLES, "chelsea.jpg"))
    write_clip(pan_clip(cat, 80, (64, 48), 0.5), str(path), fps=12, tone_hz=None)
    return path


def live_ffmpegs(started):
    return [proc for proc in started if proc.poll() is None]


def test_a_clip_generator_closed_early_ends_ffmpeg_and_its_thread(long_clip, monkeypatch):
    started, original = [], process.popen

    def watched(*args, **kwargs):
        started.append(original(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(process, "popen", watched)
    threads_before = threading.active_count()
    frames = dreamvid.clip_frames(str(long_clip), size=48, **FAST)
    first = [next(frames) for _ in range(3)]
    assert [frame.index for frame in first] == [0, 1, 2] and first[1].time == pytest.approx(1 / 12)
    assert first[0].image.shape == (36, 48, 3)
    assert live_ffmpegs(started)  # the decoder is reading ahead
    frames.close()
    deadline = time.monotonic() + 10
    while (live_ffmpegs(started) or threading.active_count() > threads_before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not live_ffmpegs(started) and threading.active_count() == threads_before


@pytest.mark.slow
def test_a_callback_stops_a_render_and_resume_completes_it_exactly(small_clip, tmp_path):
    whole, stopped = tmp_path / "whole.mp4", tmp_path / "stopped.mp4"
    options = {"size": 48, "checkpoint_frames": 4, "progress": False, **FAST}
    assert dreamvid.render_clip(str(small_clip), str(whole), **options) == str(whole)

    seen = []

    def until_ten(index, image, total):
        seen.append(index)
        return index < 10

    with pytest.raises(dreamvid.Cancelled) as stop:
        dreamvid.render_clip(str(small_clip), str(stopped), callback=until_ten, **options)
    assert seen == list(range(11)) and stop.value.resume_from == 8 and stop.value.total == 16
    assert not stopped.exists() and os.path.isdir(f"{stopped}.dreamvid-state")

    dreamvid.render_clip(str(small_clip), str(stopped), resume=True, callback=lambda index, *_: seen.append(index),
                         **options)
    assert seen[11:] == list(range(8, 16))  # from the last checkpoint on
    a, b = decoded(whole), decoded(stopped)
    assert a.shape == b.shape == (16, 36, 48, 3)
    for index, (frame_a, frame_b) in enumerate(zip(a, b)):
        assert np.array_equal(frame_a, frame_b), f"frame {index} differs"


def test_one_dreamer_builds_the_model_once(small_cat, monkeypatch):
    builds, original = [], dreaming.load_model
    monkeypatch.setattr(dreaming, "load_model", lambda *args, **kwargs: builds.append(1) or original(*args, **kwargs))
    dreamer = dreamvid.Dreamer.from_settings(device="cpu", layers="blocks.3")
    first = dreamvid.dream_image(small_cat, dreamer=dreamer, octaves=1, iterations=1)
    second = dreamvid.dream_image(small_cat, dreamer=dreamer, octaves=1, iterations=2, step=0.05)
    assert len(builds) == 1 and first.shape == second.shape == small_cat.shape
    assert not np.array_equal(first, second)  # the calls' own settings were used
    # the Dreamer's own settings are its calls' defaults: blocks.3 here, as a fresh render with blocks.3
    assert np.array_equal(first, dreamvid.dream_image(small_cat, layers="blocks.3", **FAST))


def test_a_dreamer_dreams_any_layer_channels_guide_and_preset_of_its_model(small_cat, monkeypatch):
    builds, original = [], dreaming.load_model
    monkeypatch.setattr(dreaming, "load_model", lambda *args, **kwargs: builds.append(1) or original(*args, **kwargs))
    dreamer = dreamvid.Dreamer.from_settings(device="cpu")
    guide = os.path.join(SAMPLES, "coffee.jpg")
    for preset, settings in (("ornaments", {}), (None, {"layers": "blocks.2=0.5 blocks.5"}),
                             (None, {"channels": "3,7"}), ("eyes", {"guide": guide})):
        with_dreamer = dreamvid.dream_image(small_cat, preset, dreamer=dreamer, size=64, **settings, **FAST)
        monkeypatch.setattr(dreaming, "load_model", original)
        alone = dreamvid.dream_image(small_cat, preset, size=64, **settings, **FAST)
        monkeypatch.setattr(dreaming, "load_model", lambda *a, **k: builds.append(1) or original(*a, **k))
        assert np.array_equal(with_dreamer, alone), (preset, settings)  # the same dream as its own model's
    assert len(builds) == 1
    video_dreamer = dreamvid.Dreamer.from_settings(preset="video-subtle", device="cpu")  # a preset for clips
    assert dreamvid.dream_image(small_cat, dreamer=video_dreamer, size=48, **FAST).shape == (32, 48, 3)
    with pytest.raises(dreamvid.UserError, match="model 'vgg16'.*another Dreamer") as refused:
        dreamvid.dream_image(small_cat, dreamer=dreamer, model="vgg16")
    assert "\n" not in str(refused.value)


def test_a_default_dreamer_renders_a_clip_with_the_video_preset(small_clip, tmp_path):
    dreamer = dreamvid.Dreamer.from_settings(device="cpu")  # built for stills' blocks.4; video-subtle dreams two layers
    written = dreamvid.render_clip(str(small_clip), str(tmp_path / "out.mp4"), dreamer=dreamer, frames=3, size=48,
                                   progress=False, **FAST)
    assert decoded(written).shape[0] == 3


def test_on_step_sees_the_dream_grow_and_can_cancel_it(small_cat):
    previews = []

    def watch(progress):
        if progress.octave_done:
            previews.append((progress.octave, progress.image()))

    dreamed = dreamvid.dream_image(small_cat, octaves=2, iterations=2, device="cpu", on_step=watch)
    assert [octave for octave, _ in previews] == [0, 1]
    assert all(image.shape == small_cat.shape and image.dtype == np.uint8 for _, image in previews)
    assert np.array_equal(previews[-1][1], dreamed)  # the last preview is the dream
    with pytest.raises(dreamvid.Cancelled):
        dreamvid.dream_image(small_cat, octaves=2, iterations=2, device="cpu", on_step=lambda progress: False)


# A zoom in a child process, slowed from frame 2 on, so that a second render of its output meets it mid-way.
SLOW_ZOOM = slowed_cli(2, 0.5)


def zoom_argv(out, *extra):
    return ["zoom", os.path.join(SAMPLES, "chelsea.jpg"), "-o", str(out), "--size", "48", "--octaves", "1",
            "--iterations", "1", "--device", "cpu", "--frames", "10", "--checkpoint-frames", "4", *extra]


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="flock")
def test_a_second_render_of_the_same_output_is_refused_and_the_first_completes(tmp_path, capsys):
    out, alone = tmp_path / "same.mp4", tmp_path / "alone.mp4"
    env = {**os.environ, "PYTHONPATH": REPO}
    child = subprocess.Popen([sys.executable, "-c", SLOW_ZOOM, *zoom_argv(out)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(f"{out}.dreamvid-state/state.json") and time.monotonic() < deadline:
            assert child.poll() is None, child.communicate()
            time.sleep(0.05)
        for extra in ([], ["--resume"], ["--overwrite"]):
            assert run(zoom_argv(out, *extra)) == 2
            err = capsys.readouterr().err
            assert f"is being rendered by process {child.pid}" in err and err.count("\n") == 1, err
        _, child_err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, child_err
    assert run(zoom_argv(alone)) == 0
    a, b = decoded(alone), decoded(out)
    assert a.shape == b.shape == (10, 32, 48, 3) and np.array_equal(a, b)
    assert sorted(os.listdir(tmp_path)) == ["alone.mp4", "alone.mp4.dreamvid.toml", "same.mp4", "same.mp4.dreamvid.toml"]


def imported_modules(path: str, package: str) -> set[str]:
    """The dreamvid modules a source file imports, at any depth of its code (function-level imports too)."""
    names = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in names if name == package or name.startswith(package + ".")}


def module_files(root: str) -> dict[str, str]:
    files = {}
    for folder, _, names in os.walk(os.path.join(root, "dreamvid")):
        for name in names:
            if name.endswith(".py"):
                module = os.path.relpath(os.path.join(folder, name), root)[:-3].replace(os.sep, ".")
                files[module.removesuffix(".__init__")] = os.path.join(folder, name)
    return files


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    state, path = {}, []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = "done"
        path.pop()
        return []

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def test_no_module_of_dreamvid_imports_itself_back():
    files = module_files(REPO)
    graph = {module: {name for name in imported_modules(path, "dreamvid") if name in files and name != module}
             for module, path in files.items()}
    # the package's own __init__ only names the API lazily; everything else must be a tree of layers
    graph["dreamvid"] = set()
    assert find_cycle(graph) == []
    below = [module for module, targets in graph.items()
             if not module.startswith(("dreamvid.distributed", "dreamvid.api", "dreamvid.cli", "dreamvid.studio"))
             and any(target.startswith("dreamvid.distributed") for target in targets)]
    assert below == []  # nothing below the distribution code imports it


def test_the_import_walker_sees_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]


def test_help_shows_the_api():
    text = pydoc.render_doc(dreamvid, renderer=pydoc.plaintext)
    for name in ("Dreamer", "dream_image", "zoom_frames", "clip_frames", "render_zoom", "render_clip", "render_job"):
        assert name in text, name


def test_cli_holds_no_render_logic():
    tree = ast.parse(open(os.path.join(REPO, "dreamvid", "cli.py"), encoding="utf-8").read())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not [name for name in imported if name.startswith(("dreamvid.render", "dreamvid.distributed"))]
