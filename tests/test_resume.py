"""Interrupted zoom renders (Ctrl-C, kill -9) resume from their last checkpoint into the very same video."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import REPO, decoded, slowed_cli
from dreamvid.cli import run

FAST = ["--size", "48", "--octaves", "1", "--iterations", "1", "--device", "cpu"]


def zoom_argv(source, out, frames, *extra):
    return ["zoom", str(source), "-o", str(out), *FAST, "--frames", str(frames), "--checkpoint-frames", "4", *extra]


def next_frame(out):
    """The checkpoint's next frame, or None while there is no checkpoint."""
    try:
        with open(f"{out}.dreamvid-state/state.json", encoding="utf-8") as handle:
            return json.load(handle)["next_frame"]
    except (OSError, ValueError):
        return None  # not written yet (it is replaced atomically, so never half-written)


def test_resume_after_ctrl_c_gives_the_same_video(cat_path, tmp_path, capsys, dream_calls):
    calls, stop_at = dream_calls
    whole, resumed = tmp_path / "a.mp4", tmp_path / "b.mp4"
    assert run(zoom_argv(cat_path, whole, 10)) == 0

    stop_at.add(7)
    calls.clear()
    assert run(zoom_argv(cat_path, resumed, 10)) == 130
    assert "--resume continues from frame 4 of 10" in capsys.readouterr().err
    assert calls == list(range(8))
    assert not resumed.exists() and next_frame(resumed) == 4
    state = tmp_path / "b.mp4.dreamvid-state"
    assert sorted(os.listdir(state)) == ["loop.npz", "segment_00000.mp4", "state.json"]  # no half segment
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".b")]

    calls.clear()
    assert run(zoom_argv(cat_path, resumed, 10, "--resume")) == 0, capsys.readouterr().err
    assert calls == list(range(4, 10))  # frames 0-3 came from the checkpoint
    assert not state.exists() and (tmp_path / "b.mp4.dreamvid.toml").exists()
    a, b = decoded(whole), decoded(resumed)
    assert a.shape == b.shape == (10, 32, 48, 3)
    for index, (frame_a, frame_b) in enumerate(zip(a, b)):
        assert np.array_equal(frame_a, frame_b), f"frame {index} differs"


def test_resume_refuses_other_settings_and_overwrite_starts_again(cat_path, tmp_path, capsys, dream_calls):
    calls, stop_at = dream_calls
    out = tmp_path / "z.mp4"
    stop_at.add(5)
    assert run(zoom_argv(cat_path, out, 6)) == 130
    assert next_frame(out) == 4
    capsys.readouterr()

    assert run(zoom_argv(cat_path, out, 6, "--resume", "--zoom", "1.5")) == 2
    err = capsys.readouterr().err
    assert "other settings" in err and err.count("\n") == 1, err
    assert next_frame(out) == 4 and not out.exists()  # the checkpoint is kept

    assert run(zoom_argv(cat_path, out, 6)) == 2
    err = capsys.readouterr().err
    assert "--resume" in err and "--overwrite" in err and err.count("\n") == 1, err

    calls.clear()
    assert run(zoom_argv(cat_path, out, 6, "--overwrite", "--zoom", "1.5")) == 0
    assert calls == list(range(6))
    assert len(decoded(out)) == 6 and not (tmp_path / "z.mp4.dreamvid-state").exists()


def test_resume_with_nothing_to_resume_renders_from_the_start(cat_path, tmp_path, capsys):
    out = tmp_path / "fresh.mp4"
    assert run(zoom_argv(cat_path, out, 3, "--resume")) == 0
    assert "nothing to resume" in capsys.readouterr().err
    assert len(decoded(out)) == 3


def test_png_sequence_resumes(cat_path, tmp_path, capsys, dream_calls):
    calls, stop_at = dream_calls
    pattern = tmp_path / "frames" / "%05d.png"
    stop_at.add(5)
    assert run(zoom_argv(cat_path, pattern, 6)) == 130
    assert sorted(os.listdir(tmp_path)) == ["frames.dreamvid-state"]  # beside the frames, not inside
    calls.clear()
    assert run(zoom_argv(cat_path, pattern, 6, "--resume")) == 0, capsys.readouterr().err
    assert calls == [4, 5]
    assert sorted(os.listdir(tmp_path / "frames")) == [f"{i:05d}.png" for i in range(1, 7)]
    assert sorted(os.listdir(tmp_path)) == ["frames", "frames.dreamvid.toml"]


# The real CLI in a child process, each frame after the first checkpoint slowed down so that the kill
# always lands inside the second segment (with its ffmpeg open) and never after the render ends.
KILLABLE = slowed_cli(5, 1.0)


def child_pids(pid):
    """Processes whose parent is `pid` (Linux /proc); [] elsewhere."""
    children = []
    for entry in filter(str.isdigit, os.listdir("/proc") if os.path.isdir("/proc") else []):
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])  # the name may hold spaces
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            children.append(int(entry))
    return children


def wait_until_gone(pids, deadline):
    """Wait for the killed render's ffmpeg to finish its (orphaned) partial segment."""
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
                    if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                        break
            except OSError:
                break
            time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="kill -9")
def test_resume_after_kill_9_gives_the_same_video(cat_path, tmp_path, capsys):
    killed, whole = tmp_path / "killed.mp4", tmp_path / "whole.mp4"
    env = {**os.environ, "DREAMVID_OFFLINE": "1", "PYTHONPATH": REPO}
    open_segment = tmp_path / "killed.mp4.dreamvid-state" / ".segment_00001.partial.mp4"
    deadline = time.monotonic() + 120
    with open(tmp_path / "child.log", "wb") as log:
        child = subprocess.Popen([sys.executable, "-c", KILLABLE, *zoom_argv(cat_path, killed, 16)],
                                 cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        try:
            # wait for the checkpoint after frame 3, and for frame 4 to open the second segment's file
            while not open_segment.exists() and child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            assert child.poll() is None, (tmp_path / "child.log").read_text()
            assert open_segment.exists(), "the second segment did not start within the time limit"
            encoders = child_pids(child.pid)
            os.kill(child.pid, signal.SIGKILL)
            assert child.wait(timeout=30) == -signal.SIGKILL
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    wait_until_gone(encoders, deadline)
    assert not killed.exists() and next_frame(killed) == 4  # frames 5-7 take 3 s: no later checkpoint

    assert run(zoom_argv(cat_path, killed, 16, "--resume")) == 0, capsys.readouterr().err
    assert run(zoom_argv(cat_path, whole, 16)) == 0
    assert not (tmp_path / "killed.mp4.dreamvid-state").exists()
    a, b = decoded(whole), decoded(killed)
    assert a.shape == b.shape == (16, 32, 48, 3)
    for index, (frame_a, frame_b) in enumerate(zip(a, b)):
        assert np.array_equal(frame_a, frame_b), f"frame {index} differs"


def test_fingerprint_follows_the_files_a_render_reads(tmp_path):
    from dreamvid.render.resume import fingerprint

    guide = tmp_path / "guide.png"
    guide.write_bytes(b"one")
    settings = {"guide": str(guide), "seed": 1}
    before = fingerprint("zoom", "", settings, (48, 32))
    assert fingerprint("zoom", "", settings, (48, 32)) == before
    guide.write_bytes(b"other content")
    assert fingerprint("zoom", "", settings, (48, 32)) != before
    assert fingerprint("zoom", "", {**settings, "seed": 2}, (48, 32)) != fingerprint("zoom", "", settings, (48, 32))
