"""Uploads: a body streamed to a generated name under the work folder with a size limit, then
identified by its content (never by its name) as a picture, a clip or a sound. Whatever is
refused is deleted, so a bad upload leaves nothing behind."""

from __future__ import annotations

from dataclasses import asdict, dataclass
import os
from pathlib import Path
import re
import subprocess
import warnings

from PIL import Image, UnidentifiedImageError

from dreamvid.errors import UserError, writing
from dreamvid.media.process import clock_seconds
from dreamvid.studio.workfolder import WorkFolder, display_name, new_id

MAX_PIXELS = 64_000_000  # 8000 x 8000: far beyond what a dream needs, and bounded memory to decode
# ffmpeg demuxer -> the extension the stored copy gets (the reader and encoder choose by content anyway)
CLIP_EXTENSIONS = {"mov,mp4,m4a,3gp,3g2,mj2": ".mp4", "matroska,webm": ".mkv", "avi": ".avi", "gif": ".gif",
                   "mpegts": ".ts", "flv": ".flv", "ogg": ".ogg", "wav": ".wav", "mp3": ".mp3", "flac": ".flac"}
PURPOSES = ("input", "sound")
SOUND_CHECKED_S = 3601  # a sound is decoded this far at most: past the longest zoom the studio takes (3600 frames, >= 1 fps)
SOUND_DECODE_TIMEOUT_S = 60  # an hour of MP3 decodes in about 11 s on this machine's 2 loaded cores


@dataclass(frozen=True)
class Upload:
    id: str
    kind: str  # picture | clip | sound
    name: str  # the client's name, cleaned: shown, and used in the CLI command, never opened
    filename: str  # the stored file's generated name under uploads/
    width: int = 0
    height: int = 0
    frames: int = 0  # a clip's frames (estimated from its duration)
    seconds: float = 0.0  # a clip's or a sound's duration

    def to_json(self) -> dict:
        return {key: value for key, value in asdict(self).items() if key != "filename"}


class TooBig(UserError):
    pass


class UploadSink:
    """Receives an upload's body chunk by chunk into a generated name; past `limit` bytes, stops and deletes."""

    def __init__(self, folder: WorkFolder, limit: int):
        self.id = new_id()
        self.path = folder.uploads / f"{self.id}.part"
        self.limit = limit
        self.size = 0
        with writing(str(self.path)):
            self._file = open(self.path, "xb")

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            self.refuse()
        with writing(str(self.path)):
            self._file.write(chunk)

    def refuse(self) -> None:
        """Past the limit, counted or declared: the partial file deleted, and TooBig."""
        self.discard()
        raise TooBig(f"the file is larger than the upload limit of {self.limit / 1e6:g} MB "
                     f"(dreamvid studio --max-upload-mb raises it)")

    def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)

    def finish(self, client_name: str, purpose: str) -> Upload:
        """Identify what arrived; refuse (and delete) anything that is not what `purpose` needs."""
        self._file.close()
        try:
            if self.size == 0:
                raise UserError("the file is empty")
            kind, extension, *details = identify(self.path, purpose)
        except BaseException:
            self.path.unlink(missing_ok=True)
            raise
        final = self.path.with_name(self.id + extension)
        with writing(str(final)):
            os.replace(self.path, final)
        return Upload(self.id, kind, display_name(client_name), final.name, *details)


def identify(path: Path, purpose: str) -> tuple:
    """(kind, extension, width, height[, frames, seconds]) of an upload, from its content; UserError when it
    is unusable."""
    picture = picture_format(path)
    if purpose == "sound":
        report = "" if picture else ffmpeg_report(path)
        if re.search(r"Stream #.*: Audio:", report) is None:
            raise UserError("not a sound file ffmpeg can read (mp3, wav, flac, m4a, a video's sound...)")
        return "sound", CLIP_EXTENSIONS.get(demuxer(report) or "", ".sound"), 0, 0, 0, decoded_seconds(path)
    if picture:
        width, height, extension = picture
        return "picture", extension, width, height
    return ("clip", *clip_details(path))


def picture_format(path: Path) -> tuple[int, int, str] | None:
    """(width, height, extension) when Pillow reads it as a picture; checks the pixel count before decoding,
    so a decompression bomb (a small file claiming a huge picture) is refused without being unpacked."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as picture:
                width, height = picture.size
                kind = (picture.format or "png").lower()
                if width * height > MAX_PIXELS:
                    raise UserError(f"the picture claims {width}x{height} pixels; the studio takes at most "
                                    f"{MAX_PIXELS // 1_000_000} megapixels (a decompression bomb?)")
                if kind == "gif" and getattr(picture, "n_frames", 1) > 1:
                    return None  # an animated GIF is a clip
                picture.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UserError("the picture claims more pixels than the studio takes (a decompression bomb?)") from None
    except UnidentifiedImageError:
        return None
    except (OSError, ValueError, SyntaxError) as error:
        raise UserError(f"the picture is damaged ({error})") from None
    return width, height, {"jpeg": ".jpg", "tiff": ".tif"}.get(kind, "." + kind)


def ffmpeg_report(path: Path) -> str:
    from imageio_ffmpeg import get_ffmpeg_exe

    return subprocess.run([get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)], stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=30).stderr.decode(errors="replace")


def demuxer(report: str) -> str | None:
    found = re.search(r"^Input #0, (.+?), from ", report, re.M)
    return found[1] if found else None


def decoded_seconds(path: Path) -> float:
    """A sound's length as ffmpeg decodes it, not as its header says (a live recording's says nothing, a VBR
    MP3's may be far off), up to SOUND_CHECKED_S: what bounds a zoom timed to it, whose frames the render
    counts from the decoded sound too."""
    from imageio_ffmpeg import get_ffmpeg_exe

    command = [get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:a:0", "-t",
               str(SOUND_CHECKED_S), "-f", "null", "-"]
    try:
        report = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True,
                                timeout=SOUND_DECODE_TIMEOUT_S).stderr.decode(errors="replace")
    except subprocess.TimeoutExpired:
        raise UserError(f"the sound takes over {SOUND_DECODE_TIMEOUT_S} s to decode: upload a shorter one") from None
    seconds = clock_seconds(report, "time=", last=True)
    if seconds is None:
        raise UserError("not a sound file ffmpeg can decode")
    return seconds


def clip_details(path: Path) -> tuple[str, int, int, int, float]:
    """(extension, width, height, frames, seconds) of a clip ffmpeg can decode; a clip's frames are bounded
    like a picture's."""
    from dreamvid.media.reader import probe_video

    report = ffmpeg_report(path)
    if demuxer(report) is None or re.search(r"Stream #.*: Video:", report) is None:
        raise UserError("not a picture or a clip (the studio reads what Pillow or ffmpeg can: jpg, png, webp, "
                        "mp4, webm, mov, mkv...)")
    try:
        info = probe_video(str(path))
    except UserError:
        raise UserError("not a picture or a clip that ffmpeg can decode") from None
    if info.width * info.height > MAX_PIXELS:
        raise UserError(f"the clip's frames are {info.width}x{info.height}; the studio takes at most "
                        f"{MAX_PIXELS // 1_000_000} megapixels per frame")
    return (CLIP_EXTENSIONS.get(demuxer(report) or "", ".clip"), info.width, info.height, info.frame_count,
            info.duration)

