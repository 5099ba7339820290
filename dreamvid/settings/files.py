"""Presets (TOML files under the top-level `presets/` folder, installed as `dreamvid.presets`),
user config files, job files and the resolved settings written beside every output."""

from __future__ import annotations

from contextlib import contextmanager
from importlib import resources
import json
import os
from pathlib import Path
import sys
from typing import Callable, Iterator

from dreamvid.errors import UserError, did_you_mean, writing
from dreamvid.media.outputs import output_target
from dreamvid.settings.values import merge

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

JOB_KEYS = ("mode", "input", "output")  # what a job file holds besides settings
FILE_SETTINGS = ("guide", "colour_reference", "weights", "audio", "mask")  # settings naming files
MASK_FROM_MOTION = ("motion", "still")  # `mask` values that name no file: masks made from a clip's motion
MODES = ("image", "zoom", "video")
DEFAULT_PRESETS = {"zoom": "tunnel", "video": "video-subtle"}  # per command: light per-frame dreams suit loops


def packaged_folder(package: str, checkout_folder: str):
    """Data shipped beside the code: installed, the package `package`; run from a checkout, the
    repository's top-level folder `checkout_folder`."""
    try:
        return resources.files(package)
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / checkout_folder


def preset_folder():
    return packaged_folder("dreamvid.presets", "presets")


def preset_names() -> list[str]:
    return sorted(entry.name[:-5] for entry in preset_folder().iterdir() if entry.name.endswith(".toml"))


def preset_text(name: str) -> str:
    if name not in preset_names():
        raise UserError(f"unknown preset {name!r}{did_you_mean(name, preset_names())}; choose one of: {', '.join(preset_names())}")
    return (preset_folder() / f"{name}.toml").read_text(encoding="utf-8")


def description(text: str) -> str:
    """A preset's one-line description: its first comment line."""
    for line in text.splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return ""


def parse_toml(text: str, source: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{source} is not valid TOML: {error}") from None
    except RecursionError:  # tomllib parses nested arrays and tables by recursion: [[[[...]]]] 5000 deep
        raise UserError(f"{source} is not valid TOML: it nests arrays or tables too deeply") from None


def load_preset(name: str) -> dict:
    return parse_toml(preset_text(name), f"preset {name}")


def read_toml_file(path: str) -> dict:
    if not os.path.isfile(path):
        raise UserError(f"file not found: {path}")
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read {path}: {error}") from None
    return parse_toml(text, path)


def names_file(key: str, value: object) -> bool:
    """True when setting `key` holds a file's path (not empty, nor one of `mask`'s names for motion masks)."""
    return key in FILE_SETTINGS and isinstance(value, str) and bool(value) and value not in MASK_FROM_MOTION


def located(path: object, folder: str) -> object:
    """A path from a file in `folder`, relative to that folder ("" stays "": no file)."""
    return os.path.join(folder, path) if isinstance(path, str) and path else path


def settings_in(values: dict, path: str) -> dict:
    """A file's settings, the files they name found from the file's own folder (not the current one)."""
    folder = os.path.dirname(os.path.abspath(path))
    return {key: located(value, folder) if names_file(key, value) else value
            for key, value in values.items() if key not in JOB_KEYS}


def load_config(path: str) -> dict:
    """A user settings file; a job file works too (its mode/input/output are not settings)."""
    return settings_in(read_toml_file(path), path)


def load_job(path: str) -> tuple[str, str, str, dict]:
    """A job file: mode, input, output and settings; every relative path is relative to the file."""
    values = read_toml_file(path)
    mode = values.get("mode")
    if mode not in MODES:
        raise UserError(f"{path}: 'mode' must be one of: {', '.join(MODES)}; got {mode!r}")
    if "output" not in values:
        raise UserError(f"{path}: a job file needs an 'output'")
    folder = os.path.dirname(os.path.abspath(path))
    return (mode, located(values.get("input", ""), folder), located(values["output"], folder),
            settings_in(values, path))


def command_settings(command: str, preset: str | None, config: str | None, given: dict, source: str,
                     base: dict | None = None) -> dict:
    """The settings a render of `command` uses: defaults < `base` < preset (None: the command's default)
    < config file < `given` (from `source`: "the command line", an API call...); None values are not given."""
    sources = [("the Dreamer's model", base)] if base else []
    preset = preset or DEFAULT_PRESETS.get(command)
    if preset:
        sources.append((f"preset {preset}", load_preset(preset)))
    if config:
        sources.append((config, load_config(config)))
    sources.append((source, {name: value for name, value in given.items() if value is not None}))
    return merge(*sources)


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value))  # JSON string escapes are valid TOML basic strings


def relative(path: str, folder: str) -> str:
    """`path` as seen from `folder` (absolute where there is no such path: another drive)."""
    try:
        return os.path.relpath(os.path.abspath(path), folder)
    except ValueError:
        return os.path.abspath(path)


def job_text(mode: str, input_path: str, output_path: str, settings: dict, folder: str) -> str:
    """A job file to be saved in `folder`: its paths relative to it, so the files can move together."""
    place = lambda path: relative(path, folder) if path else ""  # noqa: E731
    lines = ["# Written by dreamvid: `dreamvid render THIS_FILE` renders this again.",
             f"mode = {toml_value(mode)}", f"input = {toml_value(place(input_path))}",
             f"output = {toml_value(place(output_path))}", ""]
    lines += [f"{key} = {toml_value(place(value) if names_file(key, value) else value)}"
              for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def settings_path(output_path: str) -> str:
    """OUT.mp4 -> OUT.mp4.dreamvid.toml; a PNG sequence frames/%05d.png -> frames.dreamvid.toml."""
    return output_target(output_path) + ".dreamvid.toml"


@contextmanager
def sidecar(mode: str, input_path: str, output_path: str, settings: dict) -> Iterator[Callable[[], str]]:
    """The settings file beside an output, written first (a full disk fails here, before the output is
    touched) and put in place by the function yielded, once the output is; otherwise removed."""
    path = settings_path(output_path)
    temporary = path + ".partial"
    try:
        with writing(path), open(temporary, "w", encoding="utf-8") as handle:
            handle.write(job_text(mode, input_path, output_path, settings, os.path.dirname(os.path.abspath(path))))
            handle.flush()
            os.fsync(handle.fileno())
        yield lambda: commit_sidecar(temporary, path)
    finally:
        remove_quietly(temporary)


def commit_sidecar(temporary: str, path: str) -> str:
    with writing(path):
        os.replace(temporary, path)
    return path


def remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass

