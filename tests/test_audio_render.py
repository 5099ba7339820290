"""Sound driving renders: schedule expressions read the audio features per frame, zoom and video outputs
carry the sound in sync, `dreamvid audio` draws the features, and bad audio input is one line, exit 2."""

import os
import subprocess
import wave

import numpy as np
from PIL import Image
import pytest

from dreamvid.ascent import engine
from dreamvid.render.dreaming import FrameDreamer, build_engine

from dreamvid.audio import NAMES, analyse, at_frames
from dreamvid.audio.features import ATTACK, CURVES, KNEE, RELEASE
from dreamvid.audio.schedules import load_features
from dreamvid.audio.picture import AXIS, BEAT_LANE, LANE, TITLE
from dreamvid.cli import run
from dreamvid.errors import UserError
from dreamvid.expression import AUDIO_NAMES
from dreamvid.media import process as plumbing
from dreamvid.media.reader import probe_video, read_frames
from dreamvid.render import zoom as zoom_module
from dreamvid.render.resume import fingerprint
from dreamvid.schedule import parse_schedule
from dreamvid.settings import BY_NAME, Resolved, audio_readers, merge

RATE = 22050
FAST = ["--size", "48", "--octaves", "1", "--iterations", "1", "--device", "cpu"]


def write_wav(path, pcm: np.ndarray) -> str:
    """16-bit mono WAV at RATE with the stdlib."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(np.round(np.clip(pcm, -1, 1) * 32767).astype("<i2").tobytes())
    return str(path)


def tone_after(seconds: float, switch_on: float, hz: float = 60.0) -> np.ndarray:
    """Silence, then a loud low tone from `switch_on` seconds: bass goes from 0 to 1 there."""
    t = np.arange(int(seconds * RATE)) / RATE
    return np.where(t >= switch_on, 0.5 * np.sin(2 * np.pi * hz * t), 0.0).astype(np.float32)


def clicks(seconds: float, times) -> np.ndarray:
    """A 5 ms 2 kHz tick at each time: sharp enough that a misaligned copy shows its lag."""
    pcm, n = np.zeros(int(seconds * RATE), np.float32), np.arange(110)
    for at in times:
        start = int(round(at * RATE))
        pcm[start:start + len(n)] += 0.8 * np.exp(-n / 20.0) * np.sin(2 * np.pi * 2000 * n / RATE)
    return pcm


def sound_of(path, rate: int = RATE) -> np.ndarray:
    """A file's first audio stream as mono float samples."""
    raw = subprocess.run([plumbing.ffmpeg_exe(), "-loglevel", "error", "-i", str(path), "-map", "0:a:0", "-f", "f32le",
                          "-ac", "1", "-ar", str(rate), "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.float32)


def lag_seconds(reference: np.ndarray, delayed: np.ndarray) -> float:
    """How late `delayed` runs behind `reference`, from the peak of their cross-correlation."""
    n = len(reference) + len(delayed)
    spectrum = np.fft.rfft(delayed, n) * np.conj(np.fft.rfft(reference, n))
    correlation = np.fft.irfft(spectrum, n)
    lag = int(np.argmax(correlation))
    return (lag if lag < len(delayed) else lag - n) / RATE


@pytest.fixture
def zooms(monkeypatch):
    """The zoom factor of the camera at every moved frame of a zoom render, by frame."""
    seen = {}
    original = zoom_module.move_frame

    def move_frame(image, camera, fps, interpolation):
        seen[len(seen) + 1] = camera.zoom
        return original(image, camera, fps, interpolation)

    monkeypatch.setattr(zoom_module, "move_frame", move_frame)
    return seen


# ---------------------------------------------------------------- expressions and settings


def test_expressions_know_every_feature_and_its_defaults():
    assert AUDIO_NAMES == NAMES
    assert (BY_NAME["audio_attack"].default, BY_NAME["audio_release"].default) == (ATTACK, RELEASE)


def test_schedules_read_audio_per_frame_and_plain_ones_are_unchanged():
    audio = {name: 0.0 for name in NAMES} | {"bass": 0.5}
    bass = parse_schedule("1 + bass", "zoom")
    assert bass.audio_names == {"bass"} and not bass.is_constant
    assert bass.at(3, 30.0, audio) == 1.5
    keys = parse_schedule("0: bass, 10: 1 + 2*bass", "zoom")  # keys interpolate what each reads at the frame
    assert keys.at(5, 30.0, audio) == pytest.approx(0.5 * 0.5 + 0.5 * 2.0)
    plain = parse_schedule("0: 1, 10: 2", "zoom")
    assert plain.audio_names == frozenset() and plain.at(5, 30.0) == 1.5 and plain.at(5, 30.0, audio) == 1.5
    assert parse_schedule("1.2", "zoom").is_constant
    with pytest.raises(UserError, match="needs audio"):
        bass.at(0, 30.0)
    with pytest.raises(UserError, match='unknown name "bas".*treble'):
        parse_schedule("1 + bas", "zoom")


def test_merge_keeps_audio_schedules_and_names_what_reads_them():
    merged = merge(("t", {"zoom": "1 + beat", "layers": {"blocks.3": "1 - level", "blocks.4": 1.0}}))
    assert merged["zoom"] == "1 + beat"  # not range-checked at merge time: the values exist once analysed
    assert audio_readers(merged) == [("zoom (--zoom)", "beat"), ("layers blocks.3", "level")]
    assert audio_readers(merge()) == []


def test_a_bass_note_switching_on_changes_the_zoom_at_that_frame():
    pcm = tone_after(2.0, switch_on=1.0)
    table = at_frames(analyse(pcm, RATE), 10, 20)
    resolved = Resolved(merge(("t", {"zoom": "1 + bass", "fps": 10})), audio=table)
    values = [resolved.at("zoom", t) for t in range(20)]
    assert max(values[:10]) == 1.0 and min(values[11:19]) > KNEE + 0.99, np.round(values, 2)  # steady: the knee
    assert resolved.at("zoom", 25) == 1.0  # after the track: silence
    assert Resolved(merge(("t", {"zoom": 1.2, "fps": 10})), audio=table).at("zoom", 15) == 1.2


def test_layer_weights_read_the_audio_table(tiny_net):
    values = merge()
    values["layers"] = {"mid": "2 * level", "top": 1.0}
    table = {name: np.zeros(4) for name in NAMES} | {"level": np.array([0.0, 0.25, 0.5, 1.0])}
    settings = Resolved(values, audio=table)
    dreamer = FrameDreamer(settings, build_engine(settings, net=tiny_net))
    assert [dreamer.layer_weights(t)["mid"] for t in range(4)] == [0.0, 0.5, 1.0, 2.0]


def test_fingerprint_follows_the_audio_file_and_its_features(tmp_path):
    first, second = write_wav(tmp_path / "a.wav", np.zeros(100)), write_wav(tmp_path / "b.wav", np.zeros(200))
    base = merge()
    prints = {fingerprint("zoom", "", {**base, "audio": path}, (48, 48), digest)
              for path in (first, second) for digest in ("", "abc")}
    assert len(prints) == 4


# ---------------------------------------------------------------- renders


def zoom(out, *extra):
    return run(["zoom", "--noise", "-o", str(out), *FAST, *extra])


def test_zoom_follows_the_bass_frame_by_frame(tmp_path, zooms, capsys):
    music = write_wav(tmp_path / "bass.wav", tone_after(1.0, switch_on=0.5))
    out = tmp_path / "bass.mp4"
    assert zoom(out, "--audio", music, "--zoom", "1 + bass", "--fps", "10") == 0, capsys.readouterr().err
    assert len(list(read_frames(str(out)))) == 10  # no --frames: as long as the music
    assert max(zooms[t] for t in range(1, 5)) == 1.0
    assert min(zooms[t] for t in range(6, 10)) > KNEE + 0.99, zooms


def test_zoom_sound_is_the_music_sample_aligned_and_cut_to_the_render(tmp_path, capsys):
    times = [0.137, 0.52, 0.9, 1.31]
    music = write_wav(tmp_path / "clicks.wav", clicks(1.5, times))
    reference = sound_of(music)
    for frames, fps in ((None, 12), (24, 10)):  # as long as the music; longer than it (padded with silence)
        out = tmp_path / f"clicks{frames}.mp4"
        extra = ["--frames", str(frames)] if frames else []
        assert zoom(out, "--audio", music, "--fps", str(fps), "--zoom", "1 + beat", *extra) == 0, capsys.readouterr()
        count = frames or 18
        assert probe_video(str(out)).frame_count == count
        heard = sound_of(out)
        assert abs(lag_seconds(reference, heard)) <= 0.001
        assert len(heard) / RATE == pytest.approx(count / fps, abs=0.001)


def test_silence_is_valid_and_reads_zero(tmp_path, zooms, capsys):
    music = write_wav(tmp_path / "silence.wav", np.zeros(RATE // 2))
    assert zoom(tmp_path / "quiet.mp4", "--audio", music, "--zoom", "1 + bass + beat", "--fps", "10") == 0, \
        capsys.readouterr().err
    assert set(zooms.values()) == {1.0} and len(zooms) == 4


def test_video_reads_its_own_sound_and_audio_replaces_it(clip_with_audio, tmp_path, monkeypatch, capsys):
    steps = []
    original = engine.dream
    monkeypatch.setattr(engine, "dream", lambda net, image, objective, params, *a: steps.append(params.step)
                        or original(net, image, objective, params, *a))
    common = ["video", str(clip_with_audio), *FAST, "--step", "0.01 + 0.01*level", "--start", "0.5", "--frames", "12"]
    assert run([*common, "-o", str(tmp_path / "own.mp4")]) == 0, capsys.readouterr().err
    assert steps[-1] > steps[0] + 0.005  # the clip's tone swells over the dreamed range
    own = sound_of(tmp_path / "own.mp4")
    assert np.sqrt(np.mean(own**2)) > 0.05

    steps.clear()
    music = write_wav(tmp_path / "clicks.wav", clicks(1.2, [0.1, 0.3, 0.9]))  # uneven: any shift shows
    assert run([*common, "-o", str(tmp_path / "music.mp4"), "--audio", music]) == 0, capsys.readouterr().err
    replaced = sound_of(tmp_path / "music.mp4")
    assert abs(lag_seconds(sound_of(music), replaced)) <= 0.001
    assert max(steps) > 0.017 and min(steps) < 0.011  # the clicks, not the tone, drive the step


# ---------------------------------------------------------------- the features command


def test_audio_command_draws_the_features_and_prints_them(tmp_path, capsys):
    music = write_wav(tmp_path / "clicks.wav", clicks(2.0, [0.25, 0.75, 1.25, 1.75]))
    picture = tmp_path / "features.png"
    assert run(["audio", music, "-o", str(picture), "--csv", "--fps", "10"]) == 0
    captured = capsys.readouterr()
    features = analyse(sound_of(music), RATE)
    comment, *rows = captured.out.strip().splitlines()
    assert comment == f"# tempo_bpm={features.tempo:.2f} beats={len(features.beats)}"
    assert captured.err == f"dreamvid: {music}: {features.tempo:.1f} BPM, {len(features.beats)} beats\n"
    assert rows[0] == "frame,seconds," + ",".join(NAMES) and len(rows) == 1 + 20
    printed = np.array([[float(v) for v in row.split(",")[2:]] for row in rows[1:]])
    expected = at_frames(features, 10, 20)
    assert np.allclose(printed, np.stack([expected[name] for name in NAMES], axis=1), atol=6e-5)
    with Image.open(picture) as drawn:
        assert drawn.size[1] == TITLE + len(CURVES) * LANE + BEAT_LANE + AXIS


def test_audio_bpm_and_beat_offset_reach_the_analysis_from_flags_and_files(tmp_path, capsys):
    beats = [0.25 + 0.3 * i for i in range(10)]  # 200 BPM, which the search reads as such; 100 is asked for
    music = write_wav(tmp_path / "clicks.wav", clicks(3.5, beats))
    assert run(["audio", music, "--csv", "--audio-bpm", "100", "--audio-beat-offset", "0.1"]) == 0
    assert capsys.readouterr().out.startswith("# tempo_bpm=100.")
    (tmp_path / "fast.toml").write_text("audio_bpm = 100.0\n")
    zoom = ["zoom", "--noise", "-o", str(tmp_path / "out.mp4"), *FAST, "--frames", "2", "--audio", music]
    assert run([*zoom, "--config", str(tmp_path / "fast.toml"), "--audio-bpm", "10"]) == 2
    assert "audio_bpm" in capsys.readouterr().err  # under 30 BPM: refused, whatever the file said
    features = load_features(music, merge(("test", {"audio_bpm": 100.0, "audio_beat_offset": 0.1})))
    plain = load_features(music, merge())
    assert features.tempo == pytest.approx(100.0, abs=1.0) and plain.tempo == pytest.approx(200.0, abs=2.0)
    moved = np.abs(features.beats[:, None] - (np.array(beats) + 0.1)[None, :]).min(axis=1)
    assert len(features.beats) == pytest.approx(5, abs=1) and moved.max() < 0.02  # every other click, 0.1 s on


# ---------------------------------------------------------------- bad input


def bad_audio_inputs(tmp_path, cat_path, silent_clip):
    music = write_wav(tmp_path / "music.wav", tone_after(0.5, 0.0))
    (tmp_path / "notes.txt").write_text("not audio")
    out = str(tmp_path / "out.mp4")
    zoom_args = ["zoom", "--noise", "-o", out, *FAST, "--frames", "2"]
    return [
        ([*zoom_args, "--zoom", "1 + bass"], ('zoom (--zoom) reads the audio feature "bass"', "--audio FILE")),
        ([*zoom_args, "--preset", "music-tunnel"], ("reads the audio feature", "--audio FILE")),
        ([*zoom_args, "--audio", str(tmp_path / "missing.wav")], ("no such audio file",)),
        ([*zoom_args, "--audio", str(tmp_path / "notes.txt")], ("is not audio ffmpeg can read",)),
        ([*zoom_args, "--audio", cat_path], ("has no audio stream",)),
        ([*zoom_args, "--audio", music, "--zoom", "bass - 0.5"], ("zoom (--zoom) must be > 0", "at frame")),
        ([*zoom_args, "--audio", music, "--audio-release", "-1"], ("audio_release",)),
        (["video", silent_clip, "-o", out, *FAST, "--step", "0.02*level"], ("the clip has no sound",)),
        (["image", cat_path, "-o", str(tmp_path / "out.png"), *FAST[:-2], "--step", "0.02*level"], ("no sound",)),
        (["audio", str(tmp_path / "missing.wav"), "-o", str(tmp_path / "out.png")], ("no such audio file",)),
        (["audio", cat_path, "--csv"], ("has no audio stream",)),
        (["audio", str(tmp_path), "--csv"], ("is a directory",)),
        (["audio", music], ("-o PICTURE.png, --csv",)),
        (["audio", music, "-o", str(tmp_path / "out.mp4")], ("unknown output extension",)),
    ]


def test_bad_audio_is_one_line_exit_2_and_nothing_written(tmp_path, cat_path, capsys):
    silent = str(tmp_path / "silent.mp4")
    subprocess.run([plumbing.ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10",
                    "-t", "0.3", "-pix_fmt", "yuv420p", silent], check=True)
    for argv, fragments in bad_audio_inputs(tmp_path, cat_path, silent):
        code = run(argv)
        captured = capsys.readouterr()
        assert code == 2, (argv, captured.err)
        assert all(f in captured.err for f in fragments), (argv, captured.err)
        assert captured.err.count("\n") == 1 and not captured.out, (argv, captured)
        assert not [name for name in os.listdir(tmp_path) if name.startswith(("out", ".dreamvid"))], argv
