"""Music features on synthetic sound made here: clicks at a known tempo, pure tones, silence, a WAV round trip."""

import math
import subprocess
import wave

import numpy as np
import pytest

from dreamvid.media import process as plumbing
from dreamvid.audio import NAMES, analyse, at_frames, decode_pcm
from dreamvid.audio.decode import ogg_cut
from dreamvid.audio.features import CURVES, KNEE, follow, normalise
from dreamvid.notices import notices_to
from dreamvid.audio.picture import (AXIS, BEAT_LANE, COLOURS, LABELS, LANE, TITLE, column_ranges, features_csv,
                                    features_picture)
from dreamvid.errors import UserError

RATE = 22050


def clicks(bpm: float, seconds: float = 10.0, first: float = 0.31) -> tuple[np.ndarray, np.ndarray]:
    """A 5 ms 2 kHz tick on every beat (the first off any frame boundary), and the tick times."""
    times = np.arange(first, seconds - 0.05, 60.0 / bpm)
    pcm = np.zeros(int(seconds * RATE), np.float32)
    n = np.arange(110)
    tick = np.exp(-n / 20.0) * np.sin(2 * np.pi * 2000 * n / RATE)
    for t in times:
        start = int(round(t * RATE))
        pcm[start:start + len(n)] += tick
    return pcm, times


def tone(hz: float, seconds: float = 2.0, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * hz * np.arange(int(seconds * RATE)) / RATE)).astype(np.float32)


def write_wav(path, pcm: np.ndarray, rate: int = RATE) -> np.ndarray:
    """16-bit WAV (mono, or stereo for 2-D pcm) with the stdlib; returns the samples as stored."""
    ints = np.round(np.clip(pcm, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1 if ints.ndim == 1 else ints.shape[1])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(ints.tobytes())
    return ints / 32768.0


# ---------------------------------------------------------------- beats and tempo


@pytest.mark.parametrize("bpm", [120.0, 90.0, 140.0])
def test_click_track_tempo_and_beats_land_within_one_frame(bpm):
    pcm, times = clicks(bpm)
    features = analyse(pcm, RATE)
    assert features.tempo == pytest.approx(bpm, abs=2.0)
    nearest = np.abs(features.beats[:, None] - times[None, :]).min(axis=0)
    assert nearest.mean() < 0.005  # on the attack, not a window's width ahead of it
    for fps in (24, 30):
        peaks = np.flatnonzero(at_frames(features, fps, int(10 * fps))["beat"] == 1.0)
        # every click has a beat frame within one frame, and every beat frame is a click's
        assert len(peaks) == len(times)
        assert np.abs(peaks - times * fps).max() <= 1.0


def kick_and_hats(bpm: float = 128.0, seconds: float = 8.0) -> tuple[np.ndarray, np.ndarray]:
    """Kicks on the beats, hi-hats louder than them on the off-beats, a bass note every eighth, a pad, hiss."""
    rng, period = np.random.default_rng(4), 60.0 / bpm
    kicks = np.arange(0.4, seconds - 0.3, period)
    t, n, m = np.arange(int(seconds * RATE)) / RATE, np.arange(int(0.25 * RATE)), np.arange(int(0.2 * RATE))
    kick = 0.9 * np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-n / 660)) / RATE) * np.exp(-n / 2650)
    pcm = 0.01 * rng.standard_normal(len(t)) + 0.04 * sum(np.sin(2 * np.pi * hz * t) for hz in (220, 277, 330))
    for beat, start in enumerate((kicks * RATE).astype(int)):
        off = start + int(period / 2 * RATE)
        pcm[start:start + len(n)] += kick
        pcm[off:off + 1300] += 0.5 * np.diff(rng.standard_normal(1301)) * np.exp(-np.arange(1300) / 330)
        for at, hz in ((start, 55.0 * (1 + beat % 3 / 2)), (off, 73.4)):
            pcm[at:at + len(m)] += 0.2 * np.tanh(3 * np.sin(2 * np.pi * hz * m / RATE)) * np.exp(-m / 4400)
    return pcm.astype(np.float32), kicks


def test_beats_follow_the_kick_not_louder_off_beat_hats():
    # a log flux from near-silence lets the hats' many high bands outvote the kick (fails with COMPRESSION >= 10)
    pcm, kicks = kick_and_hats()
    features = analyse(pcm, RATE)
    assert features.tempo == pytest.approx(128.0, abs=2.0)
    nearest = np.abs(features.beats[:, None] - kicks[None, :]).min(axis=0)
    assert np.all(nearest < 0.03)


def test_beat_decays_between_beats_and_is_silent_before_the_first():
    pcm, times = clicks(120.0)
    beat = at_frames(analyse(pcm, RATE), 30, 300)["beat"]
    assert beat[: int(times[0] * 30) - 1].max() == 0.0
    gaps = [beat[round(a * 30) + 1:round(b * 30) - 1] for a, b in zip(times[:-1], times[1:])]
    assert all(np.all(np.diff(g) < 0) and g[-1] < 0.05 for g in gaps)


def test_steady_tone_and_noise_have_no_tempo():
    noise = np.random.default_rng(0).standard_normal(3 * RATE).astype(np.float32) * 0.3
    for pcm in (tone(60.0, 3.0), tone(220.0, 3.0), noise):
        features = analyse(pcm, RATE)
        assert features.tempo == 0.0 and len(features.beats) == 0
    assert at_frames(analyse(tone(60.0, 3.0), RATE), 24, 72)["onset"][12:].max() < 0.1  # no attacks after the start


# ---------------------------------------------------------------- bands, level, silence


def test_low_tone_reads_bass_and_high_tone_reads_treble():
    low = at_frames(analyse(tone(60.0), RATE), 24, 48)
    high = at_frames(analyse(tone(5000.0), RATE), 24, 48)
    steady = slice(6, 46)  # after the tone's own start and the follower's rise
    # a steady sound sits at its 95th percentile: KNEE, with headroom for anything louder
    assert low["bass"][steady].min() > KNEE - 0.01 and low["treble"][steady].max() < 0.1
    assert high["treble"][steady].min() > KNEE - 0.01 and high["bass"][steady].max() < 0.1
    assert low["level"][steady].min() > KNEE - 0.01 and high["level"][steady].min() > KNEE - 0.01


def test_louder_half_reads_higher_level():
    pcm = np.concatenate([tone(440.0, 1.0, 0.05), tone(440.0, 1.0, 0.5)])
    level = at_frames(analyse(pcm, RATE), 24, 48)["level"]
    assert level[6:22].max() < 0.2 and level[30:46].min() > KNEE - 0.01


@pytest.mark.parametrize("pcm", [np.zeros(2 * RATE, np.float32), np.zeros(0, np.float32),
                                 np.random.default_rng(1).standard_normal(2 * RATE).astype(np.float32) * 1e-5])
def test_silence_reads_zero_everywhere(pcm):
    features = analyse(pcm, RATE)
    values = at_frames(features, 30, 60)
    assert features.tempo == 0.0 and len(features.beats) == 0
    assert all(np.all(values[name] == 0.0) for name in NAMES)


def test_digest_follows_the_numbers_and_settings_are_checked():
    pcm = tone(60.0, 1.0)
    same, other = analyse(pcm, RATE), analyse(pcm, RATE, release=0.3)
    assert analyse(pcm, RATE).digest() == same.digest() != other.digest()
    with pytest.raises(UserError, match="attack and release"):
        analyse(pcm, RATE, attack=-0.1)


def test_after_the_track_ends_every_curve_reads_zero():
    values = at_frames(analyse(tone(60.0, 1.0), RATE), 30, 45)
    assert values["bass"][20] > KNEE - 0.01
    assert all(np.all(values[name][32:] == 0.0) for name in CURVES)


def test_normalise_ignores_one_peak_and_scales_sparse_curves():
    ramp = np.linspace(0.0, 1.0, 1001)
    ramp[500] = 100.0  # one peak a hundred times the rest must not flatten it
    assert np.median(normalise(ramp, 0.0)) == pytest.approx(0.5 * KNEE, abs=0.02)
    sparse = np.zeros(1000)
    sparse[::50] = 1.0  # 2% of samples move: the 95th percentile alone is 0
    assert normalise(sparse, 0.0).max() == pytest.approx(KNEE)
    assert np.all(normalise(np.full(100, 1e-9), 1e-4) < 0.01)  # under the floor: ~0, not stretched


# ---------------------------------------------------------------- smoothing


def test_follower_reaches_one_minus_1_over_e_after_one_time_constant():
    rate = 1000.0
    rise = follow(np.ones(200), rate, attack=0.05, release=0.5)
    fall = follow(np.concatenate([np.ones(2000), np.zeros(600)]), rate, attack=0.001, release=0.5)
    assert rise[49] == pytest.approx(1 - math.exp(-1), abs=0.01)
    assert fall[1999 + 500] == pytest.approx(math.exp(-1), abs=0.01)


def test_smoothing_bounds_the_frame_to_frame_change():
    # noise bursts switching on and off at random: the raw curves jump by nearly 1 between frames
    rng = np.random.default_rng(2)
    gate = np.repeat(rng.random(80) < 0.5, RATE // 20)
    pcm = (rng.standard_normal(len(gate)) * gate * 0.3).astype(np.float32)
    fps, attack, release = 30.0, 0.05, 0.2
    smooth = at_frames(analyse(pcm, RATE, attack, release), fps, 120)
    raw = at_frames(analyse(pcm, RATE, 0.0, 0.0), fps, 120)
    rate = RATE / 256
    step = 1 / fps + 1 / rate  # a frame's span, plus one analysis sample for the interpolation between
    rise, fall = 1 - math.exp(-step / attack), 1 - math.exp(-step / release)
    for name in CURVES:
        change = np.diff(smooth[name])
        assert change.max() <= rise and -change.min() <= fall, name
    assert max(-np.diff(raw[name]).min() for name in CURVES) > fall  # without smoothing the bound breaks


# ---------------------------------------------------------------- decoding


def test_decode_round_trip_equals_the_samples(tmp_path):
    stored = write_wav(tmp_path / "a.wav", tone(440.0, 1.0) + 0.1 * np.sin(np.arange(RATE) / 7.0))
    pcm = decode_pcm(str(tmp_path / "a.wav"))
    assert pcm.dtype == np.float32 and len(pcm) == len(stored)
    assert np.abs(pcm - stored).max() < 1e-4
    part = decode_pcm(str(tmp_path / "a.wav"), start=0.5, duration=0.25)
    assert abs(len(part) - RATE // 4) <= 1
    assert np.abs(part[:5000] - stored[RATE // 2:RATE // 2 + 5000]).max() < 1e-4


def test_decode_resamples_and_mixes_stereo_to_mono(tmp_path):
    left = tone(1000.0, 1.0, 0.4)
    write_wav(tmp_path / "s.wav", np.stack([left, left], axis=1), rate=RATE)
    write_wav(tmp_path / "r.wav", tone(1000.0, 1.0, 0.4)[::1], rate=RATE * 2)  # 0.5 s at 44.1 kHz
    stereo, resampled = decode_pcm(str(tmp_path / "s.wav")), decode_pcm(str(tmp_path / "r.wav"))
    assert np.abs(stereo - left).max() < 1e-3  # both channels alike: the mix is the channel
    assert abs(len(resampled) - RATE // 2) <= 2
    peak = np.argmax(np.abs(np.fft.rfft(resampled))) * RATE / len(resampled)
    assert peak == pytest.approx(2000.0, abs=4.0)  # 1 kHz written at twice the rate plays as 2 kHz


def test_awkward_file_names_decode(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    stored = write_wav(tmp_path / "-it's a #%d: mix é.wav", tone(300.0, 0.2))
    assert np.abs(decode_pcm("-it's a #%d: mix é.wav") - stored).max() < 1e-4


def test_unusable_files_are_one_line_user_errors(tmp_path):
    (tmp_path / "notes.txt").write_text("not sound\n" * 50)
    video = tmp_path / "silent.mp4"
    subprocess.run([plumbing.ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=32x32:rate=5",
                    "-t", "0.4", "-pix_fmt", "yuv420p", str(video)], check=True)
    (tmp_path / "noise.mp3").write_bytes(np.random.default_rng(3).bytes(4000))
    # ffmpeg reads a long text file as a "tty" video, so it has no audio stream rather than bad data
    cases = {"missing.wav": "no such audio file", ".": "is a directory", "notes.txt": "has no audio stream",
             "noise.mp3": "not audio ffmpeg can read", "silent.mp4": "has no audio stream"}
    for name, reason in cases.items():
        with pytest.raises(UserError) as caught:
            decode_pcm(str(tmp_path / name))
        assert reason in str(caught.value) and "\n" not in str(caught.value) and str(tmp_path / name) in str(caught.value)


# ---------------------------------------------------------------- picture and numbers


def beat_ticks(picture: np.ndarray) -> np.ndarray:
    """The columns of the beat lane that hold a tick."""
    lane = picture[TITLE + LANE * len(CURVES):TITLE + LANE * len(CURVES) + BEAT_LANE, LABELS:]
    return np.flatnonzero(np.all(lane == COLOURS["beat"], axis=2).any(axis=0))


def test_picture_has_a_lane_per_curve_and_a_tick_per_beat():
    features = analyse(clicks(120.0, 4.0)[0], RATE)
    picture = features_picture(features, width=600)
    assert picture.dtype == np.uint8 and picture.shape == (TITLE + LANE * len(CURVES) + BEAT_LANE + AXIS, 600, 3)
    assert (picture < 128).any(axis=2)[:TITLE].sum() > 50  # the title's text
    assert len(beat_ticks(picture)) == len(features.beats) == 8
    curve_lanes = picture[TITLE:TITLE + LANE * len(CURVES), LABELS:]
    assert not np.all(curve_lanes == COLOURS["beat"], axis=2).any()  # no beat lines through the curves


def test_long_track_picture_thins_the_ticks_and_draws_each_column_as_a_band():
    features = analyse(clicks(160.0, 300.0)[0], RATE)  # 800 beats in 5 minutes, 1120 px
    ticks = beat_ticks(features_picture(features, width=1200))
    assert len(features.beats) == 800 and np.diff(ticks).min() >= 4 and len(ticks) == 200  # every 4th beat
    low, mean, high = column_ranges(features.curves, features.rate, features.duration, 1120)["onset"]
    assert np.median(high - low) > 0.5  # a click and the silence after it share a column: a band, not a peak
    assert np.all((low <= mean + 1e-12) & (mean <= high + 1e-12))


def test_csv_has_a_row_per_frame_with_every_feature():
    pcm, times = clicks(120.0, 2.0)
    features = analyse(pcm, RATE)
    comment, *lines = features_csv(features, 24).splitlines()
    assert comment == f"# tempo_bpm={features.tempo:.2f} beats={len(features.beats)}" and len(features.beats) == 4
    assert lines[0].split(",") == ["frame", "seconds", *NAMES] and len(lines) == 1 + 48
    beat = np.array([float(line.split(",")[-1]) for line in lines[1:]])
    assert np.array_equal(np.flatnonzero(beat == 1.0), np.flatnonzero(at_frames(features, 24, 48)["beat"] == 1.0))
    assert len(np.flatnonzero(beat == 1.0)) == len(times)


def test_truncated_files_get_a_notice_saying_how_much_was_read(tmp_path):
    write_wav(tmp_path / "a.wav", tone(440.0, 8.0))
    notices = []
    for name, codec in (("a.flac", "flac"), ("a.ogg", "libvorbis")):
        subprocess.run([plumbing.ffmpeg_exe(), "-loglevel", "error", "-i", str(tmp_path / "a.wav"), "-c:a", codec,
                        str(tmp_path / name)], check=True)
        whole = (tmp_path / name).read_bytes()
        (tmp_path / f"cut-{name}").write_bytes(whole[: len(whole) // 2])
        with notices_to(notices.append):
            decode_pcm(str(tmp_path / name))
            assert not notices  # a whole file: nothing to say
            cut = decode_pcm(str(tmp_path / f"cut-{name}"))
        assert len(notices) == 1 and f"read {len(cut) / RATE:.1f} s" in notices.pop() and len(cut) < 6 * RATE
    assert ogg_cut(str(tmp_path / "cut-a.ogg")) and not ogg_cut(str(tmp_path / "a.ogg"))
    with notices_to(notices.append):
        decode_pcm(str(tmp_path / "cut-a.flac"))
    assert "of the 8.0 s it states" in notices[0]


# ---------------------------------------------------------------- the user's tempo, headroom, onset release


def accented_eighths(bpm: float, seconds: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    """Clicks on every eighth note at `bpm`, the beats' a little louder: the pulse is twice the tempo."""
    pcm, ticks = clicks(2 * bpm, seconds)
    pcm *= 0.7
    on_beat, _ = clicks(bpm, seconds)
    return pcm + 0.3 * on_beat, ticks[::2]


def test_a_given_bpm_picks_that_octave_and_its_beats():
    # At 60 BPM the search reads the eighths' pulse (120): the hint picks the octave.
    pcm, beats = accented_eighths(60.0)
    assert analyse(pcm, RATE).tempo == pytest.approx(120.0, abs=2.0)  # the double-time reading the hint fixes
    for hint, expected in ((60.0, 60.0), (63.0, 60.0), (120.0, 120.0)):
        features = analyse(pcm, RATE, bpm=hint)
        assert features.tempo == pytest.approx(expected, abs=0.5)
    hinted = analyse(pcm, RATE, bpm=61.0)
    body = hinted.beats[hinted.beats < 18.0]  # the track's last two seconds: the tracker's tail strays to eighths
    nearest = np.abs(body[:, None] - beats[None, :]).min(axis=1)
    assert len(body) == pytest.approx(18, abs=1) and nearest.max() < 0.02  # on the accents


def test_beat_offset_moves_every_beat():
    pcm, _ = clicks(120.0)
    plain, moved = analyse(pcm, RATE), analyse(pcm, RATE, beat_offset=0.1)
    assert np.allclose(moved.beats, plain.beats + 0.1) and moved.digest() != plain.digest()
    early = analyse(pcm, RATE, beat_offset=-0.5)
    assert np.allclose(early.beats, plain.beats[1:] - 0.5)  # the first beat (0.31 s) would land before 0


def test_loud_passages_keep_their_shape_under_the_knee():
    wave = np.sin(np.linspace(0, 40 * np.pi, 4000))
    loud = np.concatenate([np.full(16000, 0.5), 2.0 + 0.5 * wave])  # a fifth of the curve above the quiet part
    shaped = normalise(loud, 0.0)[16000:]
    assert shaped.max() < 1.0 and np.corrcoef(shaped, wave)[0, 1] > 0.99  # still the wave, not a flat top
    assert np.std(shaped) > 0.03


def test_onset_falls_between_eighth_notes_at_the_default_release():
    pcm, times = clicks(240.0, 10.0)  # eighth notes at 120 BPM, 0.25 s apart
    fps = 86.0
    default = at_frames(analyse(pcm, RATE), fps, 860)["onset"]
    slow = at_frames(analyse(pcm, RATE, onset_release=0.15), fps, 860)["onset"]
    before_next = np.round((times[1:] - 0.02) * fps).astype(int)
    assert np.median(default[before_next]) < 0.1 < np.median(slow[before_next])
