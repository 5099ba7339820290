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


def test_jobs_side_by_side_in_threads_keep_their_own_notices_and_leak_none(capsys):
    import threading

    heard = {"a": [], "b": []}
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def job(name: str, entered: threading.Event, wait_for: threading.Event, then: threading.Event | None):
        with notices_to(heard[name].append):
            entered.set()
            wait_for.wait(5)
            notify(f"from {name}")
        if then:
            then.set()

    a = threading.Thread(target=job, args=("a", a_in, b_in, a_out))  # a enters, b enters, a leaves, b leaves:
    b = threading.Thread(target=job, args=("b", b_in, a_out, None))  # with one global handler, a's stayed set
    a.start()
    a_in.wait(5)
    b.start()
    a.join(5)
    b.join(5)
    notify("after")
    assert heard == {"a": ["from a"], "b": ["from b"]}
    assert capsys.readouterr().err == "dreamvid: after\n"
