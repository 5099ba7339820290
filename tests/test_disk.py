"""A full, read-only or forbidden disk is one line naming the file and what to do (exit 2), never a
traceback, and a render's checkpoint is kept so that --resume finishes once there is space.

Full disks are made by monkeypatching the low-level write to raise OSError(ENOSPC): no root tricks."""

import errno
import os

import numpy as np
import pytest

from conftest import decoded
from dreamvid.cli import run
from dreamvid.errors import UserError, WriteFailed, write_failure, writing

FAST = ["--size", "48", "--octaves", "1", "--iterations", "1", "--device", "cpu"]


def zoom_argv(source, out, *extra):
    return ["zoom", str(source), "-o", str(out), *FAST, "--frames", "8", "--checkpoint-frames", "4", *extra]


def one_line(code, capsys, *words):
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert code == 2 and "Traceback" not in err and last.startswith("dreamvid"), err
    for word in words:
        assert word in last, last
    return last


def failing_on(calls_to_fail, error_number=errno.ENOSPC):
    """A stand-in for a write function that raises OSError(error_number) on the calls numbered in
    `calls_to_fail` (1 = the first) and otherwise calls the real one."""
    def wrap(real):
        count = [0]

        def write(*args, **kwargs):
            count[0] += 1
            if count[0] in calls_to_fail:
                raise OSError(error_number, os.strerror(error_number))
            return real(*args, **kwargs)
        return write
    return wrap


@pytest.mark.parametrize("error_number", [errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES])
def test_every_refused_write_is_one_line_naming_the_file(error_number):
    with pytest.raises(WriteFailed) as failure:
        with writing("/somewhere/out.png"):
            raise OSError(error_number, os.strerror(error_number))
    message = str(failure.value)
    assert message.startswith("cannot write /somewhere/out.png: " + os.strerror(error_number)) and "\n" not in message
    assert isinstance(failure.value, UserError)


def test_other_errors_pass_through():
    with pytest.raises(FileNotFoundError):
        with writing("x"):
            raise FileNotFoundError(errno.ENOENT, "no such file")
    assert write_failure(ValueError("x")) is None


@pytest.mark.parametrize("extension", ["png", "jpg"])
def test_a_full_disk_writing_a_still_is_one_line(cat_path, tmp_path, capsys, monkeypatch, extension):
    from PIL import Image

    out = tmp_path / f"out.{extension}"
    monkeypatch.setattr(Image.Image, "save", failing_on({1})(Image.Image.save))
    last = one_line(run(["image", cat_path, "-o", str(out), *FAST]), capsys, str(out), "No space left", "free some space")
    assert "run the same command again" in last
    assert sorted(os.listdir(tmp_path)) == []  # no output, no temporary file, no lock, no sidecar


def test_a_read_only_output_folder_is_one_line_from_the_lock(cat_path, tmp_path, capsys, monkeypatch):
    import builtins

    real_open = builtins.open

    def read_only(path, *args, **kwargs):
        if str(path).endswith(".dreamvid-lock"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", read_only)
    one_line(run(zoom_argv(cat_path, tmp_path / "out.mp4")), capsys, "out.mp4.dreamvid-lock", "Read-only")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes whatever a folder's mode says: the monkeypatched "
                    "read-only test above stands in for it")
def test_a_folder_without_write_permission_is_one_line(cat_path, tmp_path, capsys):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        one_line(run(zoom_argv(cat_path, folder / "out.mp4")), capsys, "not writable")
    finally:
        folder.chmod(0o700)


def test_a_full_disk_at_a_checkpoint_keeps_the_last_one_and_resume_finishes(cat_path, tmp_path, capsys, monkeypatch):
    from dreamvid.render import checkpoint

    whole, out = tmp_path / "whole.mp4", tmp_path / "out.mp4"
    assert run(zoom_argv(cat_path, whole)) == 0
    with monkeypatch.context() as patch:
        patch.setattr(checkpoint.np, "savez", failing_on({2})(np.savez))  # the checkpoint at frame 8
        last = one_line(run(zoom_argv(cat_path, out)), capsys, "loop.npz", "No space left",
                        "--resume continues from frame 4 of 8")
    assert not out.exists() and "partial" not in " ".join(os.listdir(tmp_path / "out.mp4.dreamvid-state")), last
    assert run(zoom_argv(cat_path, out, "--resume")) == 0
    assert np.array_equal(decoded(out), decoded(whole))


def test_a_full_disk_at_the_first_checkpoint_leaves_nothing(cat_path, tmp_path, capsys, monkeypatch):
    from dreamvid.render import checkpoint

    monkeypatch.setattr(checkpoint.np, "savez", failing_on({1})(np.savez))
    one_line(run(zoom_argv(cat_path, tmp_path / "out.mp4")), capsys, "No space left", "run the same command again")
    assert os.listdir(tmp_path) == []


def test_a_full_disk_at_the_join_keeps_the_frames_and_resume_joins(cat_path, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out.mp4"
    real_replace = os.replace

    def full_at_the_output(source, target, *args, **kwargs):
        if str(target) == str(out):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_replace(source, target, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", full_at_the_output)
        one_line(run(zoom_argv(cat_path, out)), capsys, str(out), "--resume joins the finished frames")
    assert not out.exists() and not [name for name in os.listdir(tmp_path) if "partial" in name]
    assert run(zoom_argv(cat_path, out, "--resume")) == 0
    assert len(decoded(out)) == 8 and (tmp_path / "out.mp4.dreamvid.toml").exists()


def test_a_full_disk_joining_a_png_sequence_is_one_line(cat_path, tmp_path, capsys, monkeypatch):
    from dreamvid.media import segments

    out = tmp_path / "frames" / "%05d.png"
    with monkeypatch.context() as patch:
        patch.setattr(segments, "link_or_copy", failing_on({3})(segments.link_or_copy))
        one_line(run(zoom_argv(cat_path, out)), capsys, "No space left", "--resume")
    assert run(zoom_argv(cat_path, out, "--resume")) == 0
    assert len(os.listdir(tmp_path / "frames")) == 8


def test_an_oserror_no_writer_worded_is_still_one_line(cat_path, tmp_path, capsys, monkeypatch):
    from dreamvid import api

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "somewhere"))

    monkeypatch.setattr(api, "render_image", full)
    one_line(run(["image", cat_path, "-o", str(tmp_path / "o.png")]), capsys, "somewhere", "No space left")


def ffmpeg_refusing(marker, report):
    """A stand-in for process.popen: the ffmpeg whose arguments name `marker` takes its input, then fails as ffmpeg
    does when the disk refuses the write, printing `report`; the others are real."""
    import subprocess
    import sys

    from dreamvid.media import process

    real = process.popen

    def popen(args, **kwargs):
        if marker not in " ".join(map(str, args)):
            return real(args, **kwargs)
        script = f"import sys; sys.stdin and sys.stdin.buffer.read(); sys.stderr.write({report!r}); sys.exit(1)"
        return subprocess.Popen([sys.executable, "-c", script], **kwargs)

    return popen


def test_ffmpeg_reporting_a_full_disk_on_a_segment_keeps_the_checkpoint_and_resume_finishes(cat_path, tmp_path,
                                                                                             capsys, monkeypatch):
    from dreamvid.media import process

    whole, out = tmp_path / "whole.mp4", tmp_path / "out.mp4"
    assert run(zoom_argv(cat_path, whole)) == 0
    with monkeypatch.context() as patch:  # the second segment's encoder (frames 4-7) finds the disk full
        patch.setattr(process, "popen", ffmpeg_refusing("segment_00001", "[out#0/mp4] Error writing trailer: "
                                                                         "No space left on device\n"))
        one_line(run(zoom_argv(cat_path, out)), capsys, "No space left on device", "free some space",
                 "--resume continues from frame 4 of 8")
    assert not out.exists()
    assert run(zoom_argv(cat_path, out, "--resume")) == 0
    assert np.array_equal(decoded(out), decoded(whole))


def test_ffmpeg_refused_a_read_is_not_called_a_full_disk():
    from dreamvid.errors import reported_write_failure

    assert reported_write_failure("song.mp3: Permission denied", "out.mp4") is None
    assert "Read-only file system" in str(reported_write_failure("out.mp4: Read-only file system", "out.mp4"))
