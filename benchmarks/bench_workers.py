"""Dreaming a clip's shots on Ray workers: speed, and the seams of split long shots.

1. Speed: a synthetic clip of three shots (pans over three pictures, hard cuts between), dreamed in one
   process (torch on every core) and on 2 local Ray workers (the cores split between them); frames/s of
   each, the speed-up, and whether the two outputs are equal frame for frame. The local Ray cluster's own
   start is timed apart (a cluster joined with --ray is already running).
2. Seams: one long pan dreamed with --max-shot-seconds, so that pieces start from a warm-up instead of
   from the carried dream; E_t (docs/DESIGN.md, "Measuring flicker") at each seam against the median E_t
   of the shot, with the warm-up (render/shots.py, WARMUP_SECONDS) and without one.

    python benchmarks/bench_workers.py [--shot-frames 24] [--size 192x128] [--preset video-subtle]
"""

import argparse
import glob
import os
import statistics
import tempfile
import time

# idle OpenMP threads yield (as tests/conftest.py): on a busy machine spinning threads of two processes
# would measure the contention, not the split; set before torch loads OpenMP, inherited by the workers
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from PIL import Image  # noqa: E402
import numpy as np  # noqa: E402
import ray  # noqa: E402
import torch  # noqa: E402

from dreamvid.flow import FlowEstimator  # noqa: E402
from dreamvid.media.pictures import load_picture  # noqa: E402
from dreamvid.media.synthetic import pan_clip, write_clip  # noqa: E402
from dreamvid.metrics import frame_warping_error, strength_per_frame  # noqa: E402
from dreamvid.distributed import shots  # noqa: E402
from dreamvid.render.clip import render_clip  # noqa: E402
from dreamvid.settings import merge  # noqa: E402
from dreamvid.settings.files import load_preset  # noqa: E402

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "samples")
FPS = 24


def pictures() -> list[np.ndarray]:
    return [load_picture(os.path.join(SAMPLES, name)) for name in ("chelsea.jpg", "coffee.jpg", "rocket.jpg")]


def dream(source: str, folder: str, name: str, preset: str, extra: dict) -> tuple[list[np.ndarray], float]:
    """Render through the real pipeline into a PNG sequence; the frames and the wall time."""
    pattern = os.path.join(folder, name, "%05d.png")
    settings = merge((preset, load_preset(preset)), ("bench", {"device": "cpu", "checkpoint_frames": 12, **extra}))
    start = time.perf_counter()
    render_clip(source, pattern, settings, overwrite=True)
    seconds = time.perf_counter() - start
    return [np.asarray(Image.open(path).convert("RGB")) for path in sorted(glob.glob(os.path.join(folder, name, "*.png")))], seconds


def frame_errors(source: list[np.ndarray], output: list[np.ndarray]) -> list[float | None]:
    """E_t for t = 1.. (None where nothing is visible in both frames, as across a cut)."""
    estimator = FlowEstimator()
    return [frame_warping_error(estimator, (source[t - 1], source[t]), (output[t - 1], output[t]))
            for t in range(1, len(source))]


def speed(folder: str, size: tuple[int, int], shot_frames: int, preset: str) -> None:
    clip = [frame for picture in pictures() for frame in pan_clip(picture, shot_frames, size, 1.0)]
    source = os.path.join(folder, "shots.mkv")
    write_clip(clip, source, fps=FPS, tone_hz=None, crf=0)
    cores = os.cpu_count() or 1
    torch.set_num_threads(max(1, cores // 2))  # a worker's threads: the same arithmetic, so the same frames
    alike, alike_seconds = dream(source, folder, "alike", preset, {})
    torch.set_num_threads(cores)
    one, one_seconds = dream(source, folder, "one", preset, {})
    start = time.perf_counter()
    ray.init(num_cpus=cores, include_dashboard=False, logging_level="WARNING")
    started = time.perf_counter() - start
    try:
        two, two_seconds = dream(source, folder, "two", preset, {"workers": 2})
    finally:
        ray.shutdown()
    frames = len(clip)
    same = {label: len(two) == len(out) and all(np.array_equal(a, b) for a, b in zip(out, two))
            for label, out in (("cores", one), ("alike", alike))}
    print(f"speed: {frames} frames {size[0]}x{size[1]}, 3 shots, preset {preset}, {cores} cores, load average "
          f"{os.getloadavg()[1]:.1f} over the last 5 minutes (other jobs take cores from the workers)")
    half = max(1, cores // 2)
    print(f"  1 process, {cores} threads:  {one_seconds:6.1f} s  {frames / one_seconds:5.2f} frames/s")
    print(f"  1 process, {half} threads:  {alike_seconds:6.1f} s  {frames / alike_seconds:5.2f} frames/s")
    print(f"  2 workers, {half} each:    {two_seconds:6.1f} s  {frames / two_seconds:5.2f} frames/s  "
          f"(+ {started:.1f} s to start the local cluster)")
    print(f"  speed-up over 1 process of {cores} threads: {one_seconds / two_seconds:.2f}x "
          f"({one_seconds / (two_seconds + started):.2f}x counting the cluster start)")
    print(f"  2 workers equal frame for frame: the {half}-thread process {same['alike']}, "
          f"the {cores}-thread one {same['cores']}")


def seams(folder: str, size: tuple[int, int], preset: str) -> None:
    clip = pan_clip(pictures()[1], 4 * FPS, size, 1.0)  # one 4 s shot, pieces of 1 s
    source = os.path.join(folder, "long.mkv")
    write_clip(clip, source, fps=FPS, tone_hz=None, crf=0)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))  # the workers' arithmetic
    ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, logging_level="WARNING")
    try:
        whole, _ = dream(source, folder, "whole", preset, {})
        split = {}
        for label, warmup in (("warm-up 1 s", shots.WARMUP_SECONDS), ("no warm-up", 0.0)):
            shots.WARMUP_SECONDS = warmup  # the driver plans the pieces, so setting it here is enough
            frames, _ = dream(source, folder, label.replace(" ", "_"), preset, {"workers": 2, "max_shot_seconds": 1.0})
            split[label] = frames, seam_frames(len(clip), warmup), round(warmup * FPS)
    finally:
        ray.shutdown()
    print(f"\nseams: one {len(clip)}-frame pan {size[0]}x{size[1]}, --max-shot-seconds 1; E_t at t = the first "
          f"frame of each piece whose warm-up does not reach back to the shot's start")
    median = statistics.median(e for e in frame_errors(clip, whole) if e is not None)
    print(f"  unsplit      median E_t {median:.6f}")
    for label, (output, seams_at, warmup) in split.items():
        errors = frame_errors(clip, output)
        median = statistics.median(e for e in errors if e is not None)
        at_seams = " ".join(f"t={t}: {errors[t - 1]:.6f}" for t in seams_at)
        differs = [t for t in range(len(clip)) if not np.array_equal(output[t], whole[t])]
        strength = strength_per_frame(clip, output)
        middle = [t - warmup // 2 for t in seams_at]  # half-way through each fade
        print(f"  {label:12s} median E_t {median:.6f}  at the seams {at_seams}  (worst seam / median "
              f"{max(errors[t - 1] for t in seams_at) / median:.2f}); frames unlike the unsplit render: "
              f"{len(differs)}; dream strength half-way through the fades "
              f"{' '.join(f'{strength[t]:.4f}' for t in middle)} (median {statistics.median(strength):.4f})")


def seam_frames(frames: int, warmup_seconds: float) -> list[int]:
    pieces = shots.plan_shots([0], frames, FPS, round(warmup_seconds * FPS), 12)
    return [piece.first for piece in pieces if piece.warm_from > 0]  # not warmed up from the shot's own start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shot-frames", type=int, default=24)
    parser.add_argument("--size", default="192x128")
    parser.add_argument("--preset", default="video-subtle")
    args = parser.parse_args()
    size = tuple(int(side) for side in args.size.split("x"))
    with tempfile.TemporaryDirectory() as folder:
        speed(folder, size, args.shot_frames, args.preset)
        seams(folder, size, args.preset)


if __name__ == "__main__":
    main()
