"""A strip of a real clip around a mover: source, naive (`--flow none`) and flow mode, several frames.

Reads the renders `bench_real.py --keep DIR` left in DIR/CLIP (source.mkv, out_naive/, out_flow/, and
out_NAME/ for each `--variant NAME:...`); `--rows` picks the rendered rows under the source.

    python benchmarks/strip_real.py DIR/vtest --frames 24,27,30,33 --box 250,80,134,128 -o docs/real_movers.jpg
        [--rows naive,smeared,flow]
"""

import argparse
import glob
import os
import sys

import numpy as np
from PIL import Image

from dreamvid.media.reader import read_frames

ROWS = ("naive", "flow")  # rendered rows under the source, by default
SCALE = 2  # small crops of a 384 px dream, enlarged so the patterns on a walker can be seen


def rendered(folder: str, mode: str) -> list[str]:
    return sorted(glob.glob(os.path.join(folder, f"out_{mode}", "*.png")))


def strip(folder: str, frames: list[int], box: tuple[int, int, int, int], modes=ROWS) -> Image.Image:
    x, y, width, height = box
    source = list(read_frames(os.path.join(folder, "source.mkv")))
    pictures = {"source": [source[t] for t in frames]}
    for mode in modes:
        paths = rendered(folder, mode)
        pictures[mode] = [np.asarray(Image.open(paths[t]).convert("RGB")) for t in frames]
    rows = [np.concatenate([picture[y:y + height, x:x + width] for picture in pictures[mode]], axis=1) for mode in ("source", *modes)]
    grid = Image.fromarray(np.concatenate(rows, axis=0))
    return grid.resize((grid.width * SCALE, grid.height * SCALE), Image.LANCZOS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder")
    parser.add_argument("--frames", default="24,27,30,33")
    parser.add_argument("--box", default="250,80,134,128", help="x,y,width,height of the crop")
    parser.add_argument("--rows", default=",".join(ROWS), help="rendered rows under the source (out_ROW/)")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    frames = [int(t) for t in args.frames.split(",")]
    box = tuple(int(v) for v in args.box.split(","))
    strip(args.folder, frames, box, tuple(args.rows.split(","))).save(args.output, quality=85)


if __name__ == "__main__":
    sys.exit(main())
