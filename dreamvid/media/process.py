"""ffmpeg plumbing shared by the reader and the writer: the binary, its processes, its messages.

Processes start through `popen` (looked up on this module, so tests can watch them), each in its
own process group, with stderr in a temporary file so that ffmpeg never blocks on a full pipe.
"""

from __future__ import annotations

from fractions import Fraction
import os
import re
import subprocess
from typing import IO

import imageio_ffmpeg

from dreamvid.errors import UserError

# What ffmpeg prints after the real error: summaries, thread teardown, and lines naming our temporary file.
NOISE = re.compile(r"^(Conversion failed!|Error opening (in|out)put files? .*\.$|At least one output"
                    r"|Task finished with|Terminating thread|Nothing was written|Could not open encoder before"
                    r"|Cannot determine format of input|Decode error rate)")


def ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


# Output options that leave out what differs from run to run (a Matroska file's random segment id, its date,
# the versions' names), so the same frames give the same bytes: an input written beside its output
# (api.clip_beside) is the same file when written again for a resume, and a render can be checked by its hash.
BITEXACT = ("-fflags", "+bitexact", "-flags", "+bitexact")


def clock_seconds(report: str, label: str, last: bool = False) -> float | None:
    """The seconds of a time ffmpeg printed as `label`HH:MM:SS.ss in `report` ("Duration: ", or the progress
    lines' "time="): the first such time, or the last; None where it printed none."""
    found = re.findall(re.escape(label) + r"(\d+):(\d\d):(\d\d(?:\.\d+)?)", report)
    if not found:
        return None
    hours, minutes, seconds = found[-1 if last else 0]
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def ffmpeg_command(loglevel: str = "error") -> list[str]:
    """The start of every ffmpeg command: no banner, no stdin, no progress lines, only what matters."""
    return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", loglevel]


def fps_fraction(value: float | str | Fraction) -> Fraction:
    """An exact frame rate from ffmpeg's decimal one: 29.97 -> 30000/1001, 12.5 -> 25/2."""
    if isinstance(value, Fraction) or (isinstance(value, str) and "/" in value):
        rate = Fraction(value)
    else:
        x = float(value)
        ntsc = round(x * 1.001)
        if x > 0 and abs(x - round(x)) < 1e-6:
            rate = Fraction(round(x))
        elif ntsc > 0 and abs(x * 1.001 - ntsc) < 0.01:  # ffmpeg prints NTSC rates to 2 decimals
            rate = Fraction(ntsc * 1000, 1001)
        else:
            rate = Fraction(str(value)).limit_denominator(1001)
    if rate <= 0:
        raise UserError(f"frame rate must be positive, got {value}")
    return rate


def ffmpeg_message(err: str, lines: int = 3) -> str:
    """ffmpeg's last meaningful lines, without the `[h264 @ 0x55...]` prefixes, as one line."""
    meaningful = []
    for line in err.splitlines():
        line = re.sub(r"^(\[[^\]]*\]\s*)+", "", line.strip())
        if line and not NOISE.match(line):
            meaningful.append(line)
    return " | ".join(meaningful[-lines:])


def file_url(path: str) -> str:
    """A path as ffmpeg must get it: absolute and behind `file:`, so that a name starting with `-`
    is never read as an option, nor one holding `:` as a protocol."""
    return "file:" + os.path.abspath(path)


def pattern_url(pattern: str) -> str:
    """A frame pattern (folder/%05d.png) as ffmpeg's image2 format must get it: a `%` in the
    folder's name doubled, or image2 would read it as part of the pattern."""
    folder, name = os.path.split(os.path.abspath(pattern))
    return "file:" + os.path.join(folder.replace("%", "%%"), name)


def popen(args: list[str], **kwargs) -> subprocess.Popen:
    # A session of its own (setsid; Python 3.10 has no process_group): Ctrl-C reaches Python only,
    # which then kills ffmpeg and cleans up.
    if os.name == "posix":
        kwargs["start_new_session"] = True
    return subprocess.Popen(args, **kwargs)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def read_log(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")
