"""Scale change as motion: does a dream carried along the flow of an object that walks up to a still camera grow
with it, or boil (issue 31)?

The object is derived_clips' *object* (carphone's head, cut out in an ellipse, growing over vtest's still scene),
frozen on one frame of its footage, so that its exact motion is the derivation's similarity transform and nothing
else. A dream residual (a naive render's, or a band-passed noise of the dream's grain when none is given) is put on
the first frame and carried frame after frame as a clip's dream is (temporal.carried_residual, with the local gain,
then as_sharp_as_known), from frame FROM until the object has grown by SCALE. Printed, inside the object (its
ellipse, less a margin at the edge, which occludes the scene): the correlation of the carried residual with the
first residual magnified at once by the true transform (1: it grew; near 0: it boiled), the same for the residual
left where it was (what no carry gives), its strength over the magnified one's, and per frame the share of the
object's pixels the flow's check keeps (the hold's reliability) and what the automatic noise hold adds there.

    python benchmarks/bench_divergence.py [--folder DIR] [--scale 1.5] [--from 50] [--residual out_naive/00050.png
        --residual-source source.mkv]
"""

import argparse
import os
import sys

import cv2
from derived_clips import OBJECT_ELLIPSE, OBJECT_FILE, object_approach, object_placement
import numpy as np

from dreamvid import temporal
from dreamvid.flow import FlowEstimator
from dreamvid.media.reader import read_frames

SIZE = (384, 288)
FRAMES = 60  # as bench_real's clip, so the growth per frame is the table's
EDGE_MARGIN = 8  # px inside the object's edge left out: what the edge occludes takes the scene's dream


def object_mask(progress: float) -> np.ndarray:
    """Bool at SIZE: inside the object's ellipse at `progress`, EDGE_MARGIN px in from its edge."""
    cx, cy, ax, ay = OBJECT_ELLIPSE
    matrix = object_placement(progress, SIZE)
    scale = matrix[0, 0]
    centre = matrix[:, :2] @ np.array([cx, cy]) + matrix[:, 2]
    rows, columns = np.mgrid[0:SIZE[1], 0:SIZE[0]]
    return (((columns - centre[0]) / (ax * scale - EDGE_MARGIN)) ** 2
            + ((rows - centre[1]) / (ay * scale - EDGE_MARGIN)) ** 2) <= 1


def magnified(residual: np.ndarray, first: float, last: float) -> np.ndarray:
    """`residual` moved as the object moves from progress `first` to `last`, in one cubic resampling."""
    to_first, to_last = (np.vstack([object_placement(p, SIZE), [0, 0, 1]]) for p in (first, last))
    return cv2.warpAffine(residual, (to_last @ np.linalg.inv(to_first))[:2], SIZE, flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REFLECT_101)


def correlation(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    x, y = a[where].ravel(), b[where].ravel()
    return float(np.corrcoef(x - x.mean(), y - y.mean())[0, 1])


def dream_grain(seed: int = 0) -> np.ndarray:
    """A stand-in residual: noise band-passed to the dream's grain (2-6 px), at 0.06 mean |residual|."""
    noise = np.random.default_rng(seed).normal(0, 1, (SIZE[1], SIZE[0], 3)).astype(np.float32)
    band = cv2.GaussianBlur(noise, (0, 0), 1.0) - cv2.GaussianBlur(noise, (0, 0), 3.0)
    return band * (0.06 / np.abs(band).mean())


def given_residual(path: str, source_path: str, index: int) -> np.ndarray:
    """A render's frame minus its source frame, 0..1 floats at SIZE."""
    dream = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
    source = list(read_frames(source_path, size=SIZE, max_frames=index + 1))[index]
    return cv2.resize(dream, SIZE).astype(np.float32) / 255 - source.astype(np.float32) / 255


def last_frame(start: int, scale: float) -> int:
    """The first frame at which the object has grown by `scale` since `start`."""
    height = [object_placement(t / (FRAMES - 1), SIZE)[0, 0] for t in range(FRAMES)]
    grown = [t for t in range(start, FRAMES) if height[t] >= scale * height[start]]
    if not grown:
        sys.exit(f"the object grows by less than {scale}x from frame {start} to the last ({FRAMES - 1})")
    return grown[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", default=os.environ.get("DREAMVID_REAL_CLIPS",
                                                           os.path.expanduser("~/.cache/dreamvid-real-clips")))
    parser.add_argument("--scale", type=float, default=1.5)
    parser.add_argument("--from", dest="start", type=int, default=50)
    parser.add_argument("--residual", help="a render's frame (PNG) whose dream is carried")
    parser.add_argument("--residual-source", help="the source clip of --residual's render")
    parser.add_argument("--residual-index", type=int, default=50)
    args = parser.parse_args()
    scene = list(read_frames(os.path.join(args.folder, "vtest.avi"), size=SIZE, max_frames=FRAMES))
    head = next(read_frames(os.path.join(args.folder, OBJECT_FILE), max_frames=1))
    frames = object_approach(scene, [head], SIZE)
    end = last_frame(args.start, args.scale)
    residual = given_residual(args.residual, args.residual_source, args.residual_index) if args.residual else \
        dream_grain()
    carried, estimator = residual, FlowEstimator()
    print(f"object frozen; frames {args.start} -> {end}: the object grows {args.scale}x in {end - args.start} frames")
    print(f"  {'frame':>5s} {'growth':>7s} {'kept by the check':>17s} {'held, auto':>10s} {'noise gate':>10s}")
    for t in range(args.start + 1, end + 1):
        source = temporal.analyse(estimator, frames[t - 1], frames[t], "auto")
        carried = temporal.as_sharp_as_known(temporal.carried_residual(carried, source.backward, True),
                                             source.uncertainty)
        inside = object_mask(t / (FRAMES - 1))
        growth = object_placement(t / (FRAMES - 1), SIZE)[0, 0] / object_placement((t - 1) / (FRAMES - 1), SIZE)[0, 0]
        print(f"  {t:5d} {100 * (growth - 1):6.1f}% {(source.weights[inside] > 0.5).mean():17.2f} "
              f"{(source.held()[inside] > 0.5).mean():10.2f} {source.noise:10.2f}")
    inside = object_mask(end / (FRAMES - 1))
    truth = magnified(residual, args.start / (FRAMES - 1), end / (FRAMES - 1))
    strength = np.abs(carried[inside]).mean() / np.abs(truth[inside]).mean()
    print(f"inside the object at frame {end}: correlation with the residual magnified at once "
          f"{correlation(carried, truth, inside):.3f} (left where it was: {correlation(residual, truth, inside):.3f}), "
          f"strength {strength:.2f} x the magnified residual's")


if __name__ == "__main__":
    sys.exit(main())
