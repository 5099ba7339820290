"""The Python API's inputs and outputs: one picture type everywhere (a path, an array, a PIL image; anything
else one clear line), frames written as a video with their sound, frames in memory dreamed as a clip, paths
returned absolute, `preset` in the same place in every call, and a `Cancelled` that says what stopped."""

import dataclasses
import inspect
import os

import numpy as np
from PIL import Image
import pytest

import dreamvid
from conftest import REPO, audio, check_sound, clip_with_audio, decoded, ramp_frames  # noqa: F401 (fixture)
from dreamvid.ascent.dream import StepProgress
from dreamvid.media.synthetic import pan_clip

FAST = {"octaves": 1, "iterations": 1, "device": "cpu"}
QUIET = {**FAST, "progress": False}
NOT_PICTURES = ([1, 2, 3], np.zeros((20, 20)), np.zeros((20, 20, 3), np.float32), 3.5)


@pytest.mark.parametrize("call", ["dream_image", "zoom_frames", "render_image", "render_zoom", "render_atlas"])
@pytest.mark.parametrize("bad", NOT_PICTURES, ids=["list", "grey", "float", "number"])
def test_every_picture_call_refuses_what_is_not_a_picture_in_one_line(call, bad, tmp_path):
    with pytest.raises(dreamvid.UserError) as refused:
        if call.startswith("render"):
            getattr(dreamvid, call)(bad, str(tmp_path / ("out.png" if call != "render_zoom" else "out.mp4")))
        else:
            getattr(dreamvid, call)(bad, **FAST)
    message = str(refused.value)
    assert "\n" not in message and len(message) < 160, message
    assert message.startswith("a picture must be a path, an H x W x 3 uint8 RGB numpy array or a PIL image")
    assert not os.listdir(tmp_path)


def test_an_array_and_a_pil_image_render_as_their_file_does(small_cat, tmp_path, capsys):
    path = tmp_path / "cat.png"
    Image.fromarray(small_cat).save(path)
    from_file = dreamvid.render_zoom(str(path), str(tmp_path / "file.mp4"), frames=3, size=48, **QUIET)
    from_array = dreamvid.render_zoom(small_cat, str(tmp_path / "array.mp4"), frames=3, size=48, **QUIET)
    assert np.array_equal(decoded(from_file), decoded(from_array))
    sidecar = (tmp_path / "array.mp4.dreamvid.toml").read_text()
    assert 'input = "array.mp4.input.png"' in sidecar  # the settings beside it render it again
    still = dreamvid.render_image(Image.fromarray(small_cat), str(tmp_path / "still.png"), **QUIET)
    assert np.array_equal(np.asarray(Image.open(still)), dreamvid.dream_image(str(path), **FAST))


def test_zoom_frames_keep_an_odd_picture_and_say_nothing_of_video(small_cat):
    odd = small_cat[:63, :95]
    heard = []
    with dreamvid.notices_to(heard.append):
        frames = list(dreamvid.zoom_frames(odd, frames=2, **FAST))
    assert [frame.image.shape for frame in frames] == [(63, 95, 3)] * 2
    assert not [notice for notice in heard if "even" in notice], heard


def test_frames_written_as_a_video_come_back_with_their_sound(clip_with_audio, tmp_path):
    frames = ramp_frames(12)
    written = dreamvid.write_video(frames, tmp_path / "ramp.mp4", fps=12, audio=clip_with_audio)
    assert written == str(tmp_path / "ramp.mp4") and os.path.isabs(written)
    back = decoded(written)
    assert back.shape == (12, 48, 64, 3)
    assert np.abs(back.astype(int) - np.stack(frames)).mean() < 3
    check_sound(written, 12, 12)  # the tone, cut to exactly the video's second
    with dreamvid.VideoFile(tmp_path / "pil.mp4", 12) as video:  # a context manager, PIL images too
        for frame in frames[:4]:
            video.write(Image.fromarray(frame))
    assert decoded(tmp_path / "pil.mp4").shape[0] == 4


def test_a_video_of_mismatched_frames_is_refused_and_leaves_nothing(tmp_path):
    frames = ramp_frames(3) + ramp_frames(1, width=32)
    with pytest.raises(dreamvid.UserError, match="frame 3 of .* is 32x48; the frames before it are 64x48"):
        dreamvid.write_video(frames, tmp_path / "mixed.mp4", fps=12)
    assert os.listdir(tmp_path) == []
    with pytest.raises(dreamvid.UserError, match="frame rate must be positive"):
        dreamvid.write_video(frames, tmp_path / "rate.mp4", fps=0)
    with pytest.raises(dreamvid.UserError, match="fps must be a number above 0"):
        dreamvid.write_video(frames, tmp_path / "rate.mp4", fps="fast")


def test_frames_in_memory_are_dreamed_as_a_clip(small_cat):
    frames = pan_clip(small_cat, 5, (48, 32), 1.5)
    dreamed = list(dreamvid.clip_frames(frames, fps=10, size=48, **FAST))
    assert [frame.index for frame in dreamed] == list(range(5))
    assert [frame.time for frame in dreamed] == pytest.approx([t / 10 for t in range(5)])
    assert all(frame.image.shape == (32, 48, 3) for frame in dreamed)
    with pytest.raises(dreamvid.UserError, match="fps=30"):
        dreamvid.clip_frames(frames, size=48, **FAST)
    with pytest.raises(dreamvid.UserError, match="a clip must be a path or an iterable of frames"):
        dreamvid.clip_frames(small_cat, fps=10, **FAST)


def test_frames_in_memory_render_as_a_clip_and_resume_exactly(small_cat, tmp_path):
    frames = pan_clip(small_cat, 6, (48, 32), 1.5)
    options = {"size": 48, "checkpoint_frames": 2, **QUIET}
    whole = dreamvid.render_clip(frames, str(tmp_path / "whole.mp4"), fps=10, **options)
    assert 'input = "whole.mp4.input.mkv"' in (tmp_path / "whole.mp4.dreamvid.toml").read_text()
    assert decoded(tmp_path / "whole.mp4.input.mkv").shape == (6, 32, 48, 3)
    stopped = str(tmp_path / "stopped.mp4")
    with pytest.raises(dreamvid.Cancelled):
        dreamvid.render_clip(frames, stopped, fps=10, callback=lambda index, *_: index < 3, **options)
    # the frames are written beside the output again, to the same bytes, so the resume finds its input unchanged
    dreamvid.render_clip(frames, stopped, fps=10, resume=True, **options)
    assert np.array_equal(decoded(whole), decoded(stopped))
    with pytest.raises(dreamvid.UserError, match="frames given to render_clip need their rate: fps=30"):
        dreamvid.render_clip(frames, str(tmp_path / "rate.mp4"), **options)


def test_a_refused_render_leaves_the_input_beside_its_output_as_it_was(small_cat, tmp_path):
    dreamvid.render_zoom(small_cat, str(tmp_path / "z.mp4"), frames=2, size=48, **QUIET)
    dreamvid.render_clip([small_cat[:32, :48]] * 2, str(tmp_path / "c.mp4"), fps=10, size=48, **QUIET)
    beside = {name: (tmp_path / name).read_bytes() for name in ("z.mp4.input.png", "c.mp4.input.mkv")}
    other = 255 - small_cat
    with pytest.raises(dreamvid.UserError, match="output exists"):
        dreamvid.render_zoom(other, str(tmp_path / "z.mp4"), frames=2, size=48, **QUIET)
    with pytest.raises(dreamvid.UserError, match="output exists"):
        dreamvid.render_clip([other[:32, :48]] * 2, str(tmp_path / "c.mp4"), fps=10, size=48, **QUIET)
    with pytest.raises(dreamvid.UserError, match="output exists"):
        dreamvid.render_image(other, str(tmp_path / "z.mp4.input.png"), **QUIET)
    assert {name: (tmp_path / name).read_bytes() for name in beside} == beside  # their settings still render them


def test_renders_return_absolute_paths(small_cat, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    written = dreamvid.render_zoom(small_cat, "zoom.mp4", frames=2, size=48, **QUIET)
    assert written == str(tmp_path / "zoom.mp4")
    again = dreamvid.render_job("zoom.mp4.dreamvid.toml", overwrite=True, progress=False)
    assert again == written
    assert dreamvid.render_image(small_cat, "still.png", **QUIET) == str(tmp_path / "still.png")


def test_preset_is_the_argument_after_the_inputs_in_every_call():
    after = {"dream_image": 1, "zoom_frames": 1, "clip_frames": 1, "render_image": 2, "render_zoom": 2,
             "render_clip": 2}
    for name, index in after.items():
        parameters = list(inspect.signature(getattr(dreamvid, name)).parameters.values())
        assert parameters[index].name == "preset", name
        assert parameters[index].kind == inspect.Parameter.POSITIONAL_OR_KEYWORD, name
        assert parameters[index].default is None, name


def test_cancelled_says_what_stopped_it_and_how_to_go_on(small_cat, tmp_path):
    with pytest.raises(dreamvid.Cancelled) as dream:
        dreamvid.dream_image(small_cat, on_step=lambda progress: progress.step < 2, octaves=1, iterations=3,
                             device="cpu")
    assert str(dream.value) == ("the dream stopped (on_step returned False at step 2 of 3); nothing was kept: "
                                "the same call dreams it afresh")
    with pytest.raises(dreamvid.Cancelled) as render:
        dreamvid.render_zoom(small_cat, str(tmp_path / "z.mp4"), frames=6, size=48, checkpoint_frames=2,
                             callback=lambda index, *_: index < 3, **QUIET)
    assert str(render.value).endswith("stopped (the callback returned False after frame 3 of 6); "
                                      "resume=True continues from frame 4 of 6")


def test_every_field_of_the_progress_objects_is_documented():
    text = open(os.path.join(REPO, "docs", "API.md"), encoding="utf-8").read()
    for kind in (StepProgress, dreamvid.Frame):
        for field in dataclasses.fields(kind):
            name = "image()" if field.name == "current" else field.name
            assert f"`.{name}`" in text, f"{kind.__name__}.{field.name} is not in docs/API.md"
