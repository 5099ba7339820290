"""`dreamvid studio`: its arguments, and the one-line message when the `studio` extra is missing.
Nothing here imports the web framework, so the CLI stays light without the extra."""

from __future__ import annotations

import argparse
import importlib.util

from dreamvid.errors import UserError

DEFAULT_MAX_UPLOAD_MB = 200.0  # a minute of 1080p video; pictures are far smaller
NEEDED = ("starlette", "uvicorn")


def add_studio_command(commands) -> None:
    studio = commands.add_parser("studio", help="a local web page to try dreams live, then render them",
                                 description="Serve the studio page: upload a picture or clip, preview dreams "
                                 "live, render, download. Needs the extra: pip install \"dreamvid[studio]\".")
    studio.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this "
                        "machine only; 0.0.0.0 lets anyone on the network use it)")
    studio.add_argument("--port", type=int, default=8765, help="port (default: 8765; 0 = any free port)")
    studio.add_argument("--open", action="store_true", help="open the page in the default browser")
    studio.add_argument("--max-upload-mb", type=float, default=DEFAULT_MAX_UPLOAD_MB,
                        help=f"largest upload accepted, in MB (default: {DEFAULT_MAX_UPLOAD_MB:g})")
    studio.add_argument("--work-folder", metavar="FOLDER", help="where uploads, results and the layer atlas "
                        "are kept (default: ~/.cache/dreamvid/studio)")
    studio.set_defaults(handler=command_studio)


def command_studio(args: argparse.Namespace) -> int:
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError('dreamvid studio needs the studio extra: pip install "dreamvid[studio]"')
    if args.max_upload_mb <= 0:
        raise UserError(f"--max-upload-mb must be > 0, got {args.max_upload_mb:g}")
    from dreamvid.studio.server import serve

    return serve(args.host, args.port, args.open, args.max_upload_mb, args.work_folder)
