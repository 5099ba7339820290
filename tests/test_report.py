"""What a render tells its user (render/report.py): a first line with the device and the size, an estimate
from the render's own measured work (so a slow or busy machine gets a longer one), said again as it moves, a preview's path before it starts, and a last line naming what
was written; an interrupted render with nothing checkpointed leaves nothing behind."""

import os
import re
import time

from conftest import decoded
from dreamvid.cli import run
from dreamvid.render import report
from dreamvid.render.dreaming import FrameDreamer
from dreamvid.render.report import duration_text, size_text

FAST = ["--size", "48", "--iterations", "1", "--octaves", "1", "--device", "cpu"]


def notices(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("dreamvid: ")]


def test_durations_and_sizes_read_as_people_say_them():
    assert [duration_text(s) for s in (3.21, 42, 75, 3600 + 120)] == ["3.2 s", "42 s", "1 min 15 s", "1 h 2 min"]
    assert [size_text(n) for n in (999, 1500, 2_300_000)] == ["999 bytes", "1.5 KB", "2.3 MB"]


def test_an_image_says_where_it_runs_and_what_it_wrote(cat_path, tmp_path, capsys):
    out = tmp_path / "cat.png"
    assert run(["image", cat_path, "-o", str(out), *FAST, "--iterations", "3"]) == 0
    lines = notices(capsys)
    assert lines[0] == "dreamvid: image at 48x32 on cpu: measuring the first step for an estimate"
    assert re.fullmatch(r"dreamvid: about [\d.]+ s left", lines[1]), lines[1]
    size = f"{os.path.getsize(out) / 1000:.1f} KB"
    assert lines[-1].startswith(f"dreamvid: wrote {out} ({size}, 1 frame, ")
    assert lines[-1].endswith("; settings in cat.png.dreamvid.toml")


def test_a_zoom_refines_its_estimate_and_names_its_frames(cat_path, tmp_path, capsys):
    out = tmp_path / "z.mp4"
    assert run(["zoom", cat_path, "-o", str(out), *FAST, "--frames", "6"]) == 0
    lines = notices(capsys)
    assert "dreamvid: zoom: 6 frames at 48x32 on cpu: measuring the first frames for an estimate" in lines
    assert any(" a frame: about " in line and line.endswith(" left") for line in lines)
    assert lines[-1].startswith(f"dreamvid: wrote {out} (") and ", 6 frames, " in lines[-1]


def test_a_preview_says_where_it_goes_before_it_starts(cat_path, tmp_path, capsys):
    out = tmp_path / "z.mp4"
    assert run(["zoom", cat_path, "-o", str(out), *FAST, "--frames", "2", "--preview"]) == 0
    lines = notices(capsys)
    preview = str(tmp_path / "z.preview.mp4")
    assert lines[0].startswith(f"dreamvid: preview: writing {preview} (48 px") and str(out) in lines[0]
    assert lines[-1].startswith(f"dreamvid: wrote {preview} (")


def test_a_preview_dreams_fewer_frames_and_says_how_many(cat_path, tmp_path, capsys, dream_calls):
    calls, _ = dream_calls
    assert run(["zoom", cat_path, "-o", str(tmp_path / "z.mp4"), *FAST, "--frames", "8", "--preview"]) == 0
    assert calls == [0, 4, 8]  # every 4th frame dreamed (and the key frame after the last); the others moved
    lines = notices(capsys)
    assert "every 4th frame dreamed" in lines[0]
    assert any(line.startswith("dreamvid: zoom: 8 frames, 3 of them dreamed at 48x32 on cpu") for line in lines)
    assert len(decoded(tmp_path / "z.preview.mp4")) == 8  # the same motion, every frame of it


def test_ctrl_c_before_the_first_checkpoint_leaves_nothing_and_the_rerun_goes_ahead(cat_path, tmp_path, capsys,
                                                                                  dream_calls):
    _, stop_at = dream_calls
    stop_at.add(2)
    argv = ["zoom", cat_path, "-o", str(tmp_path / "z.mp4"), *FAST, "--frames", "4"]
    assert run(argv) == 130
    err = capsys.readouterr().err
    assert "nothing was kept" in err and "--resume" not in err
    assert os.listdir(tmp_path) == []
    assert run(argv) == 0  # the plain re-run, not refused


def seconds_in(text: str) -> float:
    """Seconds in a duration as duration_text writes it ("1 min 15 s", "3.2 s", "1 h 2 min")."""
    units = {"h": 3600, "min": 60, "s": 1}
    return sum(float(number) * units[unit] for number, unit in re.findall(r"([\d.]+) (h|min|s)\b", text))


def test_the_estimate_is_the_renders_own_measured_time(cat_path, tmp_path, capsys, monkeypatch):
    """A machine 0.4 s a frame slower (busy, or small) gets an estimate 0.4 s a frame longer: nothing is assumed."""
    original = FrameDreamer.dream

    def slow(self, image, frame=0, *args, **kwargs):
        time.sleep(0.4)
        return original(self, image, frame, *args, **kwargs)

    monkeypatch.setattr(FrameDreamer, "dream", slow)
    assert run(["zoom", cat_path, "-o", str(tmp_path / "z.mp4"), *FAST, "--frames", "8"]) == 0
    first = next(line for line in notices(capsys) if line.endswith(" left"))
    each, left = first[len("dreamvid: "):].split(" a frame: about ")
    assert seconds_in(each) >= 0.4 and seconds_in(left) >= 0.4 * 4  # after frames 0 to 3: 4 frames left


def test_one_slow_frame_does_not_set_the_estimate(monkeypatch):
    said, clock = [], [0.0]
    monkeypatch.setattr(report, "notify", said.append)
    monkeypatch.setattr(report.time, "monotonic", lambda: clock[0])
    frames = report.FrameReport("zoom", {"cadence": 1}, (48, 32), 20)
    for t, seconds in enumerate([5, 30, 1, 1, 1]):  # frame 1 slowed by a burst of other work
        clock[0] += seconds
        frames.frame_done(t)
    assert said == ["1.0 s a frame: about 16 s left"]


def test_a_running_estimate_is_said_again_when_it_moves(monkeypatch):
    said, clock = [], [0.0]
    monkeypatch.setattr(report, "notify", said.append)
    monkeypatch.setattr(report.time, "monotonic", lambda: clock[0])
    frames = report.FrameReport("zoom", {"cadence": 1}, (48, 32), 41)
    for t, seconds in enumerate([5] + [1] * 10 + [3] * 30):  # the machine gets busy after frame 10
        clock[0] += seconds
        frames.frame_done(t)
    assert said[0] == "1.0 s a frame: about 37 s left"  # after frames 1-3, timed from the end of frame 0
    assert any(line.startswith("2.") and " a frame: about " in line for line in said[1:]), said
