"""The CLI command and the settings TOML that reproduce what the page dreamed: the page's explicit
settings become flags, and the TOML holds the whole merge (`resolve_settings`, the CLI's own)."""

from __future__ import annotations

import shlex

from dreamvid.settings import BY_NAME, Setting
from dreamvid.settings.files import DEFAULT_PRESETS, toml_value
from dreamvid.studio.jobs import DreamRequest


def output_name(request: DreamRequest) -> str:
    """The result's download name, which the command writes too: chelsea_zoom.mp4."""
    stem = request.input_name.rsplit("/", 1)[-1].rsplit(".", 1)[0] if request.input_path else "noise"
    extension = ".png" if request.mode == "image" else ".mp4"
    return f"{stem}_{'dream' if request.mode == 'image' else request.mode}{extension}"


def weight_text(weight: object) -> str:
    return f"{weight:g}" if isinstance(weight, (int, float)) else str(weight)


def flag_words(setting: Setting, value: object) -> list[str]:
    if setting.kind == "bool":
        if value:
            return [setting.flag]
        return ["--no-" + setting.flag[2:]] if setting.default else []
    if setting.kind == "layers":
        return [setting.flag, *(name if weight == 1 else f"{name}={weight_text(weight)}"
                                for name, weight in dict(value).items())]
    return [setting.flag, weight_text(value) if isinstance(value, float) else str(value)]


def cli_command(request: DreamRequest) -> str:
    words = ["dreamvid", request.mode]
    if request.input_path:
        words.append(request.input_name)
    words += ["-o", output_name(request)]
    if request.preset:
        words += ["--preset", request.preset]
    for name, value in request.settings.items():
        words += flag_words(BY_NAME[name], value)
    for name in request.paths:
        words += [BY_NAME[name].flag, request.names[name]]
    return " ".join(shlex.quote(word) for word in words)


def settings_toml(request: DreamRequest) -> str:
    """Every setting of the render (the same merge as the CLI), for `--config`; paths as the client named them."""
    resolved = request.resolved()
    resolved.update(request.names)
    preset = request.preset or DEFAULT_PRESETS.get(request.mode, "none")
    lines = [f"# dreamvid {request.mode} ... --config THIS_FILE renders the same (preset {preset} and the page's "
             f"settings, merged)"]
    lines += [f"{key} = {toml_value(value)}" for key, value in resolved.items()]
    return "\n".join(lines) + "\n"
