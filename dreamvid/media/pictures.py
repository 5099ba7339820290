"""Pictures in and out: any common format read as an RGB frame, written atomically."""

from __future__ import annotations

import os
import re
import tempfile
from typing import Union
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError
import numpy as np

from dreamvid.errors import UserError, writing
from dreamvid.media.outputs import check_new_output, check_output_folder

PICTURE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
MIN_SIDE = 16  # below it the network's first layers see less than a pixel of detail
MAX_ASPECT = 16  # a strip beyond 16:1 is a few pixels tall at any --size a render can afford


def to_rgb_array(picture: Image.Image) -> np.ndarray:
    """Any PIL mode -> uint8 RGB: 16-bit scaled (not clipped), alpha composited over white."""
    if picture.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(picture, dtype=np.float64)
        peak = 65535.0 if values.max() > 255 else 255.0
        grey = np.clip(values / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if picture.mode == "F":
        grey = np.clip(np.asarray(picture) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    has_alpha = picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info
    if has_alpha:
        rgba = picture.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    return np.asarray(picture.convert("RGB"))


def load_picture(path: str) -> np.ndarray:
    """Read any common picture as an RGB frame, respecting EXIF orientation."""
    if not os.path.exists(path):
        raise UserError(f"input not found: {path}")
    if os.path.isdir(path):
        raise UserError(f"input is a folder, not a picture: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # large, yet within the limit below
            with Image.open(path) as picture:
                picture = ImageOps.exif_transpose(picture)
                frame = to_rgb_array(picture)
    except Image.DecompressionBombError as error:
        claimed = re.search(r"\((\d+) pixels\)", str(error))  # Pillow's message names the size claimed
        size = f"{int(claimed[1]):,} pixels" if claimed else "more pixels than that"
        raise UserError(f"picture {path} claims {size}; dreamvid reads at most {2 * Image.MAX_IMAGE_PIXELS:,} "
                        f"(a damaged or hostile file?)") from None
    except UnidentifiedImageError:
        raise UserError(f"not a picture (or a format we cannot read): {path}") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise UserError(f"cannot read picture {path}: {error}") from None
    if min(frame.shape[:2]) < MIN_SIDE:
        raise UserError(f"picture too small: {frame.shape[1]}x{frame.shape[0]} (each side must be >= {MIN_SIDE} px)")
    return np.ascontiguousarray(frame)


Picture = Union[str, "os.PathLike[str]", np.ndarray, Image.Image]  # a path, an H x W x 3 uint8 RGB array, a PIL image
PICTURE_KINDS = "a path, an H x W x 3 uint8 RGB numpy array or a PIL image"


def is_path(picture: object) -> bool:
    return isinstance(picture, (str, os.PathLike))


def as_frame(picture: Picture) -> np.ndarray:
    """A picture given by path, as an array or as a PIL image, as an H x W x 3 uint8 RGB frame."""
    if is_path(picture):
        return load_picture(os.fspath(picture))
    if isinstance(picture, Image.Image):
        return np.ascontiguousarray(to_rgb_array(picture))
    if not isinstance(picture, np.ndarray):
        raise UserError(f"a picture must be {PICTURE_KINDS}; got {type(picture).__name__}")
    if picture.ndim != 3 or picture.shape[2] != 3 or picture.dtype != np.uint8:
        raise UserError(f"a picture must be {PICTURE_KINDS}; got a {picture.dtype} array of shape "
                        f"{'x'.join(map(str, picture.shape))}")
    if min(picture.shape[:2]) < MIN_SIDE:
        raise UserError(f"picture too small: {picture.shape[1]}x{picture.shape[0]} (each side must be >= {MIN_SIDE} px)")
    return picture


def check_picture_extension(path: str) -> None:
    extension = os.path.splitext(path)[1].lower()
    if extension not in PICTURE_EXTENSIONS:
        raise UserError(f"unknown output extension {extension or '(none)'!r} for {path}; "
                        f"use one of: {', '.join(PICTURE_EXTENSIONS)}")


def check_picture_output(path: str, overwrite: bool) -> None:
    """Fail before any work if the picture cannot be written (or would replace one without --overwrite)."""
    check_picture_extension(path)
    check_new_output(path, overwrite)


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_picture(frame: np.ndarray, path: str) -> None:
    """Write atomically: a temporary file in the same folder, renamed when complete."""
    check_picture_extension(path)
    check_output_folder(path)
    extension = os.path.splitext(path)[1].lower()
    folder = os.path.dirname(os.path.abspath(path))
    with writing(path):
        handle, temporary = tempfile.mkstemp(suffix=extension, prefix=".dreamvid-", dir=folder)
        os.close(handle)
        try:
            options = {"quality": 95} if extension in (".jpg", ".jpeg", ".webp") else {}
            Image.fromarray(frame).save(temporary, **options)
            os.chmod(temporary, 0o666 & ~current_umask())  # mkstemp makes it private; a picture is not
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise


def check_dream_shape(width: int, height: int, source: str) -> None:
    """One line, before any work, for a shape no dream can use: a side under MIN_SIDE, a strip beyond MAX_ASPECT."""
    if max(width, height) > MAX_ASPECT * min(width, height):
        ratio = max(width, height) / max(1, min(width, height))
        raise UserError(f"{source} would be dreamed at {width}x{height}, a ratio of {ratio:.0f}:1; dreamvid takes "
                        f"at most {MAX_ASPECT}:1 (crop it first)")
    if min(width, height) < MIN_SIDE:
        raise UserError(f"{source} would be dreamed at {width}x{height}: each side must be at least {MIN_SIDE} px "
                        f"(give a larger --size)")


def resize_frame(frame: np.ndarray, size: int, source: str = "the picture") -> np.ndarray:
    """Scale so that the longer side is `size` px (0 keeps the frame as it is); a shape no dream can use
    is refused (`check_dream_shape`)."""
    height, width = frame.shape[:2]
    if size <= 0 or max(height, width) == size:
        check_dream_shape(width, height, source)
        return frame
    scale = size / max(height, width)
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    check_dream_shape(*new_size, source)
    resample = Image.Resampling.LANCZOS
    return np.asarray(Image.fromarray(frame).resize(new_size, resample))
