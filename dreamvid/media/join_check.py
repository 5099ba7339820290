"""The check of a joined output against the plan: its frame count and its video's length.

ffmpeg's concat demuxer logs "Impossible to open" for a missing or damaged segment and still exits 0,
so its exit status alone would let a short video through. The joined file is read back (its packets
copied to nowhere: no decoding, so it takes a moment even for a long video) before it is committed.
"""

from __future__ import annotations

from fractions import Fraction
import re
import subprocess

from dreamvid.errors import UserError
from dreamvid.media.process import ffmpeg_command, file_url


def video_length(path: str) -> tuple[int, Fraction]:
    """(frames, seconds from the first frame's start to the last one's end) of a file's first video
    stream, from its packets (ffmpeg's framecrc lists each packet's times in the stream's time base)."""
    args = [*ffmpeg_command(), "-i", file_url(path), "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-"]
    listing = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True).stdout.decode(errors="replace")
    base = re.search(r"^#tb 0: (\d+)/(\d+)", listing, re.M)
    packets = [line.split(",") for line in listing.splitlines() if line and not line.startswith("#")]
    if base is None or not packets:
        return 0, Fraction(0)
    starts = [int(packet[2]) for packet in packets]
    ends = [int(packet[2]) + int(packet[3]) for packet in packets]
    return len(packets), (max(ends) - min(starts)) * Fraction(int(base[1]), int(base[2]))


def check_joined(path: str, final_path: str, frames: int, fps: Fraction, what_went_wrong: str = "") -> None:
    """Refuse a joined video (at `path`, to become `final_path`) without exactly `frames` frames lasting
    frames / fps (to within a frame: containers round times to their time base)."""
    found, seconds = video_length(path)
    fps = Fraction(fps)
    expected = frames / fps
    if found == frames and abs(seconds - expected) <= 1 / fps:
        return
    said = f" (ffmpeg: {what_went_wrong})" if what_went_wrong else ""
    raise UserError(f"the join of {final_path} gave {found} frames lasting {float(seconds):.3f} s, not {frames} "
                    f"lasting {float(expected):.3f} s{said}; the state is kept: the same command with --resume "
                    f"checks the segments and joins again")
