"""Optical-flow methods side by side on real and derived footage (issue 31): how well each one's backward flow
explains the moving pixels, how many of them its forward-backward check keeps, and its time per flow at the
dream size and at 1080p.

Per clip of bench_real's table and per method: the photometric error on moving pixels, mean |I_t - warp(I_t-1)|
(0..1) after warping the previous frame along the method's backward flow (for a derived night clip, the frames
warped are the clean ones before darkening: did the flow follow the scene or the noise?), the share of moving
pixels that pass Ruder's check (reliability >= 0.5), and of still pixels (sensor noise fails the check in place).
The contrib methods (DeepFlow, DualTVL1, RLOF, PCAFlow) run only with opencv-contrib-python-headless (which
replaces opencv-python-headless: try it in a throwaway virtual environment).

    python benchmarks/bench_flow_methods.py [--clips vtest,bikes-night] [--frames 20] [--methods dis,dis-fine]
        [--hd-pairs 3]
"""

import argparse
import os
import statistics
import sys
import time

import cv2
import numpy as np

from bench_real import CLIPS, DEFAULT_FOLDER, extract
from dreamvid.flow import reliability, warp_with_flow
from dreamvid.media.frames import frame_to_float
from dreamvid.metrics import is_moving, visibly_changed


def dis(preset: int, finest: int | None = None, refine: int | None = None, prepare=None):
    estimator = cv2.DISOpticalFlow_create(preset)
    if finest is not None:
        estimator.setFinestScale(finest)
    if refine is not None:
        estimator.setVariationalRefinementIterations(refine)
    prepare = prepare or (lambda grey: grey)
    return lambda a, b: estimator.calc(prepare(a), prepare(b), None)


def denoised(sigma: float):
    return lambda grey: cv2.GaussianBlur(grey, (0, 0), sigma)


def equalised(grey: np.ndarray) -> np.ndarray:
    return cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(grey)


def lifted(grey: np.ndarray) -> np.ndarray:
    """Dark footage stretched to the full range (its 1st-99th percentile), then smoothed a little."""
    low, high = np.percentile(grey, (1, 99))
    stretched = np.clip((grey.astype(np.float32) - low) * 255 / max(high - low, 1), 0, 255).astype(np.uint8)
    return cv2.GaussianBlur(stretched, (0, 0), 1.0)


def farneback(a, b):
    return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)


def contrib_methods() -> dict:
    if not hasattr(cv2, "optflow"):
        return {}
    deep = cv2.optflow.createOptFlow_DeepFlow()
    tvl1 = cv2.optflow.DualTVL1OpticalFlow_create()
    pca = cv2.optflow.createOptFlow_PCAFlow()
    to_bgr = lambda grey: cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)  # noqa: E731  RLOF takes 3 channels
    return {
        "deepflow": lambda a, b: deep.calc(a, b, None),
        "dualtvl1": lambda a, b: tvl1.calc(a, b, None),
        "pcaflow": lambda a, b: pca.calc(a, b, None),
        "rlof": lambda a, b: cv2.optflow.calcOpticalFlowDenseRLOF(to_bgr(a), to_bgr(b), None),
    }


def methods() -> dict:
    medium, fast = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, cv2.DISOPTICAL_FLOW_PRESET_FAST
    return {
        "dis": dis(medium),
        "dis-fine": dis(medium, finest=0),
        "dis-fast": dis(fast),
        "dis-refine20": dis(medium, refine=20),
        "dis-refine0": dis(medium, refine=0),
        "dis-denoised1": dis(medium, prepare=denoised(1.0)),
        "dis-denoised2": dis(medium, prepare=denoised(2.0)),
        "dis-clahe": dis(medium, prepare=equalised),
        "dis-lifted": dis(medium, prepare=lifted),
        "farneback": farneback,
        **contrib_methods(),
    }


def grey(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def clean_frames(name: str, args, source: list[np.ndarray]) -> list[np.ndarray]:
    """The frames the flow should explain: for a night clip the scene before darkening, else the source."""
    clip = CLIPS[name]
    if clip.derived != "night":
        return source
    from dataclasses import replace
    return extract(replace(clip, derived=""), args.folder, args.frames, os.path.join(args.scratch, "clean.mkv"))


def score(flow_of, source: list[np.ndarray], clean: list[np.ndarray]) -> dict:
    errors, moving_kept, still_kept, times = [], [], [], []
    for t in range(1, len(source)):
        a, b = grey(source[t - 1]), grey(source[t])
        began = time.perf_counter()
        backward = flow_of(b, a).astype(np.float32)
        times.append(time.perf_counter() - began)
        forward = flow_of(a, b).astype(np.float32)
        moving = is_moving(backward, visibly_changed(clean[t - 1], clean[t]))
        weights = reliability(backward, forward)
        error = np.abs(frame_to_float(clean[t]) - warp_with_flow(frame_to_float(clean[t - 1]), backward)).mean(axis=2)
        if moving.any():
            errors.append((float(error[moving].sum()), int(moving.sum())))
            moving_kept.append(float((weights[moving] >= 0.5).mean()))
        still_kept.append(float((weights[~moving] >= 0.5).mean()))
    count = sum(n for _, n in errors)
    return {"error": sum(s for s, _ in errors) / count if count else float("nan"),
            "moving_kept": statistics.mean(moving_kept) if moving_kept else float("nan"),
            "still_kept": statistics.mean(still_kept), "ms": 1000 * statistics.median(times)}


def hd_ms(flow_of, source: list[np.ndarray], pairs: int) -> float:
    """Median ms per flow on the clip's frames resized to 1920x1080 (NaN: the method fails at that size)."""
    frames = [cv2.resize(grey(frame), (1920, 1080), interpolation=cv2.INTER_CUBIC) for frame in source[:pairs + 1]]
    times = []
    for t in range(1, len(frames)):
        began = time.perf_counter()
        try:
            flow_of(frames[t], frames[t - 1])
        except cv2.error:  # RLOF's interpolation refuses more than 32767 matches
            return float("nan")
        times.append(time.perf_counter() - began)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", default=os.environ.get("DREAMVID_REAL_CLIPS", DEFAULT_FOLDER))
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--clips", default=",".join(CLIPS))
    parser.add_argument("--methods", default="", help="comma-separated; all available ones when empty")
    parser.add_argument("--hd-pairs", type=int, default=0, help="time this many 1080p flows per method")
    args = parser.parse_args()
    available = methods()
    chosen = [name for name in args.methods.split(",") if name] or list(available)
    print(f"OpenCV {cv2.__version__}{' with contrib' if hasattr(cv2, 'optflow') else ''}, {cv2.getNumThreads()} "
          f"threads, {args.frames} frames per clip; load {open('/proc/loadavg').read().split()[0]}")
    import tempfile
    for name in [name for name in args.clips.split(",") if name]:
        with tempfile.TemporaryDirectory() as args.scratch:
            source = extract(CLIPS[name], args.folder, args.frames, os.path.join(args.scratch, "source.mkv"))
            clean = clean_frames(name, args, source)
        print(f"\n{name} {source[0].shape[1]}x{source[0].shape[0]}{' (derived)' if CLIPS[name].derived else ''}")
        print(f"  {'method':15s} {'error on movers':>15s} {'movers kept':>11s} {'still kept':>10s} {'ms/flow':>8s}"
              f"{'  ms/flow 1080p' if args.hd_pairs else ''}")
        for method in chosen:
            result = score(available[method], source, clean)
            hd = f"  {hd_ms(available[method], source, args.hd_pairs):13.0f}" if args.hd_pairs else ""
            print(f"  {method:15s} {result['error']:15.4f} {result['moving_kept']:11.2f} {result['still_kept']:10.2f} "
                  f"{result['ms']:8.1f}{hd}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
