"""The command line: `run(argv) -> int`. User errors print one line on stderr and return 2."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys

from dreamvid import __version__
from dreamvid.errors import Interrupted, UserError, did_you_mean, write_failure
from dreamvid.interrupts import exit_status, signals_interrupt
from dreamvid.settings import SETTINGS, Setting, merge
from dreamvid.settings.commands import COMMAND_GROUPS, check_applies, preset_commands
from dreamvid.settings.files import DEFAULT_PRESETS, description, load_preset, preset_names, preset_text
from dreamvid.studio.command import add_studio_command


class UsageError(UserError):
    """A command line argparse cannot parse, named by the (sub)command it was given to."""

    def __init__(self, prog: str, message: str):
        super().__init__(message)
        self.prog = prog


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would print usage and exit; we want one line
        raise UsageError(self.prog, with_suggestion(message))


def with_suggestion(message: str) -> str:
    """argparse's "invalid choice: 'zom' (choose from ...)" with the likeliest choice named."""
    match = re.search(r"invalid choice: '(.*?)' \(choose from (.*)\)", message)
    if not match:
        return message
    return message + did_you_mean(match[1], re.findall(r"'([^']*)'", match[2]))


def unrecognized(parser: argparse.ArgumentParser, command: str, extras: list[str]) -> UsageError:
    """What is wrong with the first argument `command` does not take: a setting of another command (refused
    as the Python API refuses it), a near miss of one of its flags, or one argument too many."""
    flag = next((extra.split("=")[0] for extra in extras if extra.startswith("--")), None)
    setting = next((s for s in SETTINGS if flag in (s.flag, "--no-" + s.flag[2:])), None)
    if setting is not None and command in COMMAND_GROUPS:
        try:
            check_applies(command, {setting.name: None})
        except UserError as error:
            return UsageError(parser.prog, str(error))
    flags = [option for option in parser._option_string_actions if option.startswith("--")]
    near = did_you_mean(flag, flags) if flag else ""
    return UsageError(parser.prog, f"unrecognized arguments: {' '.join(extras)}{near}")


def default_text(setting: Setting, preset: tuple[str, dict] | None = None) -> str:
    """The value a render of this command starts from: its preset's, else dreamvid's own default."""
    if preset and setting.name in preset[1]:
        return f" (default: {preset_value(preset[1][setting.name])}, from preset {preset[0]})"
    if setting.default in ("", {}):
        return ""
    value = str(setting.default).lower() if isinstance(setting.default, bool) else setting.default
    return f" (default: {value})"


def preset_value(value: object) -> str:
    if isinstance(value, list):
        return " ".join(map(str, value))
    if isinstance(value, dict):
        return " ".join(f"{name}={weight}" for name, weight in value.items())
    return str(value)


def add_setting_flag(parser: argparse.ArgumentParser, setting: Setting, preset: tuple[str, dict] | None = None) -> None:
    common = {"dest": setting.name, "default": argparse.SUPPRESS,
              "help": (setting.help + default_text(setting, preset)).replace("%", "%%")}
    if setting.kind == "bool":  # a setting that is on by default also gets its --no- flag
        action = argparse.BooleanOptionalAction if setting.default else "store_true"
        parser.add_argument(setting.flag, action=action, **common)
    elif setting.kind == "layers":
        parser.add_argument(setting.flag, nargs="+", metavar="NAME[=WEIGHT]", **common)
    else:
        metavar = "|".join(setting.choices) if setting.choices else setting.kind.upper()
        parser.add_argument(setting.flag, metavar=metavar, **common)


def shown_preset(command: str, chosen: str | None) -> tuple[str, dict] | None:
    """The preset whose values `--help` shows: the one named on the command line, else the command's own."""
    name = chosen if chosen in preset_names() else DEFAULT_PRESETS.get(command)
    return (name, load_preset(name)) if name else None


def add_settings(parser: argparse.ArgumentParser, command: str, chosen_preset: str | None = None) -> None:
    default = DEFAULT_PRESETS.get(command)
    parser.add_argument("--preset", help="start from a preset (see `dreamvid presets`)"
                        + (f"; default: {default}" if default else ""))
    parser.add_argument("--config", metavar="FILE", help="TOML file of settings (overrides the preset)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    preset = shown_preset(command, chosen_preset)
    for group in COMMAND_GROUPS[command]:
        flags = parser.add_argument_group(f"{group} settings")
        for setting in SETTINGS:
            if setting.group == group:
                add_setting_flag(flags, setting, preset)


AUDIO_COMMAND_SETTINGS = tuple(s for s in SETTINGS if s.name == "fps" or (s.group == "audio" and s.name != "audio"))


def given_settings(args: argparse.Namespace) -> dict:
    """The settings the command line gave (flags not given are absent, so they never override a file)."""
    return {s.name: getattr(args, s.name) for s in SETTINGS if hasattr(args, s.name)}


def command_image(args: argparse.Namespace) -> int:
    from dreamvid.api import render_image

    render_image(args.input, args.output, args.preset, config=args.config, overwrite=args.overwrite,
                 **given_settings(args))
    return 0


def command_zoom(args: argparse.Namespace) -> int:
    from dreamvid.api import render_zoom

    render_zoom(args.input, args.output, preset=args.preset, config=args.config, overwrite=args.overwrite,
                resume=args.resume, preview=args.preview, **given_settings(args))
    return 0


def command_video(args: argparse.Namespace) -> int:
    from dreamvid.api import render_clip

    render_clip(args.input, args.output, preset=args.preset, config=args.config, overwrite=args.overwrite,
                resume=args.resume, preview=args.preview, **given_settings(args))
    return 0


def command_render(args: argparse.Namespace) -> int:
    from dreamvid.api import render_jobs

    render_jobs(args.job, overwrite=args.overwrite, resume=args.resume, workers=args.workers, ray=args.ray)
    return 0


def command_audio(args: argparse.Namespace) -> int:
    from dreamvid.audio.picture import show_features
    from dreamvid.settings import parse_fps

    if not args.output and not args.csv:
        raise UserError("audio needs -o PICTURE.png, --csv, or both")
    given = {s.name: getattr(args, s.name) for s in AUDIO_COMMAND_SETTINGS if hasattr(args, s.name)}
    settings = merge(("the command line", given))
    sys.stdout.write(show_features(args.input, args.output, settings, float(parse_fps(settings["fps"])), args.csv,
                                   args.overwrite))
    return 0


def command_presets(args: argparse.Namespace) -> int:
    """Each preset's purpose, the commands it is for, and the layers it dreams with --model (presets name
    layers by role)."""
    for name in preset_names():
        values = load_preset(name)
        layers = merge((f"preset {name}", values), ("--model", {"model": args.model}))["layers"]
        picked = " ".join(layer if weight == 1.0 else f"{layer}={weight!r}" if isinstance(weight, str)
                          else f"{layer}={weight}" for layer, weight in layers.items())
        print(f"{name:24s} {description(preset_text(name))}\n{'':24s} for: {', '.join(preset_commands(values))}; "
              f"layers for {args.model}: {picked}")
    return 0


def command_layers(args: argparse.Namespace) -> int:
    from dreamvid.nets.registry import layer_lines

    if args.atlas:
        if not args.output:
            raise UserError("layers --atlas needs -o OUTPUT.png")
        from dreamvid.api import render_atlas

        render_atlas(args.atlas, args.output, args.model, args.size, args.overwrite)
    else:
        print("\n".join(layer_lines(args.model)))
    return 0


def add_loop_command(commands, name: str, description: str, input_options: dict, handler,
                     chosen_preset: str | None) -> argparse.ArgumentParser:
    """`zoom` and `video`: a frame loop into a video, resumable, with a preview mode."""
    preset = chosen_preset if chosen_preset in preset_names() else DEFAULT_PRESETS[name]
    command = commands.add_parser(name, help=description, description=f"{description}. The defaults shown are "
                                  f"the preset {preset}'s where it sets them (--preset picks another), else dreamvid's.")
    command.add_argument("input", **input_options)
    command.add_argument("-o", "--output", required=True, help="output video (.mp4, .webm, .gif, frames/%%05d.png)")
    command.add_argument("--resume", action="store_true", help="continue an interrupted render of this output")
    command.add_argument("--preview", action="store_true", help="quick low-resolution check of the motion")
    add_settings(command, name, chosen_preset)
    command.set_defaults(handler=handler)
    return command


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return int(text)


VERBOSE_HELP = "show the log of Ray and its workers (quiet otherwise: the progress bar says how far it is)"


def build_parser(chosen_preset: str | None = None) -> Parser:
    """The CLI's parser; `chosen_preset` (a --preset on the command line) is the one whose values --help shows."""
    parser = Parser(prog="dreamvid", description="DeepDream stills, zoom tunnels and dreamed clips.")
    parser.add_argument("--version", action="version", version=f"dreamvid {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    image = commands.add_parser("image", help="dream a picture")
    image.add_argument("input", help="picture to dream")
    image.add_argument("-o", "--output", required=True, help="output picture (.png, .jpg, .webp...)")
    add_settings(image, "image", chosen_preset)
    image.set_defaults(handler=command_image)

    add_loop_command(commands, "zoom", "render an endless dream zoom from a picture or from noise",
                     {"nargs": "?", "help": "start picture (or use --noise)"}, command_zoom, chosen_preset)
    video = add_loop_command(commands, "video", "dream every frame of a clip, following its motion",
                             {"help": "source clip"}, command_video, chosen_preset)
    video.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)

    render = commands.add_parser("render", help="render a job file (the .dreamvid.toml beside any output)")
    render.add_argument("job", nargs="+", help="job TOML: mode, input, output and settings")
    render.add_argument("--overwrite", action="store_true", help="replace an existing output")
    render.add_argument("--resume", action="store_true", help="continue an interrupted render")
    render.add_argument("--workers", type=positive, metavar="N", help="render N job files at a time, each in "
                        "its own process (one job file: its shots on N workers); needs dreamvid[ray]")
    render.add_argument("--ray", metavar="ADDRESS", help="render on this Ray cluster (auto = the one this machine joined)")
    render.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    render.set_defaults(handler=command_render)

    audio = commands.add_parser("audio", help="draw a track's audio features (what schedule expressions read)")
    audio.add_argument("input", help="any sound ffmpeg reads (mp3, wav, flac, m4a, a video's sound)")
    audio.add_argument("-o", "--output", help="features picture to write (.png, .jpg...)")
    audio.add_argument("--csv", action="store_true", help="print every feature per video frame as CSV on stdout")
    audio.add_argument("--overwrite", action="store_true", help="replace an existing picture")
    for setting in AUDIO_COMMAND_SETTINGS:
        add_setting_flag(audio, setting)
    audio.set_defaults(handler=command_audio)

    presets = commands.add_parser("presets", help="list the presets and the layers each picks for a model")
    presets.add_argument("--model", default="efficientnet_lite0", help="model whose layers to show")
    presets.set_defaults(handler=command_presets)

    layers = commands.add_parser("layers", help="list a model's dreamable layers, or draw an atlas of them")
    layers.add_argument("--model", default="efficientnet_lite0", help="model whose layers to list")
    layers.add_argument("--atlas", metavar="IN", help="dream IN at each layer into a labelled contact sheet")
    layers.add_argument("-o", "--output", help="atlas picture to write")
    layers.add_argument("--size", type=int, default=256, help="side of each atlas tile in px")
    layers.add_argument("--overwrite", action="store_true", help="replace an existing output")
    layers.set_defaults(handler=command_layers)

    add_studio_command(commands)
    parser.commands = commands.choices  # name -> its parser, to name the command in a message
    return parser


def preset_in(argv: list[str]) -> str | None:
    """The --preset named on the command line, if any (for --help, before the line is parsed)."""
    for index, item in enumerate(argv):
        if item == "--preset" and index + 1 < len(argv):
            return argv[index + 1]
        if item.startswith("--preset="):
            return item.split("=", 1)[1]
    return None


def parse(parser: Parser, argv: list[str]) -> argparse.Namespace:
    """argv parsed; an argument the command does not take is named with the command (`dreamvid image`)."""
    args, extras = parser.parse_known_args(argv)
    if extras:
        raise unrecognized(parser.commands[args.command], args.command, extras)
    return args


def set_verbosity(verbose: bool) -> None:
    """--verbose: dreamvid's logger at INFO, which lets Ray's own log through (dreamvid.distributed.cluster)."""
    logging.getLogger("dreamvid").setLevel(logging.INFO if verbose else logging.WARNING)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 user error, 130/143/129 stopped by SIGINT/SIGTERM/SIGHUP)."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(preset_in(argv))
    if not argv:  # a bare `dreamvid`: what it can do, not an error
        parser.print_help()
        return 0
    args = None
    try:
        args = parse(parser, argv)
        set_verbosity(getattr(args, "verbose", False))
        with signals_interrupt():
            return args.handler(args)
    except (UserError, OSError) as error:
        if isinstance(error, OSError):  # a write the disk refused that no writer worded: still one line
            error = write_failure(error)
            if error is None:
                raise
        prog = getattr(error, "prog", None) or (f"dreamvid {args.command}" if args else "dreamvid")
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        hint = interrupt.continues("the same command with --resume") if isinstance(interrupt, Interrupted) else ""
        print(f"dreamvid: interrupted{'; ' + hint if hint else ''}", file=sys.stderr)
        return exit_status()
    except SystemExit as exit_request:  # --help and --version
        return exit_request.code if isinstance(exit_request.code, int) else 0


def run_main() -> None:
    """Console-script entry point: the only place that calls sys.exit."""
    try:
        code = run()
        sys.stdout.flush()  # a reader that went away shows here, where it can still be handled
    except BrokenPipeError:
        # `dreamvid presets | head -1`: the reader closed the pipe, no error of ours. Python's documented
        # recipe: point stdout at devnull so the interpreter's last flush stays quiet too. (ffmpeg's pipe
        # is handled in media.writer, so only stdout gets here.)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 141  # what a shell reports for a process ended by SIGPIPE
    sys.exit(code)
