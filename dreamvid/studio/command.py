"""`dreamvid studio`: its arguments, and the one-line message when the `studio` extra is missing.
Nothing here imports the web framework, so the CLI stays light without the extra."""

from __future__ import annotations

import argparse
import importlib.util
import textwrap

from dreamvid.errors import UserError
from dreamvid.studio import bounds
from dreamvid.studio.bounds import DEFAULT_MAX_STORAGE_MB

DEFAULT_MAX_UPLOAD_MB = 200.0  # a minute of 1080p video; pictures are far smaller
NEEDED = ("starlette", "uvicorn", "sortedcontainers")
BOUNDS_HELP = textwrap.fill(
    "Only the page that `dreamvid studio` prints (with its token) can use the studio: requests from other web "
    "pages, under other Host names (DNS rebinding) or without the token are refused. The page's requests are "
    f"bounded: at most {bounds.MAX_FRAMES} frames ({bounds.MAX_PREVIEW_FRAMES} for a Dream, which loops in the "
    f"page), {bounds.MAX_SIDE} px on the longer side, {bounds.MAX_ITERATIONS} iterations per octave, "
    f"{bounds.MAX_OCTAVES} octaves, and a budget of {bounds.MAX_WORK:.0e} pixel-steps (width x height x frames x "
    f"full-size ascent steps per frame, a smaller octave's step counted by its area: about 3 hours on 2 CPU cores); {bounds.MAX_QUEUED_PER_TAB} queued jobs per tab, "
    f"{bounds.MAX_QUEUED} in all, {bounds.MAX_STREAMS} open progress streams, {bounds.MAX_UPLOADS_AT_ONCE} uploads at "
    f"once, {bounds.MAX_JSON_BYTES / 1e6:g} MB of JSON a request. Past --max-storage-mb (half of it "
    "for one tab) the oldest uploads and results are deleted. The command line has none of these bounds.",
    width=100).replace("e+", "e")


def add_studio_command(commands) -> None:
    studio = commands.add_parser("studio", help="a local web page to try dreams live, then render them",
                                 description="Serve the studio page: upload a picture or clip, preview dreams "
                                 "live, render, download. Needs the extra: pip install \"dreamvid[studio]\".",
                                 epilog=BOUNDS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    studio.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this "
                        "machine only; 0.0.0.0 lets anyone on the network who has the printed address with its "
                        "token use it, unencrypted: trusted networks only)")
    studio.add_argument("--port", type=int, default=8765, help="port (default: 8765; 0 = any free port)")
    studio.add_argument("--open", action="store_true", help="open the page in the default browser")
    studio.add_argument("--max-upload-mb", type=float, default=DEFAULT_MAX_UPLOAD_MB,
                        help=f"largest upload accepted, in MB (default: {DEFAULT_MAX_UPLOAD_MB:g})")
    studio.add_argument("--max-storage-mb", type=float, default=DEFAULT_MAX_STORAGE_MB,
                        help=f"uploads and results kept in the work folder, in MB; past it the oldest go "
                        f"(default: {DEFAULT_MAX_STORAGE_MB:g})")
    studio.add_argument("--work-folder", metavar="FOLDER", help="where uploads, results and the layer atlas "
                        "are kept (default: ~/.cache/dreamvid/studio)")
    studio.set_defaults(handler=command_studio)


def command_studio(args: argparse.Namespace) -> int:
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError('dreamvid studio needs the studio extra: pip install "dreamvid[studio]"')
    for flag, value in (("--max-upload-mb", args.max_upload_mb), ("--max-storage-mb", args.max_storage_mb)):
        if not 0 < value < float("inf"):
            raise UserError(f"{flag} must be a positive number, got {value:g}")
    if not 0 <= args.port <= 65535:  # socket.bind would raise OverflowError, not the OSError it words
        raise UserError(f"--port must be from 0 (any free port) to 65535, got {args.port}")
    from dreamvid.studio.server import serve

    return serve(args.host, args.port, args.open, args.max_upload_mb, args.work_folder, args.max_storage_mb)
