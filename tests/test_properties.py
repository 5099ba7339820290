"""Any value for any setting, from the CLI, a job file or the API: exit 0 with an output, or exit 2 (a
UserError) with one line, never a traceback. Values are drawn by Hypothesis, extreme ones included.

The renderers are stood in for by one that writes a small file: every value is checked on the way there
(argparse, job files, presets, the settings table), and no model is built, so the test stays cheap."""

import json
import math
import os

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from dreamvid import api
from dreamvid.cli import run
from dreamvid.errors import UserError
from dreamvid.render import clip, jobs, still, zoom
from dreamvid.settings import SETTINGS

from conftest import SAMPLES

PICTURE = os.path.join(SAMPLES, "chelsea.jpg")
CLIP = os.path.join(SAMPLES, "clip.mp4")
COMMAND = {"dream": "image", "files": "image", "zoom": "zoom", "audio": "zoom", "output": "zoom", "video": "video"}
EXTENSION = {"image": "png", "zoom": "mp4", "video": "mp4"}

EXTREMES = st.sampled_from([float("inf"), float("-inf"), float("nan"), 1e308, -1e308, 1e30, 10**30, -(10**30),
                            2**63, -1, 0, 0.5, -0.0, "", "inf", "nan", "1e400", "-1", "0: 1, 10: 1e9", "t", "abc",
                            "\x00", "'", "\n", True, False])
VALUES = st.one_of(EXTREMES, st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**70), 2**70),
                   st.text(max_size=12), st.booleans(), st.lists(st.integers(-5, 5), max_size=3))
SETTING = st.sampled_from(SETTINGS)


def rendered(input_path, output_path, *args, **kwargs):
    """The stand-in renderer: the settings it got were accepted; it writes a small output."""
    with open(str(output_path).replace("%05d", "00001"), "wb") as handle:
        handle.write(b"rendered")
    return output_path


@pytest.fixture(autouse=True)
def no_rendering(monkeypatch):
    for module, name in ((still, "render_image"), (zoom, "render_zoom"), (jobs, "render_image"),
                         (jobs, "render_zoom"), (jobs, "render_clip"), (clip, "render_clip")):
        monkeypatch.setattr(module, name, rendered)
    monkeypatch.setattr(api, "render_merged_clip", rendered)


def fresh_output(folder, command):
    index = len(os.listdir(folder))
    return os.path.join(str(folder), f"out{index}.{EXTENSION[command]}")


def input_of(command):
    return CLIP if command == "video" else PICTURE


def check_outcome(code, err, output):
    """Exit 0 with an output, or exit 2 with one line; never anything else."""
    assert "Traceback" not in err, err
    if code == 0:
        assert os.path.exists(output), err
    else:
        lines = [line for line in err.splitlines() if line.strip() and not line.startswith("dreamvid: ")]
        assert code == 2 and len(lines) == 1, err


EXAMPLES = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@EXAMPLES
@given(setting=SETTING, value=VALUES)
def test_any_value_on_the_command_line(tmp_path, capsys, setting, value):
    command = COMMAND[setting.group]
    output = fresh_output(tmp_path, command)
    text = value if isinstance(value, str) else (str(value).lower() if isinstance(value, bool) else repr(value))
    code = run([command, input_of(command), "-o", output, f"{setting.flag}={text}"])
    check_outcome(code, capsys.readouterr().err, output)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else "inf" if value == math.inf else "-inf" if value == -math.inf else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(toml_value, value)) + "]"
    return json.dumps(value)


@EXAMPLES
@given(setting=SETTING, value=VALUES)
def test_any_value_in_a_job_file(tmp_path, capsys, setting, value):
    mode = COMMAND[setting.group]
    output = fresh_output(tmp_path, mode)
    job = tmp_path / "job.toml"
    job.write_text(f"mode = {json.dumps(mode)}\ninput = {json.dumps(input_of(mode))}\n"
                   f"output = {json.dumps(output)}\n{setting.name} = {toml_value(value)}\n", encoding="utf-8")
    code = run(["render", str(job)])
    check_outcome(code, capsys.readouterr().err, output)


API_CALLS = {"image": api.render_image, "zoom": api.render_zoom, "video": api.render_clip}


@EXAMPLES
@given(setting=SETTING, value=VALUES)
def test_any_value_through_the_api(tmp_path, setting, value):
    command = COMMAND[setting.group]
    output = fresh_output(tmp_path, command)
    try:
        API_CALLS[command](input_of(command), output, **{setting.name: value})
    except UserError as error:
        assert "\n" not in str(error), str(error)
    else:
        assert os.path.exists(output)
