"""A checkpoint is trusted only if it is exactly what dreamvid wrote: any edit of any field is one line
(exit 2) whose advice works, never a traceback, never a different video with exit 0."""

import json
import os
import shutil

import numpy as np
import pytest

from conftest import decoded
from dreamvid.cli import run
from dreamvid.render.checkpoint import content_sha256
from dreamvid.render.dreaming import FrameDreamer

FAST = ["--size", "48", "--octaves", "1", "--iterations", "1", "--device", "cpu"]
FRAMES = 8


def zoom_argv(source, out, *extra):
    return ["zoom", str(source), "-o", str(out), *FAST, "--frames", str(FRAMES), "--checkpoint-frames", "4", *extra]


@pytest.fixture(scope="module")
def renders(cat_path_module, tmp_path_factory):
    """The uninterrupted render's frames, and a state folder stopped at frame 6 (checkpoint at frame 4)."""
    folder = tmp_path_factory.mktemp("renders")
    assert run(zoom_argv(cat_path_module, folder / "whole.mp4")) == 0
    original = FrameDreamer.dream

    def stop_at_6(self, image, frame=0, *args, **kwargs):
        if frame == 6:
            raise KeyboardInterrupt
        return original(self, image, frame, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FrameDreamer, "dream", stop_at_6)
        assert run(zoom_argv(cat_path_module, folder / "stopped.mp4")) == 130
    state = folder / "stopped.mp4.dreamvid-state"
    assert json.loads((state / "state.json").read_text())["next_frame"] == 4
    return decoded(folder / "whole.mp4"), state


@pytest.fixture(scope="module")
def cat_path_module():
    from conftest import SAMPLES

    return os.path.join(SAMPLES, "chelsea.jpg")


def stopped_copy(renders, tmp_path):
    out = tmp_path / "out.mp4"
    shutil.copytree(renders[1], tmp_path / "out.mp4.dreamvid-state")
    return out, tmp_path / "out.mp4.dreamvid-state"


def edit_json(state, change, reseal=False):
    """Change state.json's fields; `reseal`: with its checksum made to match (a forger, or a bug), so that
    the checks behind the checksum are tested too."""
    path = state / "state.json"
    values = json.loads(path.read_text())
    values.pop("state_sha256")
    change(values)
    if reseal:
        values["state_sha256"] = content_sha256(values)
    path.write_text(json.dumps(values))


def setter(key, value):
    return lambda values: values.__setitem__(key, value)


def remover(key):
    return lambda values: values.pop(key)


def first_seal_changed(values):
    seal = next(iter(values["segments"].values()))
    seal["sha256"] = "0" * 64


JSON_EDITS = {
    "next_frame -8": setter("next_frame", -8), "next_frame 16": setter("next_frame", 16),
    "next_frame 20": setter("next_frame", 20), "next_frame 0": setter("next_frame", 0),
    "next_frame '4'": setter("next_frame", "4"), "next_frame 4.0": setter("next_frame", 4.0),
    "next_frame true": setter("next_frame", True), "segments a list": setter("segments", ["segment_00000.mp4"]),
    "segments empty": setter("segments", {}), "a seal changed": first_seal_changed,
    "identity changed": setter("identity", {}), "fingerprint changed": setter("fingerprint", "0" * 16),
    "joining": setter("joining", True), "an extra key": setter("extra", 1),
    **{f"no {key}": remover(key) for key in ("fingerprint", "next_frame", "segments", "identity", "joining",
                                            "loop_sha256")},
}


def assert_damaged(argv, capsys):
    capsys.readouterr()
    code = run(argv)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "is damaged" in err and "pass --overwrite to start again" in err, err


@pytest.mark.parametrize("reseal", [False, True], ids=["edited", "edited and resealed"])
@pytest.mark.parametrize("edit", JSON_EDITS, ids=list(JSON_EDITS))
def test_every_edit_of_state_json_is_one_line(renders, cat_path_module, tmp_path, capsys, edit, reseal):
    out, state = stopped_copy(renders, tmp_path)
    edit_json(state, JSON_EDITS[edit], reseal)
    if reseal and edit == "fingerprint changed":
        capsys.readouterr()
        assert run(zoom_argv(cat_path_module, out, "--resume")) == 2  # refused as another render's
        assert "cannot resume" in capsys.readouterr().err
    elif reseal and edit in ("a seal changed", "identity changed"):  # a changed segment is rendered again;
        # the identity only words what changed (the fingerprint decides): both give the very same video
        assert run(zoom_argv(cat_path_module, out, "--resume")) == 0
        assert np.array_equal(decoded(out), renders[0])
        return
    else:
        assert_damaged(zoom_argv(cat_path_module, out, "--resume"), capsys)
    assert not out.exists()


def loop_arrays(state):
    with np.load(state / "loop.npz") as archive:
        return {name: archive[name] for name in archive.files}


def nan_arrays(arrays):
    return {name: np.full_like(array, np.nan) if array.dtype.kind == "f" else array for name, array in arrays.items()}


LOOP_EDITS = {
    "NaN arrays": nan_arrays,
    "wrong shapes": lambda arrays: {name: array[:5] for name, array in arrays.items()},
    "a missing key": lambda arrays: dict(list(arrays.items())[1:]),
    "an extra key": lambda arrays: {**arrays, "extra": np.zeros(3)},
}


@pytest.mark.parametrize("edit", LOOP_EDITS, ids=list(LOOP_EDITS))
def test_every_edit_of_loop_npz_is_one_line(renders, cat_path_module, tmp_path, capsys, edit):
    out, state = stopped_copy(renders, tmp_path)
    arrays = LOOP_EDITS[edit](loop_arrays(state))
    np.savez(state / "loop.npz", **arrays)
    assert_damaged(zoom_argv(cat_path_module, out, "--resume"), capsys)


def test_resealed_nan_arrays_are_refused_too(renders, cat_path_module, tmp_path, capsys):
    from dreamvid.render.checkpoint import file_sha256

    out, state = stopped_copy(renders, tmp_path)
    np.savez(state / "loop.npz", **nan_arrays(loop_arrays(state)))
    edit_json(state, setter("loop_sha256", file_sha256(state / "loop.npz")), reseal=True)
    assert_damaged(zoom_argv(cat_path_module, out, "--resume"), capsys)


@pytest.mark.parametrize("advice", [["--resume", "--overwrite"], ["--overwrite"]])
def test_the_advice_works_when_followed(renders, cat_path_module, tmp_path, capsys, advice):
    out, state = stopped_copy(renders, tmp_path)
    edit_json(state, setter("next_frame", 20))
    assert_damaged(zoom_argv(cat_path_module, out, "--resume"), capsys)
    assert run(zoom_argv(cat_path_module, out, *advice)) == 0
    assert np.array_equal(decoded(out), renders[0])
    assert not state.exists()


def test_an_untouched_copy_resumes_into_the_same_video(renders, cat_path_module, tmp_path):
    out, state = stopped_copy(renders, tmp_path)
    assert run(zoom_argv(cat_path_module, out, "--resume")) == 0
    assert np.array_equal(decoded(out), renders[0]) and not state.exists()


@pytest.mark.parametrize("advice", [["--overwrite"], ["--resume"]])
def test_a_state_folder_that_is_a_link_is_removed_never_followed(renders, cat_path_module, tmp_path, capsys, advice):
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(renders[1], elsewhere)
    kept = os.listdir(elsewhere)
    out, state = tmp_path / "out.mp4", tmp_path / "out.mp4.dreamvid-state"
    state.symlink_to(elsewhere)
    for _ in range(2):  # the second run meets whatever the first left behind
        code = run(zoom_argv(cat_path_module, out, *advice, *(["--overwrite"] if "--resume" in advice else [])))
        assert code == 0, capsys.readouterr().err
        assert np.array_equal(decoded(out), renders[0])
    assert set(kept) <= set(os.listdir(elsewhere))  # what the link pointed at is not the render's to delete
    assert not os.path.lexists(state) and not [name for name in os.listdir(tmp_path) if name.startswith(".")]


def test_killed_between_the_outputs_rename_and_its_sidecars_resume_finishes(cat_path_module, tmp_path, capsys,
                                                                           monkeypatch):
    from dreamvid.settings import files

    out = tmp_path / "out.mp4"
    with monkeypatch.context() as patch:
        patch.setattr(files, "commit_sidecar", lambda *args: (_ for _ in ()).throw(KeyboardInterrupt))
        assert run(zoom_argv(cat_path_module, out)) == 130
    assert out.exists() and not (tmp_path / "out.mp4.dreamvid.toml").exists()
    whole = decoded(out)
    capsys.readouterr()
    assert run(zoom_argv(cat_path_module, out, "--resume")) == 0, capsys.readouterr().err
    assert (tmp_path / "out.mp4.dreamvid.toml").exists() and not (tmp_path / "out.mp4.dreamvid-state").exists()
    assert np.array_equal(decoded(out), whole)


def test_an_output_of_another_render_is_still_refused(cat_path_module, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"someone else's video")
    assert run(zoom_argv(cat_path_module, out, "--resume")) == 2
    assert "output exists" in capsys.readouterr().err


def changed_in_the_middle(path):
    """The file's middle bytes changed, its size and modification time (to the nanosecond) kept."""
    info = os.stat(path)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 16] = bytes(16 * [0xAA])
    path.write_bytes(bytes(data))
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert os.stat(path).st_size == info.st_size and os.stat(path).st_mtime_ns == info.st_mtime_ns


def test_the_input_is_known_by_its_content_not_its_size_and_time(tmp_path):
    from dreamvid.render.resume import fingerprint

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(os.urandom(1 << 20))  # the middle is far from the first and last 64 KiB
    before = fingerprint("video", str(clip), {"seed": 1}, (48, 32))
    changed_in_the_middle(clip)
    assert fingerprint("video", str(clip), {"seed": 1}, (48, 32)) != before


def test_a_frame_of_a_sequence_is_known_by_its_content(tmp_path):
    from dreamvid.render.resume import fingerprint

    (tmp_path / "in").mkdir()
    for index in range(3):
        (tmp_path / "in" / f"{index:03d}.png").write_bytes(os.urandom(4096))
    pattern = str(tmp_path / "in" / "%03d.png")
    before = fingerprint("video", pattern, {}, (48, 32))
    changed_in_the_middle(tmp_path / "in" / "001.png")
    assert fingerprint("video", pattern, {}, (48, 32)) != before


def test_a_loops_checkpoint_counts_its_lead_before_the_first_segment():
    from dreamvid.render.checkpoint import RenderState
    from dreamvid.render.resume import layout_problem, segment_name

    lead, size, frames, out = 12, 6, 30, "loop.gif"  # 12 frames dreamed ahead, then 18 written in 3 segments
    check = layout_problem(out, size, frames, lead)
    arrays = {"head": np.zeros(1)}
    names = lambda count: {segment_name(index, out): {} for index in range(count)}  # noqa: E731
    assert check(RenderState("f", next_frame=lead + size, segments=names(1)), arrays) is None
    assert check(RenderState("f", next_frame=lead + 2 * size, segments=names(2)), arrays) is None
    assert check(RenderState("f", next_frame=0), {}) is None  # nothing done yet
    assert "not the end of a segment" in check(RenderState("f", next_frame=size, segments=names(1)), arrays)
    assert "does not match" in check(RenderState("f", next_frame=lead + size, segments=names(2)), arrays)
    assert "not the end of a segment" in check(RenderState("f", next_frame=lead + size + 1, segments=names(1)), arrays)
