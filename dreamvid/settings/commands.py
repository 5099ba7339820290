"""Which settings each render command takes, and which commands a preset is for: one table, so that the
CLI's flags, the Python API's refusals, `dreamvid presets` and the settings written beside an output agree."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from dreamvid.errors import UserError
from dreamvid.settings.files import load_preset, preset_names, sidecar
from dreamvid.settings.table import BY_NAME
from dreamvid.settings.values import audio_readers, describe, merge

# a still has no time, so no camera, sound or output encoding; a clip's frame rate is its own
COMMAND_GROUPS = {"image": ("dream", "files"), "zoom": ("dream", "zoom", "audio", "output", "files"),
                  "video": ("dream", "video", "audio", "output", "files")}
FILE_ONLY = ("sidecar",)  # settings about the files written, not the picture: never saved in a sidecar


def applies(name: str, command: str) -> bool:
    return BY_NAME[name].group in COMMAND_GROUPS[command]


def commands_taking(name: str) -> list[str]:
    return [command for command in COMMAND_GROUPS if applies(name, command)]


def check_applies(command: str, given: dict) -> None:
    """Settings given explicitly (flags, keyword arguments) that `command` would ignore are refused, in the
    same words from the CLI and from Python: a setting silently ignored looks like one that did nothing."""
    for name in given:
        if name in BY_NAME and not applies(name, command):
            raise UserError(f"{describe(BY_NAME[name])} does not apply to {command}: it is a setting of "
                            f"{' and '.join(commands_taking(name))}")


def sidecar_values(command: str, values: dict) -> dict:
    """The settings that decide a `command` render, for the file beside its output (the others would be
    noise: a still's camera, sound and Ray settings)."""
    return {name: value for name, value in values.items()
            if name in BY_NAME and applies(name, command) and name not in FILE_ONLY}


@contextmanager
def sidecar_for(command: str, input_path: str, output_path: str, settings: dict) -> Iterator[Callable[[], str]]:
    """The settings that decide this render, beside its output (files.sidecar: committed once the output is);
    with `sidecar = false` nothing is written and committing returns ""."""
    if not settings["sidecar"]:
        yield lambda: ""
        return
    with sidecar(command, input_path, output_path, sidecar_values(command, settings)) as commit:
        yield commit


def preset_commands(values: dict) -> list[str]:
    """The commands a preset's settings all apply to; a preset that reads the music is not for stills."""
    reads_music = bool(audio_readers(merge(("a preset", values))))
    return [command for command in COMMAND_GROUPS if all(applies(name, command) for name in values)
            and not (reads_music and command == "image")]


def presets_for(command: str) -> list[str]:
    return [name for name in preset_names() if command in preset_commands(load_preset(name))]


def check_preset_fits(command: str, preset: str | None) -> None:
    """A zoom's or a clip's preset on another command would lose its motion (or read music a still lacks)."""
    if preset and command not in preset_commands(load_preset(preset)):
        raise UserError(f"preset {preset} is for {' and '.join(preset_commands(load_preset(preset)))}, not "
                        f"{command}; presets for {command}: {', '.join(presets_for(command))}")
