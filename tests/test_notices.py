"""Notices from library code go through one function: stderr by default, capturable or silenced."""

from dreamvid.notices import notices_to, notify
from dreamvid.render.zoom import crop_to_even

import numpy as np


def test_notices_go_to_stderr_by_default(capsys):
    notify("hello")
    captured = capsys.readouterr()
    assert captured.err == "dreamvid: hello\n" and captured.out == ""


def test_notices_can_be_captured_and_silenced(capsys):
    heard = []
    with notices_to(heard.append):
        crop_to_even(np.zeros((33, 64, 3), np.float32))
    with notices_to(None):
        crop_to_even(np.zeros((33, 64, 3), np.float32))
    notify("after")
    assert heard == ["cropped 64x33 to 64x32 (video needs even sides)"]
    assert capsys.readouterr().err == "dreamvid: after\n"
