"""The one check every output passes before any work is done: its folder exists and is writable,
and nothing is replaced without --overwrite. A frame pattern (frames/%05d.png) names a folder,
which is replaced only when it holds nothing but such frames."""

from __future__ import annotations

import os
import re

from dreamvid.errors import UserError

# A frame-file pattern such as frames/%05d.png makes a PNG sequence (ffmpeg's image2 muxer).
FRAME_PATTERN = re.compile(r"%0?\d*d")


def is_frame_pattern(path: str) -> bool:
    return FRAME_PATTERN.search(os.path.basename(path)) is not None


def output_target(path: str) -> str:
    """What an output path names on disk: the file, or the folder of a frame pattern (frames/%05d.png)."""
    if is_frame_pattern(path):
        return os.path.dirname(os.path.normpath(path))
    return path


def holds_only_frames(folder: str, pattern_name: str) -> bool:
    """True when every entry of `folder` is a frame file of `pattern_name` (e.g. 00001.png for %05d.png)."""
    frame_file = re.compile(FRAME_PATTERN.sub(r"\\d+", re.escape(pattern_name)) + "$")
    return all(map(frame_file.match, os.listdir(folder)))


def check_output_folder(path: str) -> None:
    """The folder `path` would be written in exists and is writable."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"output folder does not exist: {folder}")
    if not os.access(folder, os.W_OK):
        raise UserError(f"output folder is not writable: {folder}")


def check_new_output(path: str, overwrite: bool) -> None:
    """Fail before any work if `path` (a file or a frame pattern) cannot be written or would be replaced."""
    target = output_target(path)
    if target != path:
        check_frame_folder(target, os.path.basename(path))
        if os.path.isdir(target) and not os.listdir(target):
            return  # an empty folder is there to be filled
    check_output_folder(target)
    if os.path.exists(target) and not overwrite:
        raise UserError(f"output exists: {target} (pass --overwrite to replace it)")


def check_frame_folder(folder: str, pattern_name: str) -> None:
    if not folder:
        raise UserError(f"cannot write {pattern_name}: a frame sequence needs its own folder, e.g. frames/{pattern_name}")
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise UserError(f"cannot write {pattern_name} into {folder}: it is a file, not a folder")
    if os.path.isdir(folder) and not holds_only_frames(folder, pattern_name):
        raise UserError(f"{folder} holds files other than {pattern_name} frames; not replacing it")
