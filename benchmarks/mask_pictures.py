"""The README's mask pictures: a still dreamed inside a soft ellipse (source | mask | dream), and frames of
the synthetic walkers clip dreamed with `--mask motion` (source above, dream below).

    python benchmarks/mask_pictures.py docs/
"""

import os
import sys
import tempfile

import cv2
from PIL import Image
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from dreamvid.api import render_clip, render_image  # noqa: E402
from dreamvid.media.pictures import load_picture, resize_frame  # noqa: E402
from dreamvid.media.reader import read_frames  # noqa: E402
from dreamvid.media.synthetic import walkers_clip, write_clip  # noqa: E402

SAMPLES = os.path.join(REPO, "samples")
STRIP_FRAMES = (4, 10, 16, 22)


def masked_still(folder: str, work: str) -> None:
    source = resize_frame(load_picture(os.path.join(SAMPLES, "coffee.jpg")), 320)
    height, width = source.shape[:2]
    mask = np.zeros((height, width), np.uint8)
    cv2.ellipse(mask, (width // 2, height // 2), (width // 4, height // 3), 0, 0, 360, 255, -1)
    Image.fromarray(mask).save(os.path.join(work, "mask.png"))
    Image.fromarray(source).save(os.path.join(work, "coffee.png"))
    out = os.path.join(work, "dreamed.png")
    render_image(os.path.join(work, "coffee.png"), out, "eyes", mask=os.path.join(work, "mask.png"),
                 mask_feather=24, device="cpu", progress=False, overwrite=True)
    panels = [source, np.repeat(mask[..., None], 3, axis=2), np.asarray(Image.open(out))]
    Image.fromarray(np.hstack(panels)).save(os.path.join(folder, "mask_still.jpg"), quality=85)


def motion_strip(folder: str, work: str) -> None:
    clip = walkers_clip(load_picture(os.path.join(SAMPLES, "chelsea.jpg")),
                        load_picture(os.path.join(SAMPLES, "coffee.jpg")), 24, (256, 192))
    path = os.path.join(work, "walkers.mp4")
    write_clip(clip, path, fps=12, tone_hz=None)
    out = os.path.join(work, "dreamed", "%05d.png")
    render_clip(path, out, mask="motion", device="cpu", progress=False, overwrite=True)
    source = list(read_frames(path))
    dreamed = [np.asarray(Image.open(out % (t + 1))) for t in STRIP_FRAMES]
    strip = np.vstack([np.hstack([source[t] for t in STRIP_FRAMES]), np.hstack(dreamed)])
    Image.fromarray(strip).save(os.path.join(folder, "mask_motion_strip.jpg"), quality=85)


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "docs")
    with tempfile.TemporaryDirectory() as work:
        masked_still(target, work)
        motion_strip(target, work)
