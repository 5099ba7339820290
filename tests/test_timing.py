"""Frame times and sound sync: a clip's sound lands under the frames it belongs to, to the millisecond,
from the first dreamed frame's first sample on; a variable-rate clip's frames are dreamed once each and
keep their timing."""

from fractions import Fraction
import os
import subprocess
import wave

import numpy as np
import pytest

from dreamvid.media.pictures import load_picture
from dreamvid.media.process import ffmpeg_exe
from dreamvid.media.reader import VideoInfo, probe_video
from dreamvid.media.synthetic import pan_clip
from dreamvid.media.timing import FrameTime, plan_at, plan_clip
from conftest import CLIP_SIZE as SIZE, NO_DREAM, SAMPLES, check_sound, decoded, nearest, video, write_vfr_clip

FILM = Fraction(24000, 1001)  # a trailer's 23.976 fps
SAMPLE_RATE = 48000
FLASHES = (3, 10, 17)  # frames that flash white while the sound clicks
CLICK = (np.hanning(48) * np.sin(2 * np.pi * 3000 * np.arange(48) / SAMPLE_RATE)).astype(np.float32)  # 1 ms


def frame_time(frame: int) -> Fraction:
    return frame / FILM


def write_wav(path, samples):
    with wave.open(str(path), "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(SAMPLE_RATE)
        file.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


def source_sound(frames: int) -> np.ndarray:
    """Quiet noise (so that any shift shows) with a click at each flashed frame's time, to the sample."""
    samples = np.random.default_rng(1).normal(0, 0.02, round(frames / FILM * SAMPLE_RATE)).astype(np.float32)
    for frame in FLASHES:
        start = int(frame_time(frame) * SAMPLE_RATE)  # exact: 2002 samples a frame
        samples[start:start + len(CLICK)] += CLICK
    return samples


def write_flash_clip(path, frames: int, video_codec: list[str], audio_codec: str):
    pictures = np.full((frames, SIZE[1], SIZE[0], 3), 40, np.uint8)
    pictures[list(FLASHES)] = 255
    write_wav(path.parent / "clicks.wav", source_sound(frames))
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s",
                    f"{SIZE[0]}x{SIZE[1]}", "-r", "24000/1001", "-i", "-", "-i", str(path.parent / "clicks.wav"),
                    *video_codec, "-c:a", audio_codec, str(path)], input=pictures.tobytes(), check=True)


def sound(path) -> np.ndarray:
    pcm = subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(path), "-map", "0:a:0", "-f", "f32le", "-ac",
                          "1", "-ar", str(SAMPLE_RATE), "-"], capture_output=True, check=True).stdout
    return np.frombuffer(pcm, np.float32)


def click_at(samples: np.ndarray, expected: float) -> float:
    """Where the click nearest `expected` (seconds) starts, from the cross-correlation with its shape."""
    low = max(0, round((expected - 0.02) * SAMPLE_RATE))
    window = samples[low:round((expected + 0.02) * SAMPLE_RATE) + len(CLICK)]
    return (low + int(np.argmax(np.correlate(window, CLICK, "valid")))) / SAMPLE_RATE


def lag_against(output: np.ndarray, source: np.ndarray, start: int, span: int = 4800, most: int = 240) -> int:
    """The shift (samples) that best lines up the output's first 100 ms with the source from `start`."""
    around = source[max(0, start - most):start + span + most]
    return int(np.argmax(np.correlate(around, output[:span], "valid"))) - min(start, most)


@pytest.mark.parametrize("container, video_codec, audio_codec", [
    ("mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p"], "aac"),
    ("avi", ["-c:v", "mpeg4", "-q:v", "2"], "ac3"),
])
@pytest.mark.parametrize("first", [0, 5])  # --start 0, and --start half-way between frames 4 and 5
def test_clicks_land_on_their_flashed_frames(tmp_path, capsys, container, video_codec, audio_codec, first):
    source, out = tmp_path / f"flash.{container}", tmp_path / "out.mp4"
    write_flash_clip(source, 24, video_codec, audio_codec)
    start = float((first - Fraction(1, 2)) / FILM) if first else 0.0
    assert video(source, out, *NO_DREAM, "--flow", "none", "--start", f"{start:.6f}") == 0, capsys.readouterr().err
    frames = decoded(out)
    assert probe_video(str(out)).fps == FILM and len(frames) == 24 - first
    bright = [index for index, frame in enumerate(frames) if frame.mean() > 150]
    assert bright == [flash - first for flash in FLASHES if flash >= first]
    output, original = sound(out), sound(source)
    assert abs(len(output) / SAMPLE_RATE - (24 - first) / FILM) < 0.002  # as long as the video
    for flash in (flash for flash in FLASHES if flash >= first):
        # AVI cannot store the AC3 encoder's 256-sample delay, so there the source's own click comes
        # 5.3 ms late: the output must keep the source's timing, whatever it is
        in_source = click_at(original, float(frame_time(flash))) - float(frame_time(flash))
        assert abs(in_source) < 0.006, (flash, in_source)
        expected = float(frame_time(flash - first)) + in_source
        assert abs(click_at(output, expected) - expected) <= 0.001, (flash, click_at(output, expected), expected)
    # the sound starts with the source's sample at the first dreamed frame's time, not at --start
    assert abs(lag_against(output, original, int(frame_time(first) * SAMPLE_RATE))) <= 48


def test_a_variable_rate_clip_dreams_each_stored_frame_once_and_keeps_its_timing(tmp_path, capsys, dream_calls):
    calls, _ = dream_calls
    held = [1, 3, 2, 1, 4, 1]  # an mp4 keeps no duration for its last frame: 1 frame is what it says
    pictures = pan_clip(load_picture(os.path.join(SAMPLES, "chelsea.jpg")), len(held), SIZE, speed=6)
    source, out = tmp_path / "vfr.mp4", tmp_path / "out.mp4"
    write_vfr_clip(source, pictures, held, 12)
    assert video(source, out, *NO_DREAM, "--flow", "dis") == 0, capsys.readouterr().err
    assert sorted(calls) == list(range(len(held)))  # six stored frames, six dreams (not 12)
    assert probe_video(str(out)).fps == 12
    shown = [index for index, count in enumerate(held) for _ in range(count)]
    assert nearest(decoded(out), pictures) == shown  # each frame held as long as in the source
    check_sound(out, sum(held), 12)


def test_plan_keeps_a_constant_rate_clip_frame_for_frame():
    times = [FrameTime(Fraction(index, 30) + Fraction(1, 2000) * (index % 2), None) for index in range(10)]
    plan = plan_at(times, Fraction(30))  # jitter of a millisecond time base changes nothing
    assert plan.kept == tuple(range(10)) and plan.repeats == (1,) * 10 and plan.is_constant_rate


def test_plan_holds_frames_and_drops_what_would_never_be_seen():
    starts = [Fraction(0), Fraction(1, 12), Fraction(1, 12) + Fraction(1, 100), Fraction(5, 12)]
    times = [FrameTime(start, None) for start in starts[:-1]] + [FrameTime(starts[-1], Fraction(2, 12))]
    plan = plan_at(times, Fraction(12))
    assert plan.kept == (0, 2, 3) and plan.repeats == (1, 4, 2)  # frame 1 shares its output frame with 2
    assert plan.first_time == 0 and plan.seconds == Fraction(7, 12)


def test_a_raw_streams_guessed_rate_gives_way_to_its_frames_own_interval():
    # A raw H.264 stream carries no container rate: ffmpeg says 25 fps (and a 60 tbr) for frames 1/30 s apart.
    # At 25 fps frames would be dropped, at 60 each would be written twice; at their own interval, neither.
    times = [FrameTime(Fraction(index, 30), Fraction(1, 30)) for index in range(60)]
    raw = VideoInfo(96, 64, Fraction(25), 0.0, 0, False, base_fps=Fraction(60))
    plan = plan_clip(times, raw)
    assert plan.fps == 30 and plan.is_constant_rate and plan.output_frames == 60
    ntsc = [FrameTime(Fraction(index * 1001, 30000), None) for index in range(10)]
    assert plan_clip(ntsc, VideoInfo(96, 64, Fraction(25), 0.0, 0, False)).fps == Fraction(30000, 1001)
    assert plan_clip(times[:1], raw).fps == 25  # one frame: no interval, the stream's own rate
