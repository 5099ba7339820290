"""Interrupted zoom renders (Ctrl-C, kill -9) resume from their last checkpoint into the very same video."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

from PIL import Image
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


# ---------------------------------------------------------------- durable checkpoints (issue 23)


def finished_state(monkeypatch, argv):
    """Render `argv` up to the join and stop there: the state says every frame is in."""
    from dreamvid.render import loop

    def stop(*args):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(loop, "finish_render", stop)
        assert run(argv) == 130


def png_frames(folder):
    return [np.asarray(Image.open(os.path.join(folder, name))) for name in sorted(os.listdir(folder))]


FILE_OPERATIONS = ("replace", "rename", "link", "unlink", "remove", "rmdir")


def stopping_at(monkeypatch, step):
    """os's file operations that raise KeyboardInterrupt at the `step`-th one (a kill at that moment);
    returns how many were made."""
    made = [0]

    def counted(operation):
        def wrapper(*args, **kwargs):
            made[0] += 1
            if made[0] == step:
                raise KeyboardInterrupt
            return operation(*args, **kwargs)
        return wrapper

    for name in FILE_OPERATIONS:
        monkeypatch.setattr(os, name, counted(getattr(os, name)))
    return made


def test_png_sequence_join_interrupted_at_every_step_is_never_short(cat_path, tmp_path, monkeypatch, capsys):
    from dreamvid.render import loop

    reference = tmp_path / "reference" / "%05d.png"
    assert run(zoom_argv(cat_path, reference, 6, "--checkpoint-frames", "3")) == 0
    expected = png_frames(reference.parent)
    pattern = tmp_path / "out" / "frames" / "%05d.png"
    (tmp_path / "out").mkdir()
    argv = zoom_argv(cat_path, pattern, 6, "--checkpoint-frames", "3", "--resume")
    template = tmp_path / "finished-state"
    finished_state(monkeypatch, argv)
    shutil.copytree(tmp_path / "out" / "frames.dreamvid-state", template)
    original_finish = loop.finish_render
    for step in range(1, 80):
        shutil.rmtree(tmp_path / "out")
        shutil.copytree(template, tmp_path / "out" / "frames.dreamvid-state")
        made = [0]

        def finish(*args):
            with monkeypatch.context() as patch:
                made[:] = stopping_at(patch, step)
                return original_finish(*args)

        with monkeypatch.context() as patch:
            patch.setattr(loop, "finish_render", finish)
            code = run(argv)
        capsys.readouterr()
        if code == 0:  # no step left to interrupt
            break
        assert code == 130
        code = run(argv)  # the --resume after the kill
        if code == 2:  # the join was done: the output is there, and --resume does not replace it by itself
            assert "output exists" in capsys.readouterr().err
            code = run([*argv, "--overwrite"])
        assert code == 0, (step, capsys.readouterr().err)
        frames = png_frames(pattern.parent)
        assert len(frames) == 6 and all(np.array_equal(a, b) for a, b in zip(frames, expected)), step
        assert sorted(os.listdir(tmp_path / "out")) == ["frames", "frames.dreamvid.toml"], step
    else:
        pytest.fail("the join never finished")
    assert step > 10  # every link, the swap, the settings and the clean-up were each interrupted once
    assert run([*argv, "--overwrite"]) == 0  # a finished join is not undone by --resume --overwrite
    assert len(png_frames(pattern.parent)) == 6


def test_a_kill_at_any_moment_of_a_checkpoint_s_save_resumes_into_the_same_video(cat_path, tmp_path, monkeypatch,
                                                                                  capsys):
    """Killed at each file operation of the second checkpoint's save: the resume gives the uninterrupted video.
    Between the save's two renames the old order (arrays, then the JSON) left new arrays under the old JSON: a
    damaged checkpoint (exit 2); the JSON's rename is now the one step that moves the checkpoint on."""
    from dreamvid.render import loop

    whole = tmp_path / "whole.mp4"
    assert run(zoom_argv(cat_path, whole, 10)) == 0
    expected, original_save = decoded(whole), loop.save_state
    for step in range(1, 20):
        out = tmp_path / f"killed{step}.mp4"
        saves, made = [0], [[0]]  # made[0]: the file operations the second save made (stopping_at counts)

        def save(*args):
            saves[0] += 1
            if saves[0] != 2:
                return original_save(*args)
            with monkeypatch.context() as patch:
                made[0] = stopping_at(patch, step)
                original_save(*args)
            if made[0][0] < step:  # every operation of the save done: nothing left to interrupt
                raise KeyboardInterrupt

        with monkeypatch.context() as patch:
            patch.setattr(loop, "save_state", save)
            assert run(zoom_argv(cat_path, out, 10)) == 130
        capsys.readouterr()
        assert run(zoom_argv(cat_path, out, 10, "--resume")) == 0, (step, capsys.readouterr().err)
        assert np.array_equal(decoded(out), expected), step
        if made[0][0] < step:
            break
    else:
        pytest.fail("the save never finished")
    assert step >= 3  # the two renames and the clean-up were each interrupted


@pytest.mark.parametrize("damage", ["delete", "empty", "truncate", "change"])
@pytest.mark.parametrize("index", [0, 1])
def test_a_damaged_segment_is_rendered_again_never_joined_short(cat_path, tmp_path, monkeypatch, capsys, damage,
                                                                  index):
    whole, out = tmp_path / "whole.mp4", tmp_path / "out.mp4"
    assert run(zoom_argv(cat_path, whole, 8)) == 0
    finished_state(monkeypatch, zoom_argv(cat_path, out, 8))
    segment = tmp_path / "out.mp4.dreamvid-state" / f"segment_{index:05d}.mp4"
    data = segment.read_bytes()
    if damage == "delete":
        segment.unlink()
    else:
        changed = {"empty": b"", "truncate": data[:len(data) // 2],
                   "change": data[:-64] + bytes(64 * [0x55])}[damage]
        segment.write_bytes(changed)
    capsys.readouterr()
    assert run(zoom_argv(cat_path, out, 8, "--resume")) == 0, capsys.readouterr().err
    assert f"segment_{index:05d}.mp4" in capsys.readouterr().err  # one line said which, and that it is redone
    a, b = decoded(whole), decoded(out)
    assert a.shape == b.shape == (8, 32, 48, 3) and np.array_equal(a, b)


@pytest.mark.parametrize("damage", [b"PK\x03\x04 not a whole archive", b""])  # BadZipFile, EOFError
def test_a_damaged_loop_state_is_one_line_and_kept(cat_path, tmp_path, capsys, dream_calls, damage):
    calls, stop_at = dream_calls
    out = tmp_path / "z.mp4"
    stop_at.add(5)
    assert run(zoom_argv(cat_path, out, 6)) == 130
    (tmp_path / "z.mp4.dreamvid-state" / "loop.npz").write_bytes(damage)
    capsys.readouterr()
    assert run(zoom_argv(cat_path, out, 6, "--resume")) == 2
    err = capsys.readouterr().err
    assert "damaged" in err and "--overwrite" in err and err.count("\n") == 1, err
    assert next_frame(out) == 4  # kept as it was


def test_a_refused_resume_says_what_changed(cat_path, tmp_path, capsys, dream_calls):
    calls, stop_at = dream_calls
    out = tmp_path / "z.mp4"
    stop_at.add(5)
    assert run(zoom_argv(cat_path, out, 6, "--zoom", "1.05")) == 130
    capsys.readouterr()
    assert run(zoom_argv(cat_path, out, 6, "--resume", "--zoom", "1.5")) == 2
    err = capsys.readouterr().err
    assert "zoom: 1.05 -> 1.5" in err and err.count("\n") == 1, err
    other = tmp_path / "other.jpg"
    shutil.copyfile(cat_path, other)
    assert run(zoom_argv(other, out, 6, "--resume", "--zoom", "1.05")) == 2
    err = capsys.readouterr().err
    assert f"the input {other} changed" in err and err.count("\n") == 1, err


def test_a_changed_frame_sequence_input_is_refused(tmp_path, capsys, dream_calls):
    calls, stop_at = dream_calls
    source = tmp_path / "source"
    source.mkdir()
    for t in range(8):
        Image.fromarray(np.full((32, 48, 3), 20 + 20 * t, np.uint8)).save(source / f"{t + 1:04d}.png")
    out = tmp_path / "dream.mp4"
    argv = ["video", str(source / "%04d.png"), "-o", str(out), *FAST, "--checkpoint-frames", "4", "--flow", "none"]
    stop_at.add(5)
    assert run(argv) == 130 and next_frame(out) == 4
    capsys.readouterr()
    Image.fromarray(np.full((32, 48, 3), 250, np.uint8)).save(source / "0007.png")  # a later frame replaced
    assert run([*argv, "--resume"]) == 2
    err = capsys.readouterr().err
    assert "%04d.png changed" in err and err.count("\n") == 1, err
    assert next_frame(out) == 4


def test_ctrl_c_during_the_join_ends_the_joiner_and_says_how_to_resume(cat_path, tmp_path, monkeypatch, capsys):
    from dreamvid.media import process

    out = tmp_path / "z.mp4"
    real_popen, joiners = process.popen, []

    def popen(args, **kwargs):
        if "concat" not in args:
            return real_popen(args, **kwargs)
        joiner = real_popen(["sleep", "60"], **kwargs)  # a joiner that is still running at the interrupt
        joiners.append(joiner)
        real_wait = joiner.wait

        def wait(*args, **kwargs):
            joiner.wait = real_wait
            raise KeyboardInterrupt

        joiner.wait = wait
        return joiner

    with monkeypatch.context() as patch:
        patch.setattr(process, "popen", popen)
        assert run(zoom_argv(cat_path, out, 8)) == 130
    err = capsys.readouterr().err
    assert "--resume" in err.splitlines()[-1], err
    assert joiners and joiners[0].poll() is not None  # ended, not left running
    assert sorted(os.listdir(tmp_path / "z.mp4.dreamvid-state")) == [
        "loop.npz", "segment_00000.mp4", "segment_00001.mp4", "state.json"]  # no concat list, no partial output
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".z")]
    assert run(zoom_argv(cat_path, out, 8, "--resume")) == 0
    assert len(decoded(out)) == 8


# The CLI in a child process whose joiner is `sleep` (so that a signal always lands during the join);
# the joiner's pid is written to JOINER_PID when it starts.
SLOW_JOIN = """
import os, runpy, sys
from dreamvid.media import process
real = process.popen
def popen(args, **kwargs):
    if "concat" in args:
        joiner = real(["sleep", "60"], **kwargs)
        open(os.environ["JOINER_PID"], "w").write(str(joiner.pid))
        return joiner
    return real(args, **kwargs)
process.popen = popen
sys.argv = ["dreamvid", *sys.argv[1:]]
runpy.run_module("dreamvid", run_name="__main__", alter_sys=True)
"""


@pytest.mark.skipif(os.name != "posix", reason="signals")
@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_during_the_join_ends_it_cleanly(cat_path, tmp_path, capsys, signal_number):
    out, temporary, joiner_pid = tmp_path / "z.mp4", tmp_path / "tmp", tmp_path / "joiner.pid"
    temporary.mkdir()
    env = {**os.environ, "DREAMVID_OFFLINE": "1", "PYTHONPATH": REPO, "TMPDIR": str(temporary),
           "JOINER_PID": str(joiner_pid)}
    child = subprocess.Popen([sys.executable, "-c", SLOW_JOIN, *zoom_argv(cat_path, out, 8)], cwd=tmp_path,
                             env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    deadline = time.monotonic() + 120
    while not joiner_pid.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    child.send_signal(signal_number)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 128 + signal_number, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("dreamvid: ") and "--resume" in last and "Traceback" not in err, err
    pid = int(joiner_pid.read_text())
    assert not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1][:3]
    assert os.listdir(temporary) == []  # the concat list is not left behind
    assert "join.partial.txt" not in os.listdir(tmp_path / "z.mp4.dreamvid-state")
    assert run(zoom_argv(cat_path, out, 8, "--resume")) == 0
    assert len(decoded(out)) == 8


def test_a_full_disk_writing_the_settings_is_one_line_and_resumable(cat_path, tmp_path, monkeypatch, capsys):
    import builtins

    out = tmp_path / "z.mp4"
    real_open = builtins.open

    def full_disk(path, *args, **kwargs):
        if str(path).endswith(".dreamvid.toml.partial"):
            raise OSError(28, "No space left on device")
        return real_open(path, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(builtins, "open", full_disk)
        assert run(zoom_argv(cat_path, out, 8)) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err.splitlines()[-1] and "Traceback" not in err, err
    assert next_frame(out) == 8 and not out.exists()  # kept, with nothing half-written beside it
    assert run(zoom_argv(cat_path, out, 8, "--resume")) == 0
    assert len(decoded(out)) == 8 and (tmp_path / "z.mp4.dreamvid.toml").exists()
