"""The join of a render's segments into its output: frames in order, and the one place where the
sound is muxed (the stretch of the source that was dreamed, padded, never cutting the video)."""

import os

import pytest

from dreamvid.errors import UserError
from dreamvid.media.audio import AudioSource
from dreamvid.media.reader import probe_video, read_frames
from dreamvid.media.segments import join_segments
from dreamvid.media.writer import VideoWriter
from conftest import RAMP_H as H, RAMP_W as W, RATE, audio, ramp_frames as frames, rms


def write_joined(path, n=10, fps=10, audio=None, segment_frames=4):
    """Write n frames as segments of `segment_frames` (as a render does), then join them with the sound."""
    folder = path.parent / f"{path.name}.segments"
    folder.mkdir()
    segments, clip = [], frames(n)
    for index, start in enumerate(range(0, n, segment_frames)):
        segments.append(str(folder / f"segment_{index:05d}{path.suffix}"))
        with VideoWriter(segments[-1], (W, H), fps) as writer:
            for frame in clip[start:start + segment_frames]:
                writer.write(frame)
    join_segments(segments, str(path), (W, H), fps, audio, overwrite=False, frames=n)


def test_joined_frames_keep_their_order_and_count(tmp_path):
    write_joined(tmp_path / "out.mp4", n=10)
    decoded = list(read_frames(str(tmp_path / "out.mp4")))
    means = [frame.mean() for frame in decoded]
    assert len(decoded) == 10 and means == sorted(means)


def test_missing_audio_source_is_a_user_error_and_leaves_no_output(tmp_path):
    with pytest.raises(UserError, match="no such audio"):
        write_joined(tmp_path / "out.mp4", audio=AudioSource(str(tmp_path / "none.wav")))
    assert not os.path.exists(tmp_path / "out.mp4")


@pytest.mark.parametrize("name", ["out.mp4", "out.webm"])
def test_audio_is_the_dreamed_stretch(tmp_path, clip_with_audio, name):
    path = tmp_path / name
    write_joined(path, n=10, fps=10, audio=AudioSource(str(clip_with_audio), start=0.5, duration=1.0))
    sound = audio(path)
    assert probe_video(str(path)).has_audio and len(sound) / RATE == pytest.approx(1.0, abs=0.03)
    assert 0.15 < rms(sound, 0.05, 0.45) < 0.3  # amplitude 0.4 * t for t in 0.55..0.95, not from t = 0


def test_audio_ending_early_is_padded_and_never_cuts_the_video(tmp_path, clip_with_audio):
    path = tmp_path / "out.mp4"
    write_joined(path, n=20, fps=10, audio=AudioSource(str(clip_with_audio), start=1.5, duration=1.0))
    sound = audio(path)
    assert len(list(read_frames(str(path)))) == 20
    assert len(sound) / RATE == pytest.approx(1.0, abs=0.03)  # the source has only 0.5 s left: padded
    assert rms(sound, 0.05, 0.45) > 0.3 and rms(sound, 0.55, 0.95) < 0.01


def test_audio_to_the_end_of_the_source(tmp_path, clip_with_audio):
    write_joined(tmp_path / "out.mp4", n=15, fps=10, audio=AudioSource(str(clip_with_audio), start=0.5))
    assert len(audio(tmp_path / "out.mp4")) / RATE == pytest.approx(1.5, abs=0.03)
    assert len(list(read_frames(str(tmp_path / "out.mp4")))) == 15


def test_source_without_audio_still_writes(tmp_path):
    silent = tmp_path / "silent.mp4"
    write_joined(silent, n=10)
    write_joined(tmp_path / "out.mp4", n=10, audio=AudioSource(str(silent)))
    info = probe_video(str(tmp_path / "out.mp4"))
    assert info.frame_count == 10 and not info.has_audio


@pytest.mark.parametrize("damage", ["missing", "empty", "truncated"])
def test_the_join_counts_its_result_and_never_commits_a_short_video(tmp_path, damage):
    """ffmpeg's concat step skips a segment it cannot open and still exits 0: the result is counted."""
    folder = tmp_path / "segments"
    folder.mkdir()
    segments, clip = [], frames(12)
    for index in range(3):
        segments.append(str(folder / f"segment_{index:05d}.mp4"))
        with VideoWriter(segments[-1], (W, H), 10) as writer:
            for frame in clip[4 * index:4 * index + 4]:
                writer.write(frame)
    middle = segments[1]
    data = open(middle, "rb").read()
    if damage == "missing":
        os.remove(middle)
    else:
        open(middle, "wb").write(b"" if damage == "empty" else data[:len(data) // 2])
    with pytest.raises(UserError, match="not 12"):
        join_segments(segments, str(tmp_path / "out.mp4"), (W, H), 10, None, overwrite=False, frames=12)
    assert sorted(os.listdir(tmp_path)) == ["segments"]  # no output, no partial file
    assert sorted(os.listdir(folder)) == sorted(os.path.basename(s) for s in segments if os.path.exists(s))


def test_a_sealed_segment_tells_how_it_was_damaged(tmp_path):
    from dreamvid.media.sealing import flaw, seal

    path = tmp_path / "segment_00000.mp4"
    with VideoWriter(str(path), (W, H), 10) as writer:
        for frame in frames(4):
            writer.write(frame)
    record = seal(str(path), 4)
    assert record["frames"] == 4 and flaw(str(path), record) is None
    data = path.read_bytes()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert "checksum" in flaw(str(path), record)
    path.write_bytes(data[:10])
    assert "10 bytes instead of" in flaw(str(path), record)
    path.write_bytes(b"")
    assert flaw(str(path), record) == "empty"
    path.unlink()
    assert flaw(str(path), record) == "missing"
    assert "not recorded" in flaw(str(path), None)
