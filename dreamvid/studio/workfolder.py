"""The studio's one work folder: uploads, results and the layer atlas live under it, each file
under a name the server generates (no name or path sent by a client is ever opened)."""

from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path
import re
import secrets
import stat

from dreamvid.errors import UserError


def default_work_folder() -> Path:
    """Under the user's cache folder, so the layer atlas survives restarts."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "dreamvid" / "studio"


def new_id() -> str:
    """A random name: 64 bits, so ids cannot be guessed or collide."""
    return secrets.token_hex(8)


ID_PATTERN = re.compile(r"[0-9a-f]{16}")


def is_id(text: str) -> bool:
    return ID_PATTERN.fullmatch(text) is not None


def regular_file(path: Path, inside: Path | None = None) -> Path:
    """`path` when it is a regular file (not a link, FIFO or device), inside `inside` when given: the only
    files a job may open, so that nothing a page sends can make the server block on a pipe or read elsewhere."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        raise UserError("the file is gone from the studio's work folder: upload it again") from None
    within = inside is None or path.resolve().is_relative_to(inside.resolve())
    if not stat.S_ISREG(mode) or not within:
        raise UserError("the studio reads only the files it stored itself: upload the file again")
    return path


def display_name(name: str, fallback: str = "input") -> str:
    """The client's file name, kept only to show it (and in the CLI command): letters, digits, -_. only."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.basename(name or "")).strip("._")[:80]
    return stem or fallback


@dataclass(frozen=True)
class WorkFolder:
    root: Path

    def __post_init__(self) -> None:
        for folder in (self.uploads, self.results, self.atlas):
            folder.mkdir(parents=True, exist_ok=True)

    @property
    def uploads(self) -> Path:
        return self.root / "uploads"

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def atlas(self) -> Path:
        return self.root / "atlas"

    def upload_path(self, filename: str) -> Path:
        """A stored upload's path, checked (`regular_file`) before a job is given it."""
        return regular_file(self.uploads / filename, self.uploads)
