"""Odd file names (a quote, spaces, unicode, `#`, a `%` that is no frame pattern, a leading `-`) work
for inputs, outputs, guides and the sound: ffmpeg gets `file:` URLs and an escaped concat list."""

import os
import shutil

from PIL import Image
import numpy as np

from dreamvid.cli import run
from dreamvid.media.pictures import load_picture
from dreamvid.media.reader import probe_video
from dreamvid.media.synthetic import pan_clip, write_clip
from conftest import CLIP_FAST as FAST, CLIP_SIZE as SIZE, NO_DREAM, SAMPLES, check_sound, decoded, png_frames

ODD = "-odd 'quote' #1 50% ü"  # relative names below start with '-', as an ffmpeg option would


def test_odd_names_for_input_outputs_guide_and_sound(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cat = load_picture(os.path.join(SAMPLES, "chelsea.jpg"))
    write_clip(pan_clip(cat, 8, SIZE), str(tmp_path / "plain.mp4"), fps=12)  # with a tone
    shutil.move(tmp_path / "plain.mp4", tmp_path / f"{ODD}.mp4")
    Image.fromarray(cat).save(tmp_path / f"{ODD} guide.png")
    source = f"{ODD}.mp4"
    common = [*FAST, "--checkpoint-frames", "4", f"--guide={ODD} guide.png"]

    # `--` before a name starting with '-' (else argparse reads "-odd..." as -o "dd..."), `--output=NAME` for one
    assert run(["video", f"--output={ODD} out.mp4", *common, "--", source]) == 0, capsys.readouterr().err
    assert len(decoded(tmp_path / f"{ODD} out.mp4")) == 8 and probe_video(f"{ODD} out.mp4").has_audio
    check_sound(tmp_path / f"{ODD} out.mp4", 8, 12)
    assert os.path.isfile(f"{ODD} out.mp4.dreamvid.toml")

    assert run(["video", f"--output={ODD} out.gif", *common, *NO_DREAM, "--", source]) == 0, capsys.readouterr().err
    assert len(decoded(tmp_path / f"{ODD} out.gif")) == 8

    sequence = f"--output={ODD} frames/%05d.png"
    assert run(["video", sequence, *common, *NO_DREAM, "--", source]) == 0, capsys.readouterr().err
    frames = png_frames(tmp_path / f"{ODD} frames")
    assert frames.shape == (8, SIZE[1], SIZE[0], 3) and np.abs(frames.astype(int) - decoded(source)).max() <= 1
