"""`dreamvid zoom` end to end on tiny frames: N frames out at the asked rate, job files that reproduce
the render, every format, the camera's direction, previews, and bad input that leaves nothing behind."""

import os

from PIL import Image
import numpy as np

from dreamvid.cli import run
from dreamvid.media.reader import probe_video, read_frames
from dreamvid.settings.files import read_toml_file
from conftest import decoded

FAST = ["--size", "48", "--octaves", "1", "--iterations", "1", "--device", "cpu"]


def zoom(source, out, *extra):
    """Run `dreamvid zoom` (source None: no input argument); returns the exit code."""
    return run(["zoom", *([str(source)] if source else []), "-o", str(out), *FAST, *extra])


def test_zoom_end_to_end_and_its_job_file_reproduces_it(cat_path, tmp_path, capsys):
    out = tmp_path / "tunnel.mp4"
    code = zoom(cat_path, out, "--frames", "6", "--fps", "12", "--checkpoint-frames", "4")
    assert code == 0, capsys.readouterr().err
    info = probe_video(str(out))
    assert info.fps == 12 and info.size == (48, 32)
    first = decoded(out)
    assert first.shape == (6, 32, 48, 3)
    assert not (tmp_path / "tunnel.mp4.dreamvid-state").exists()
    job = tmp_path / "tunnel.mp4.dreamvid.toml"
    saved = read_toml_file(str(job))
    assert saved["mode"] == "zoom" and saved["frames"] == 6 and saved["checkpoint_frames"] == 4
    assert sorted(os.listdir(tmp_path)) == ["tunnel.mp4", "tunnel.mp4.dreamvid.toml"]

    assert run(["render", str(job), "--overwrite"]) == 0
    assert np.array_equal(first, decoded(out))

    # the joined video holds each frame once, in order: compare with the same render as lossless PNGs
    assert zoom(cat_path, tmp_path / "png" / "%05d.png", "--frames", "6", "--fps", "12",
                "--checkpoint-frames", "4") == 0
    exact = np.stack([np.asarray(Image.open(tmp_path / "png" / f"{i:05d}.png")) for i in range(1, 7)])
    errors = np.abs(first[:, None].astype(int) - exact[None].astype(int)).mean(axis=(2, 3, 4))
    assert list(errors.argmin(axis=1)) == list(range(6)), errors.round(1)  # none lost, repeated or swapped
    assert errors.diagonal().max() < 12, errors.round(1)  # crf 18 on 48 px of fine dream detail


def test_noise_start_and_input_xor_noise(cat_path, tmp_path, capsys):
    out = tmp_path / "noise.mp4"
    assert zoom(None, out, "--noise", "--frames", "3", "--fps", "12") == 0
    assert probe_video(str(out)).size == (48, 48)  # the noise picture is square
    frames = decoded(out)
    assert frames.shape[0] == 3 and frames.std() > 5  # not a flat grey
    assert read_toml_file(str(out) + ".dreamvid.toml")["noise"] is True
    capsys.readouterr()

    for source, extra, fragment in [(cat_path, ["--noise"], "not both"), (None, [], "needs an input")]:
        other = tmp_path / "other.mp4"
        assert zoom(source, other, "--frames", "2", *extra) == 2
        err = capsys.readouterr().err
        assert fragment in err and err.count("\n") == 1, err
        assert not any(name.startswith(("other", ".other")) for name in os.listdir(tmp_path))


def bad_zoom_inputs(tmp_path, cat_path):
    out = str(tmp_path / "out.mp4")
    return [
        (["--zoom", "0: 1, x: 2"], out, ("zoom", "character 7", '"x"')),
        (["--frames", "-3"], out, ("frames",)),
        (["--fps", "0"], out, ("fps",)),
        (["--fps", "-5"], out, ("fps",)),
        (["--fps", "abc"], out, ("fps",)),
        (["--fps", "1/100000000"], out, ("fps", ">= 1")),  # zoom ** (1 / fps) overflowed: a traceback
        (["--fps", "0.001"], out, ("fps", ">= 1")),  # 5 s at 0.001 fps: no frame, an IndexError in the join
        (["--zoom", "0"], out, ("zoom", "> 0")),
        (["--checkpoint-frames", "0"], out, ("checkpoint_frames",)),
        ([], str(tmp_path / "missing" / "out.mp4"), ("does not exist",)),
        ([], str(tmp_path / "kept.mp4"), ("--overwrite",)),
        ([], str(tmp_path / "out.avi"), ("supported outputs",)),
    ]


def test_bad_zoom_input_is_one_line_exit_2_and_writes_nothing(cat_path, tmp_path, capsys):
    (tmp_path / "kept.mp4").write_bytes(b"keep me")
    for extra, out, fragments in bad_zoom_inputs(tmp_path, cat_path):
        before = sorted(os.listdir(tmp_path))
        code = zoom(cat_path, out, "--frames", "3", *extra)
        err = capsys.readouterr().err
        assert code == 2, (extra, out, err)
        assert all(fragment in err for fragment in fragments), (extra, err)
        assert err.count("\n") == 1 and "Traceback" not in err, (extra, err)
        assert sorted(os.listdir(tmp_path)) == before, (extra, out)  # no OUT, .OUT.partial* or state folder
    assert (tmp_path / "kept.mp4").read_bytes() == b"keep me"


def test_an_ffmpeg_failure_before_any_checkpoint_leaves_nothing(cat_path, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    assert zoom(cat_path, out, "--frames", "3", "--codec", "no-such-encoder") == 2
    err = capsys.readouterr().err
    assert "no-such-encoder" in err and "Traceback" not in err, err
    assert os.listdir(tmp_path) == []  # no state folder that would block the next run
    assert zoom(cat_path, out, "--frames", "3") == 0, capsys.readouterr().err


def test_gif_and_png_sequence_outputs(cat_path, tmp_path, capsys):
    gif = tmp_path / "loop.gif"
    assert zoom(cat_path, gif, "--frames", "5", "--fps", "10", "--checkpoint-frames", "2") == 0
    assert len(list(read_frames(str(gif)))) == 5
    assert probe_video(str(gif)).fps == 10

    pattern = tmp_path / "frames" / "%05d.png"
    assert zoom(cat_path, pattern, "--frames", "5", "--checkpoint-frames", "2") == 0
    assert sorted(os.listdir(tmp_path / "frames")) == [f"{i:05d}.png" for i in range(1, 6)]
    assert np.asarray(Image.open(tmp_path / "frames" / "00005.png")).shape == (32, 48, 3)
    assert sorted(os.listdir(tmp_path)) == ["frames", "frames.dreamvid.toml", "loop.gif", "loop.gif.dreamvid.toml"]


def test_png_sequence_never_replaces_a_folder_holding_other_files(cat_path, tmp_path, capsys):
    folder = tmp_path / "holiday"
    folder.mkdir()
    (folder / "notes.txt").write_text("precious")
    assert zoom(cat_path, folder / "%05d.png", "--frames", "2", "--overwrite") == 2
    assert "other than" in capsys.readouterr().err
    assert os.listdir(folder) == ["notes.txt"]


def bright_centroid(frame):
    """(x, y) of the bright pixels' centre of mass, in pixel coordinates."""
    grey = frame.astype(np.float64).mean(axis=2)
    weights = np.where(grey > 100, grey, 0.0)
    ys, xs = np.indices(grey.shape)
    return (xs * weights).sum() / weights.sum(), (ys * weights).sum() / weights.sum()


def test_zooming_in_moves_an_off_centre_dot_outwards(tmp_path, capsys):
    picture = np.zeros((64, 64, 3), np.uint8)
    picture[38:42, 42:46] = 255  # a dot right of and below the centre (31.5, 31.5)
    Image.fromarray(picture).save(tmp_path / "dot.png")
    out = tmp_path / "dot.mp4"
    code = run(["zoom", str(tmp_path / "dot.png"), "-o", str(out), "--size", "64", "--octaves", "1",
                "--iterations", "0", "--colour-coherence", "0", "--zoom", "2", "--fps", "2", "--frames", "4",
                "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    offsets = [np.subtract(bright_centroid(frame), 31.5) for frame in decoded(out)]
    assert np.allclose(offsets[0], (12, 8), atol=1.0)  # no dreaming: frame 0 is the picture
    distances = [np.hypot(*offset) for offset in offsets]
    assert all(later > earlier * 1.2 for earlier, later in zip(distances, distances[1:])), distances
    # about sqrt(2) per frame (2x per second at 2 fps), along the same ray from the centre
    assert np.allclose(distances[3] / distances[0], 2 ** 1.5, rtol=0.1), distances
    assert all(dx > 0 and abs(dy / dx - 8 / 12) < 0.1 for dx, dy in offsets), offsets


def test_preview_is_small_and_beside_the_output(cat_path, tmp_path, capsys):
    out = tmp_path / "big.mp4"
    code = run(["zoom", cat_path, "-o", str(out), "--preview", "--frames", "2", "--octaves", "1",
                "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    preview = tmp_path / "big.preview.mp4"
    info = probe_video(str(preview))
    assert max(info.size) == 256 and info.size[0] > info.size[1]  # the 451x300 cat, scaled down
    assert len(list(read_frames(str(preview)))) == 2
    assert not out.exists()


def test_an_error_while_building_the_model_leaves_no_state(cat_path, tmp_path, capsys):
    out = tmp_path / "z.mp4"
    argv = ["zoom", cat_path, "-o", str(out), "--frames", "2", "--size", "48", "--device", "cpu"]
    assert run(argv + ["--channels", "99999"]) == 2
    assert "channels" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []  # no state folder: the next run is not taken for an interrupted one
