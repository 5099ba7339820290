"""Round trips through the real ffmpeg on tiny clips: N frames in, N frames out, failures leave nothing."""

from fractions import Fraction
import os
import subprocess

import cv2
import numpy as np
import pytest

from dreamvid.errors import UserError
from dreamvid.media import process as plumbing
from dreamvid.media.process import fps_fraction
from dreamvid.media.reader import probe_video, read_frames
from dreamvid.media.writer import VideoWriter, even_size
from conftest import RAMP_H as H, RAMP_W as W, ramp_frames as frames

def ffmpeg(*args):
    subprocess.run([plumbing.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def write(path, n=10, fps=10, size=(W, H), **kwargs):
    with VideoWriter(str(path), size, fps, **kwargs) as writer:
        for frame in frames(n, *size):
            writer.write(frame)
    return writer


def recording_popen(monkeypatch):
    """Record the ffmpeg processes that dreamvid starts (reader and writer alike)."""
    started = []
    popen = plumbing.popen
    monkeypatch.setattr(plumbing, "popen", lambda *a, **k: started.append(popen(*a, **k)) or started[-1])
    return started


def test_fps_fraction_recovers_exact_rates():
    assert fps_fraction(29.97) == Fraction(30000, 1001)
    assert fps_fraction(23.98) == Fraction(24000, 1001)
    assert fps_fraction(59.94) == Fraction(60000, 1001)
    assert fps_fraction(25) == 25 and fps_fraction(12.5) == Fraction(25, 2)
    assert fps_fraction("30000/1001") == Fraction(30000, 1001)
    with pytest.raises(UserError):
        fps_fraction(0)


def test_even_size_rounds_down():
    assert even_size(65, 47) == (64, 46) and even_size(64, 48) == (64, 48)


@pytest.mark.parametrize("fps", [Fraction(30000, 1001), Fraction(25), Fraction(10)])
def test_mp4_round_trip_keeps_count_size_rate_and_order(tmp_path, monkeypatch, fps):
    path = tmp_path / "out.mp4"
    started = recording_popen(monkeypatch)
    assert write(path, n=10, fps=fps).frames_written == 10
    assert f"{fps.numerator}/{fps.denominator}" in started[0].args  # exact, not 29.97
    info = probe_video(str(path))
    assert (info.width, info.height, info.fps, info.frame_count, info.has_audio) == (W, H, fps, 10, False)
    back = list(read_frames(str(path)))
    assert len(back) == 10 and all(f.shape == (H, W, 3) and f.dtype == np.uint8 for f in back)
    for sent, got in zip(frames(10), back):
        assert np.abs(sent.astype(int) - got).mean() < 3
    assert os.listdir(tmp_path) == ["out.mp4"]


@pytest.mark.parametrize("name", ["out.webm", "out.gif", "out.mkv", "out.mov"])
def test_other_containers_round_trip(tmp_path, name):
    write(tmp_path / name, n=10)
    assert len(list(read_frames(str(tmp_path / name)))) == 10
    assert os.listdir(tmp_path) == [name]


def test_png_sequence_written_as_a_whole_folder(tmp_path):
    write(tmp_path / "seq" / "%05d.png", n=10, size=(65, 47))  # odd sizes are fine for PNG
    names = sorted(os.listdir(tmp_path / "seq"))
    assert names == [f"{i:05d}.png" for i in range(1, 11)]
    first = cv2.imread(str(tmp_path / "seq" / names[0]))
    assert first.shape == (47, 65, 3) and np.array_equal(first[..., ::-1], frames(1, 65, 47)[0])
    assert len(list(read_frames(str(tmp_path / "seq" / "%05d.png")))) == 10
    assert sorted(os.listdir(tmp_path)) == ["seq"]


def test_png_sequence_refuses_existing_folder_unless_overwrite(tmp_path):
    pattern = tmp_path / "seq" / "%05d.png"
    write(pattern, n=3)
    with pytest.raises(UserError, match="output exists.*pass --overwrite"):
        write(pattern, n=2)
    write(pattern, n=2, overwrite=True)
    assert len(os.listdir(tmp_path / "seq")) == 2 and sorted(os.listdir(tmp_path)) == ["seq"]
    (tmp_path / "seq" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="other than"):
        write(pattern, n=2, overwrite=True)


def test_read_frames_scales_seeks_and_limits(tmp_path):
    path = tmp_path / "ramp.mkv"
    write(path, n=10, fps=10)
    small = list(read_frames(str(path), size=(32, 24)))
    assert len(small) == 10 and small[0].shape == (24, 32, 3)
    later = list(read_frames(str(path), start=0.5))
    assert len(later) == 5 and abs(later[0].mean() - frames(10)[5].mean()) < 3
    assert len(list(read_frames(str(path), max_frames=3))) == 3
    assert len(list(read_frames(str(path), start=0.2, duration=0.3))) == 3


def test_read_past_the_end_names_the_clip_length(tmp_path):
    write(tmp_path / "a.mp4", n=10)
    with pytest.raises(UserError, match=r"no frames.*clip is 1\.0 s long"):
        list(read_frames(str(tmp_path / "a.mp4"), start=5))


def test_closing_the_reader_early_kills_ffmpeg(tmp_path, monkeypatch):
    write(tmp_path / "a.mp4", n=10)
    started = recording_popen(monkeypatch)
    reader = read_frames(str(tmp_path / "a.mp4"))
    next(reader)
    reader.close()
    assert started[0].returncode is not None


def test_truncated_file_is_a_user_error(tmp_path):
    path = tmp_path / "a.mp4"
    write(path, n=40)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # +faststart puts the index first, so the frames are cut
    with pytest.raises(UserError, match=r"could not decode .*a\.mp4: (Decoding error|.*partial file)"):
        list(read_frames(str(path)))


def test_bad_inputs_are_user_errors(tmp_path, clip_with_audio):
    (tmp_path / "notes.txt").write_text("not a video")
    ffmpeg("-i", str(clip_with_audio), "-vn", str(tmp_path / "sound.wav"))
    ffmpeg("-i", str(clip_with_audio), "-frames:v", "1", str(tmp_path / "still.png"))
    cases = {"notes.txt": "not a video", "missing.mp4": "no such", "sound.wav": "no video stream",
             "still.png": "still image"}
    for name, message in cases.items():
        with pytest.raises(UserError, match=message):
            probe_video(str(tmp_path / name))
        with pytest.raises(UserError, match=name):
            read_frames(str(tmp_path / name))


@pytest.mark.parametrize("n", [1, 20])  # found on close, or as a broken pipe while writing
def test_ffmpeg_failure_reports_its_text_and_leaves_nothing(tmp_path, n):
    with pytest.raises(UserError, match="Unknown encoder 'nonexistent_encoder'"):
        write(tmp_path / "out.mp4", n=n, codec="nonexistent_encoder")
    assert os.listdir(tmp_path) == []


def test_ffmpeg_dying_midstream_is_reported_even_when_silent(tmp_path):
    with pytest.raises(UserError, match="said nothing and exited with code"):
        with VideoWriter(str(tmp_path / "out.mp4"), (W, H), 10) as writer:
            writer._proc.kill()
            for _ in range(100):  # until the pipe breaks
                writer.write(frames(1)[0])
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_exception_inside_with_kills_ffmpeg_and_leaves_nothing(tmp_path, monkeypatch, error):
    started = recording_popen(monkeypatch)
    with pytest.raises(error):
        with VideoWriter(str(tmp_path / "out.mp4"), (W, H), 10) as writer:
            writer.write(frames(1)[0])
            raise error()
    assert started[0].returncode is not None and os.listdir(tmp_path) == []


def test_wrong_frame_size_is_a_value_error_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        with VideoWriter(str(tmp_path / "out.mp4"), (W, H), 10) as writer:
            writer.write(frames(1, W + 2, H)[0])
    assert os.listdir(tmp_path) == []


def test_existing_output_is_refused_without_overwrite(tmp_path):
    path = tmp_path / "out.mp4"
    write(path, n=3)
    with pytest.raises(UserError, match="output exists.*pass --overwrite"):
        write(path, n=5)
    write(path, n=5, overwrite=True)
    assert probe_video(str(path)).frame_count == 5 and os.listdir(tmp_path) == ["out.mp4"]


def test_bad_targets_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="65x48.*even.*64x48"):
        VideoWriter(str(tmp_path / "out.mp4"), (65, 48), 10)
    with pytest.raises(UserError, match=r"\.mp4.*\.webm.*\.gif"):
        VideoWriter(str(tmp_path / "out.avi"), (W, H), 10)
    with pytest.raises(UserError, match="does not exist"):
        VideoWriter(str(tmp_path / "nowhere" / "out.mp4"), (W, H), 10)
    write(tmp_path / "odd.gif", n=3, size=(65, 47))
    assert probe_video(str(tmp_path / "odd.gif")).size == (65, 47)
    assert os.listdir(tmp_path) == ["odd.gif"]


# Popen's parameters in Python 3.10, the oldest Python dreamvid supports (process_group came in 3.11)
PYTHON_3_10_POPEN = {"bufsize", "executable", "stdin", "stdout", "stderr", "preexec_fn", "close_fds", "shell", "cwd",
                     "env", "universal_newlines", "startupinfo", "creationflags", "restore_signals",
                     "start_new_session", "pass_fds", "user", "group", "extra_groups", "encoding", "errors", "text",
                     "umask", "pipesize"}


def test_ffmpeg_starts_in_a_session_of_its_own_with_what_python_3_10_accepts(monkeypatch):
    seen, real = [], subprocess.Popen
    monkeypatch.setattr(subprocess, "Popen", lambda args, **kwargs: seen.append(kwargs) or real(args, **kwargs))
    proc = plumbing.popen([plumbing.ffmpeg_exe(), "-version"], stdout=subprocess.DEVNULL)
    try:
        assert os.getsid(proc.pid) == proc.pid  # Ctrl-C in the terminal reaches Python only, which stops ffmpeg
    finally:
        proc.wait()
    assert set(seen[0]) <= PYTHON_3_10_POPEN, set(seen[0]) - PYTHON_3_10_POPEN
