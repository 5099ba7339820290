"""Loops: how far the last frame is from the first (the wrap) against a normal frame-to-frame change,
and how sharp the frames that close the loop are against the median frame (a cross-fade ghosts: softer).

    python benchmarks/bench_loop.py [--size 96] [--seconds 2] [--fps 15] [--only NAME]

For a zoom with the default preset (tunnel), with cadence 3, with the settings table's defaults, a
music-driven zoom (music-tunnel, samples/song.mp3) and a looping clip (a window going around a circle on
a picture) and, where bench_real.py's clips are, a looping clip of filmed footage at a realistic size (vtest.avi's
walkers forward, then backward: its own sharpness holds within 5% where the circle's varies 20%, so its closing
measures the dream, not the content), each without and with --loop.
Targets (issue 29): wrap / median step <= 1.2; closing sharpness / median >= 0.9.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads yield: the CPU is shared

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import torch  # noqa: E402

import dreamvid.api as api  # noqa: E402
from dreamvid.media.pictures import load_picture  # noqa: E402
from dreamvid.media.reader import read_frames  # noqa: E402
from dreamvid.render import clip_loop, zoom_loop  # noqa: E402
from dreamvid.settings import BY_NAME  # noqa: E402
from dreamvid.media.synthetic import circle_clip, write_clip  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = os.path.join(HERE, "..", "samples")


def step_sizes(frames: list[np.ndarray]) -> np.ndarray:
    """Mean absolute difference between consecutive frames (0..255)."""
    return np.array([np.abs(a.astype(np.float32) - b.astype(np.float32)).mean() for a, b in zip(frames, frames[1:])])


def sharpness(frame: np.ndarray) -> float:
    """Variance of the Laplacian of the grey frame."""
    return float(cv2.Laplacian(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())


def wrap_ratio(frames: list[np.ndarray]) -> float:
    """The jump from the last frame to the first over the median frame-to-frame change."""
    return float(step_sizes([frames[-1], frames[0]])[0] / np.median(step_sizes(frames)))


def largest_step(frames: list[np.ndarray]) -> float:
    """The largest step between consecutive frames (not the wrap) over the median: a beat's zoom surges."""
    steps = step_sizes(frames)
    return float(steps.max() / np.median(steps))


def closing_sharpness(frames: list[np.ndarray], closing: int) -> float:
    """The softest of the last `closing` frames (a ghost shows there: a zoom closes over its last 1.5 s, a
    clip over its last second) over the median frame's sharpness."""
    values = [sharpness(frame) for frame in frames]
    return float(min(values[-closing:]) / np.median(values))


def source_closing_sharpness(frames: list[np.ndarray], source: list[np.ndarray], closing: int) -> float:
    """As closing_sharpness, each frame's sharpness over its source frame's first: a window crossing softer
    parts of the picture softens the dream with it, which is the content, not the loop."""
    values = [sharpness(frame) / max(sharpness(original), 1e-6) for frame, original in zip(frames, source)]
    return float(min(values[-closing:]) / np.median(values))


def zoom_loop_frames(preset: str | None, size: int, loop: bool, **settings) -> list[np.ndarray]:
    picture = os.path.join(SAMPLES, "chelsea.jpg")
    return [frame.image for frame in api.zoom_frames(picture, preset=preset, size=size, loop=loop, **settings)]


def looping_clip(path: str, size: int, frames: int, fps: int) -> str:
    """A clip that loops: a window going once around a small circle on a picture (a slow move, so the dream's
    own changes, not the picture's, make most of a step)."""
    picture = load_picture(os.path.join(SAMPLES, "coffee.jpg"))
    picture = cv2.resize(picture, (size * 2, size * 2), interpolation=cv2.INTER_AREA)
    write_clip(circle_clip(picture, frames, (size, size), radius=size / 48), path, fps=fps, tone_hz=None)
    return path


REAL_CLIPS = os.environ.get("DREAMVID_REAL_CLIPS", os.path.join(
    os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "dreamvid-real-clips"))  # as bench_real's


def real_looping_clip(path: str, size: int, frames: int, fps: int) -> str | None:
    """Filmed footage that loops: the first frames of vtest.avi (walkers before a still camera) forward, then
    backward without its end frames twice (None: the real clips are not there, see bench_real.py)."""
    source = os.path.join(REAL_CLIPS, "vtest.avi")
    if not os.path.exists(source):
        return None
    forward = list(read_frames(source, size=None, max_frames=frames // 2 + 1))
    height, width = forward[0].shape[:2]
    scale = size / max(height, width)
    side = (round(width * scale) // 2 * 2, round(height * scale) // 2 * 2)
    forward = [cv2.resize(frame, side, interpolation=cv2.INTER_AREA) for frame in forward]
    write_clip(forward + forward[-2:0:-1], path, fps=fps, tone_hz=None)
    return path


TABLE_DEFAULTS = {name: BY_NAME[name].default for name in ("zoom", "octaves", "iterations")}  # what tunnel changes


def clip_case(name: str, clip: str, size: int):
    return name, lambda loop: [f.image for f in api.clip_frames(clip, size=size, loop=loop)], \
        clip_loop.CLOSING_SECONDS, list(read_frames(clip))


def cases(size: int, seconds: float, fps: int, clip: str, real: str | None, real_size: int):
    """(name, render(loop) -> frames, the closing's seconds, the source frames or None for a zoom)."""
    frames, closing = round(seconds * fps), zoom_loop.CLOSING_SECONDS
    yield "zoom, default preset (tunnel)", lambda loop: zoom_loop_frames("tunnel", size, loop, frames=frames,
                                                                           fps=fps), closing, None
    yield "zoom, tunnel, cadence 3", lambda loop: zoom_loop_frames("tunnel", size, loop, frames=frames, fps=fps,
                                                                     cadence=3), closing, None
    yield "zoom, the table's defaults (3 octaves x 10 steps)", lambda loop: zoom_loop_frames(
        "tunnel", size, loop, frames=frames, fps=fps, **TABLE_DEFAULTS), closing, None
    yield "zoom, music-tunnel + song.mp3", lambda loop: zoom_loop_frames(
        "music-tunnel", size, loop, frames=frames, fps=fps, audio=os.path.join(SAMPLES, "song.mp3")), closing, None
    yield clip_case("looping clip, video-subtle", clip, size)
    if real:
        yield clip_case(f"looping clip, real footage at {real_size} px, video-subtle", real, real_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--only", default="")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--real-size", type=int, default=288, help="the real looping clip's longer side")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs("/tmp/bench_loop", exist_ok=True)
    frames = round(args.seconds * args.fps)
    clip = looping_clip("/tmp/bench_loop/circle.mp4", args.size, frames, args.fps)
    real = real_looping_clip("/tmp/bench_loop/real.mp4", args.real_size, frames, args.fps)
    print(f"load: {open('/proc/loadavg').read().split()[:3]}; {args.size} px, {args.seconds:g} s at {args.fps} fps; "
          f"{'real footage from ' + REAL_CLIPS if real else 'no real footage (' + REAL_CLIPS + ' has no vtest.avi)'}")
    print("| case | --loop | frames | wrap / median step | largest step / median | closing sharpness / median | "
          "the same, each frame over its source's | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for name, render, closing_seconds, source in cases(args.size, args.seconds, args.fps, clip, real, args.real_size):
        if args.only and args.only not in name:
            continue
        for loop in (False, True):
            started = time.monotonic()
            frames, closing = render(loop), round(closing_seconds * args.fps)
            against_source = "-" if source is None else f"{source_closing_sharpness(frames, source, closing):.2f}"
            print(f"| {name} | {'yes' if loop else 'no'} | {len(frames)} | {wrap_ratio(frames):.2f} | "
                  f"{largest_step(frames):.2f} | {closing_sharpness(frames, closing):.2f} | {against_source} | "
                  f"{time.monotonic() - started:.0f} |", flush=True)


if __name__ == "__main__":
    main()
