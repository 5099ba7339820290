"""`dreamvid video` end to end on tiny synthetic clips: the source's frames, exact rate and sound come out,
every flow method keeps the frames it is given, the dream follows the motion, cuts start afresh, an
interrupted render resumes into the same video, and bad input leaves nothing behind."""

from fractions import Fraction
import gc
import os
import subprocess
import threading

from PIL import Image
import cv2
import numpy as np
import pytest

from dreamvid.render.dreaming import FrameDreamer
from dreamvid.cli import run
from dreamvid.media.pictures import load_picture
from dreamvid.media.process import ffmpeg_exe
from dreamvid.media.reader import probe_video, read_frames
from dreamvid.media.synthetic import crop_window, cut_clip, moving_object_clip, pan_clip, write_clip
from dreamvid.metrics import dream_strength, warping_error
from dreamvid.render import clip
from dreamvid.settings.files import read_toml_file
from conftest import (CLIP_SIZE as SIZE, NO_DREAM, SAMPLES, audio, check_sound, decoded, nearest, png_frames,
                      video)

NTSC = Fraction(30000, 1001)


def ffmpeg(*args):
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def prefetch_threads():
    """Reader threads still alive: each render must stop its own, whatever way it ends."""
    return [thread for thread in threading.enumerate() if thread.name == "dreamvid-prefetch"]


def scene(picture, frames, size=SIZE):
    """A camera pan over the picture, with a textured square crossing the view."""
    background = crop_window(picture, 10, 10, *size)  # moving_object_clip's still background
    moving = moving_object_clip(picture, frames, size)
    return [np.where((square != background).any(axis=2, keepdims=True), square, panned)
            for square, panned in zip(moving, pan_clip(picture, frames, size))]


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """Source clips, in a folder of their own: scene.mp4 (10 frames at 30000/1001 fps with a tone),
    scene12.mp4 (12 frames at 12 fps with a tone) and silent.mkv (8 frames at 12 fps, no audio)."""
    folder = tmp_path_factory.mktemp("sources")
    cat = load_picture(os.path.join(SAMPLES, "chelsea.jpg"))
    write_clip(scene(cat, 10), str(folder / "scene.mp4"), fps=NTSC)
    write_clip(scene(cat, 12), str(folder / "scene12.mp4"), fps=12)
    write_clip(pan_clip(cat, 8, SIZE), str(folder / "silent.mkv"), fps=12, tone_hz=None)
    return folder


@pytest.fixture
def out_dir(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def test_end_to_end_keeps_frame_count_exact_rate_and_sound(sources, out_dir, capsys):
    source, out = sources / "scene.mp4", out_dir / "dream.mp4"
    assert probe_video(str(source)).fps == NTSC
    assert video(source, out, "--checkpoint-frames", "4") == 0, capsys.readouterr().err
    assert not prefetch_threads()
    info = probe_video(str(out))
    assert info.fps == NTSC and info.size == SIZE and info.has_audio
    frames, original = decoded(out), decoded(source)
    assert frames.shape == (10, 48, 64, 3)
    assert nearest(frames, original) == list(range(10))  # in order, none lost or repeated
    assert 1 < np.abs(frames.astype(int) - original).mean() < 30  # dreamed, yet still the scene
    check_sound(out, 10, NTSC)
    assert sorted(os.listdir(out_dir)) == ["dream.mp4", "dream.mp4.dreamvid.toml"]  # no state folder left
    job = read_toml_file(str(out_dir / "dream.mp4.dreamvid.toml"))
    assert job["mode"] == "video" and job["flow"] == "dis"
    assert job["input"] == os.path.relpath(source, out_dir)  # relative to the job file: they can move together

    assert run(["render", str(out_dir / "dream.mp4.dreamvid.toml"), "--overwrite"]) == 0
    assert np.array_equal(decoded(out), frames)  # the job file reproduces the render


@pytest.mark.parametrize("extra, first, count", [
    (["--start", "0.25", "--duration", "0.45"], 3, 6),  # at 12 fps frame 3 is at 0.25 s, frame 8 at 0.67 s
    (["--start", "0.2", "--frames", "4"], 3, 4),  # 0.2 s falls inside frame 2: the first frame after it is 3
])
def test_start_duration_and_frames_select_a_stretch_and_its_sound(sources, out_dir, capsys, extra, first, count):
    source, out = sources / "scene12.mp4", out_dir / "part.mp4"
    assert video(source, out, *NO_DREAM, *extra) == 0, capsys.readouterr().err
    assert probe_video(str(out)).fps == 12
    assert nearest(decoded(out), decoded(source)) == list(range(first, first + count))
    check_sound(out, count, 12)


def test_a_clip_without_sound_gives_a_video_without_sound(sources, out_dir, capsys):
    out = out_dir / "silent.mp4"
    assert video(sources / "silent.mkv", out) == 0, capsys.readouterr().err
    info = probe_video(str(out))
    assert not info.has_audio and info.fps == 12
    assert len(decoded(out)) == 8


@pytest.mark.parametrize("flow", ["none", "dis", "dis-fast"])
def test_without_dreaming_every_flow_method_gives_back_the_source(sources, tmp_path, capsys, flow):
    """Nothing to carry, so each output frame is its own source frame: no frame shifted, warped or mixed."""
    source = decoded(sources / "scene12.mp4")
    assert video(sources / "scene12.mp4", tmp_path / "frames" / "%05d.png", *NO_DREAM, "--flow", flow,
                 "--checkpoint-frames", "5") == 0, capsys.readouterr().err
    frames = png_frames(tmp_path / "frames")
    assert frames.shape == source.shape
    assert np.abs(frames.astype(int) - source).max() <= 1


def test_blend_mixes_the_previous_output_into_each_frame(sources, tmp_path, capsys):
    source = decoded(sources / "scene12.mp4")
    assert video(sources / "scene12.mp4", tmp_path / "frames" / "%05d.png", *NO_DREAM, "--flow", "blend",
                 "--blend", "0.25") == 0, capsys.readouterr().err
    expected, previous = [], None
    for frame in source / 255.0:  # O_t = (1 - b) I_t + b O_{t-1}, kept in float between frames
        previous = frame if previous is None else 0.75 * frame + 0.25 * previous
        expected.append(np.round(previous * 255.0))
    frames = png_frames(tmp_path / "frames")
    assert frames.shape == source.shape
    assert np.abs(frames - np.array(expected)).max() <= 1


def test_flow_carries_the_dream_along_a_pan(tmp_path, capsys):
    """Lai et al.'s warping error, with flow from the source: the carried dream flickers far less than
    dreaming each frame alone, at about the same dream strength (so dreaming less cannot pass)."""
    picture = load_picture(os.path.join(SAMPLES, "coffee.jpg"))
    write_clip(pan_clip(picture, 6, (96, 64)), str(tmp_path / "pan.mkv"), fps=12, tone_hz=None, crf=0)
    source = list(read_frames(str(tmp_path / "pan.mkv")))
    outputs = {}
    for flow in ("none", "dis"):
        folder = tmp_path / flow
        assert video(tmp_path / "pan.mkv", folder / "%05d.png", "--iterations", "4", "--flow", flow) == 0, \
            capsys.readouterr().err
        outputs[flow] = list(png_frames(folder))
    floor = warping_error(source, source)
    naive, carried = warping_error(source, outputs["none"]), warping_error(source, outputs["dis"])
    assert naive > 10 * floor, (floor, naive)  # the test clip is easy to track; per-frame dreams are not
    assert carried < 0.5 * naive, (carried, naive)
    assert dream_strength(source, outputs["dis"]) > 0.7 * dream_strength(source, outputs["none"])


def test_a_scene_cut_starts_a_fresh_dream(tmp_path, monkeypatch, capsys):
    pictures = [load_picture(os.path.join(SAMPLES, name)) for name in ("chelsea.jpg", "coffee.jpg")]
    write_clip(cut_clip(*pictures, 8, SIZE), str(tmp_path / "cut.mkv"), fps=12, tone_hz=None, crf=0)
    assert video(tmp_path / "cut.mkv", tmp_path / "none" / "%05d.png", "--flow", "none") == 0

    starts, dreams = [], []
    start_image, dream = clip.start_image, FrameDreamer.dream

    def spied_start(method, t, *args, **kwargs):
        start = start_image(method, t, *args, **kwargs)
        starts.append((t, start.fresh))
        return start

    def spied_dream(self, image, frame=0, iterations=None, *args, octaves=None, **kwargs):
        dreams.append((frame, iterations, octaves))
        return dream(self, image, frame, iterations, *args, octaves=octaves, **kwargs)

    monkeypatch.setattr(clip, "start_image", spied_start)
    monkeypatch.setattr(FrameDreamer, "dream", spied_dream)
    assert video(tmp_path / "cut.mkv", tmp_path / "dis" / "%05d.png", "--flow", "dis") == 0, capsys.readouterr().err
    assert starts == [(t, t in (0, 4)) for t in range(8)]  # frame 4 is the first after the cut
    assert dreams == [(t, None, None) if t in (0, 4) else (t, 1, 1) for t in range(8)]  # full dreams when fresh

    # a fresh start is exactly the per-frame dream of that frame; carried frames are not
    fresh, alone = png_frames(tmp_path / "dis"), png_frames(tmp_path / "none")
    assert np.array_equal(fresh[0], alone[0]) and np.array_equal(fresh[4], alone[4])
    assert not np.array_equal(fresh[3], alone[3]) and not np.array_equal(fresh[5], alone[5])


def test_resume_after_ctrl_c_gives_the_same_video(sources, tmp_path, capsys, dream_calls):
    calls, stop_at = dream_calls
    source, whole, resumed = sources / "scene12.mp4", tmp_path / "whole.mp4", tmp_path / "resumed.mp4"
    argv = ["--checkpoint-frames", "4"]
    assert video(source, whole, *argv) == 0, capsys.readouterr().err

    stop_at.add(6)
    calls.clear()
    assert video(source, resumed, *argv) == 130
    err = capsys.readouterr().err
    assert "frame 4 of 12" in err and "--resume" in err, err
    assert calls == list(range(7))
    assert not prefetch_threads()  # the reader thread (and its ffmpeg) stopped with the render
    state = tmp_path / "resumed.mp4.dreamvid-state"
    assert sorted(os.listdir(state)) == ["loop.npz", "segment_00000.mp4", "state.json"]  # no half segment
    assert sorted(os.listdir(tmp_path)) == ["resumed.mp4.dreamvid-state", "whole.mp4", "whole.mp4.dreamvid.toml"]

    calls.clear()
    assert video(source, resumed, *argv, "--resume") == 0, capsys.readouterr().err
    assert calls == list(range(4, 12))  # frames 0-3 came from the checkpoint
    assert not state.exists() and (tmp_path / "resumed.mp4.dreamvid.toml").exists()
    a, b = decoded(whole), decoded(resumed)
    assert a.shape == b.shape == (12, 48, 64, 3)
    for index, (frame_a, frame_b) in enumerate(zip(a, b)):
        assert np.array_equal(frame_a, frame_b), f"frame {index} differs"
    assert np.array_equal(audio(whole), audio(resumed))


def bad_inputs(sources, folder):
    """(input, extra flags, what the message must say), with the broken files written into `folder`."""
    (folder / "notes.mp4").write_text("not a video\n")
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(folder / "picture.png")
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", str(folder / "sound.mp4"))
    data = (sources / "scene12.mp4").read_bytes()
    (folder / "half.mp4").write_bytes(data[:len(data) // 2])  # its index (moov) sits at the end: gone
    ffmpeg("-i", str(sources / "scene12.mp4"), "-c", "copy", "-movflags", "+faststart", str(folder / "fast.mp4"))
    fast = (folder / "fast.mp4").read_bytes()
    (folder / "fast_half.mp4").write_bytes(fast[:len(fast) // 2])  # index first: frames missing at the end
    # the middle third (frame data; the index sits at the end) overwritten in place: the file keeps its
    # exact length whatever the encoder wrote, so the index still points at the right offsets
    third, two_thirds = len(data) // 3, 2 * len(data) // 3
    garbage = np.random.default_rng(0).integers(0, 256, two_thirds - third, np.uint8).tobytes()
    garbled = data[:third] + garbage + data[two_thirds:]
    assert len(garbled) == len(data)
    (folder / "garbled.mp4").write_bytes(garbled)
    good = str(sources / "scene12.mp4")
    return [
        (str(folder / "missing.mp4"), [], ("no such video file",)),
        (str(folder / "notes.mp4"), [], ("not a video",)),
        (str(folder / "picture.png"), [], ("still image",)),
        (str(folder / "sound.mp4"), [], ("no video stream",)),
        (str(folder / "half.mp4"), [], ("half.mp4 is not a video",)),
        (str(folder / "fast_half.mp4"), [], ("could not decode", "partial file")),
        (str(folder / "garbled.mp4"), [], ("could not decode",)),
        (good, ["--start", "5"], ("no frames", "starting at 5 s")),
        (good, ["--start", "1"], ("no frames",)),  # exactly the clip's length: zero frames
    ]


def test_bad_input_is_one_line_exit_2_and_writes_nothing(sources, tmp_path, out_dir, capsys):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for source, extra, fragments in bad_inputs(sources, inputs):
        code = video(source, out_dir / "dream.mp4", *extra)
        err = capsys.readouterr().err
        assert code == 2, (source, extra, err)
        assert all(fragment in err for fragment in fragments), (source, extra, err)
        assert err.count("\n") == 1 and "Traceback" not in err, (source, extra, err)
        assert os.listdir(out_dir) == [], (source, extra)  # no OUT, .OUT.partial* or state folder
    assert not prefetch_threads()


def test_odd_frame_sizes_dream_at_the_even_size_below(tmp_path, capsys):
    picture = load_picture(os.path.join(SAMPLES, "chelsea.jpg"))
    frames = pan_clip(picture, 6, (65, 49))
    source = tmp_path / "odd.mkv"  # ffv1 takes odd sizes, as phones' and editors' exports may have
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "65x49",
                    "-r", "12", "-i", "-", "-c:v", "ffv1", str(source)], input=np.stack(frames).tobytes(), check=True)
    out = tmp_path / "even.mp4"
    assert video(source, out, *NO_DREAM) == 0
    err = capsys.readouterr().err
    assert "64x48 instead of 65x49" in err, err
    info = probe_video(str(out))
    assert info.size == SIZE and info.fps == 12
    expected = [cv2.resize(frame, SIZE, interpolation=cv2.INTER_AREA) for frame in decoded(source)]
    assert np.abs(decoded(out).astype(int) - np.array(expected)).mean(axis=(1, 2, 3)).max() < 3


def test_a_one_frame_clip_gives_a_one_frame_video(tmp_path, capsys):
    picture = load_picture(os.path.join(SAMPLES, "chelsea.jpg"))
    write_clip(pan_clip(picture, 1, SIZE), str(tmp_path / "one.mp4"), fps=12)
    out = tmp_path / "out.mp4"
    assert video(tmp_path / "one.mp4", out) == 0, capsys.readouterr().err
    assert len(decoded(out)) == 1 and probe_video(str(out)).fps == 12
    check_sound(out, 1, 12)


def test_a_finished_render_closes_its_reader_and_prefetch_thread_itself(sources, out_dir, monkeypatch):
    """Closed by the loop when it ends, not left to garbage collection (switched off here)."""
    from dreamvid.media import process

    started = []
    popen = process.popen
    monkeypatch.setattr(process, "popen", lambda *a, **k: started.append(popen(*a, **k)) or started[-1])
    gc.disable()
    try:
        assert video(sources / "scene12.mp4", out_dir / "dream.mp4", "--frames", "4") == 0
        assert not prefetch_threads()
        assert all(proc.poll() is not None for proc in started)
    finally:
        gc.enable()


def test_a_schedule_out_of_bounds_at_any_frame_of_the_clip_fails_before_dreaming(sources, out_dir, capsys, dream_calls):
    calls, _ = dream_calls
    code = video(sources / "scene12.mp4", out_dir / "dream.mp4", "--persistence", "0.5 + s")  # 1.08 at frame 7 (12 fps)
    err = capsys.readouterr().err
    assert code == 2 and "persistence (--persistence) must be <= 1, got 1.08333 at frame 7 (0.58 s)" in err, err
    assert calls == [] and os.listdir(out_dir) == []
