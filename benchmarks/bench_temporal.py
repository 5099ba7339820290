"""Temporal consistency and dream strength of dreamed clips: naive (per frame), blend (no motion),
the one-step touch-up of the first release, and flow mode (the temporal term inside the ascent).

Per synthetic clip (pan, zoom, moving object, walkers, pan + mover, cut), from one run: each mode's
flicker reduction (Lai et al.'s E_warp, docs/DESIGN.md "Measuring flicker"), its dream strength
mean|O - I| against naive's over the whole frame, on moving pixels (backward source flow > 1 px and
a visible change, dreamvid.metrics.moving_mask) and on the other (static) pixels, the strength
drift (last 10 / first 10 frames) and the render time per frame; then a meets / misses line per clip.

    python benchmarks/bench_temporal.py [--frames 40] [--preset video-subtle] [--size 256x160]
"""

import argparse
import glob
import os
import statistics
import sys
import tempfile
import time

# idle OpenMP threads yield (as in the tests), so a render sharing the machine with another does not
# spin-wait its cores away; OpenMP reads this once, when torch loads it (through dreamvid, below)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from PIL import Image
import numpy as np

from dreamvid.flow import FlowEstimator
from dreamvid.media.pictures import load_picture
from dreamvid.media.reader import read_frames
from dreamvid.media.synthetic import (cut_clip, moving_object_clip, pan_clip, pan_mover_clip, walkers_clip,
                                      write_clip, zoom_clip)
from dreamvid.metrics import flicker_reduction, masked_strength, moving_masks, strength_per_frame, warping_error
from dreamvid.render.clip import render_clip
from dreamvid.settings import merge
from dreamvid.settings.files import load_preset

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "samples")
# label -> the settings that make the mode; "one-step" is the first release's method
MODES = {
    "naive": {"flow": "none"},
    "blend": {"flow": "blend"},
    "one-step": {"flow": "dis", "temporal_weight": 0.0, "fresh_boost": 0.0, "iterations_next": 1, "octaves_next": 1,
                 "carry_unreliable": False, "local_gain": False},
    "flow": {},  # the defaults: DIS flow, the temporal term, the local strength gain
    "cadence 2": {"cadence": 2},  # issue 11: dream every 2nd frame, carry the rest along the flow
    "cadence 3": {"cadence": 3},
}
TARGETS = "flicker reduction >= 0.9, moving-pixel strength >= 0.85 x naive, static >= 0.9 x naive, drift within 15%"


def make_clips(frames: int, size: tuple[int, int]) -> dict[str, list[np.ndarray]]:
    coffee = load_picture(os.path.join(SAMPLES, "coffee.jpg"))
    rocket = load_picture(os.path.join(SAMPLES, "rocket.jpg"))
    astronaut = load_picture(os.path.join(SAMPLES, "astronaut.jpg"))
    return {
        "pan": pan_clip(coffee, frames, size),
        "zoom": zoom_clip(coffee, frames, size),
        "moving object": moving_object_clip(coffee, frames, size),
        "walkers": walkers_clip(coffee, astronaut, frames, size),
        "pan + mover": pan_mover_clip(coffee, astronaut, frames, size),
        "cut": cut_clip(coffee, rocket, frames, size),
    }


def dream_clip(source_path: str, folder: str, mode: str, preset: str, extra: dict,
               mode_settings: dict | None = None) -> tuple[list[np.ndarray], float]:
    """Render through the real pipeline into a lossless PNG sequence; the frames and seconds per frame.
    The mode's settings are MODES[mode] unless given."""
    pattern = os.path.join(folder, f"out_{mode}", "%05d.png")
    mode_settings = MODES[mode] if mode_settings is None else mode_settings
    settings = merge((preset, load_preset(preset)), ("--set", extra), ("bench", {**mode_settings, "device": "cpu"}))
    began = time.perf_counter()
    render_clip(source_path, pattern, settings, overwrite=True)
    seconds = time.perf_counter() - began
    files = sorted(glob.glob(os.path.join(folder, f"out_{mode}", "*.png")))
    return [np.asarray(Image.open(path).convert("RGB")) for path in files], seconds / len(files)


def measure(source: list[np.ndarray], output: list[np.ndarray], moving: list[np.ndarray], seconds: float) -> dict:
    per_frame = strength_per_frame(source, output)
    return {
        "E_warp": warping_error(source, output, FlowEstimator()),
        "strength": float(np.mean(per_frame)),
        "moving": masked_strength(source, output, moving),
        "static": masked_strength(source[1:], output[1:], [~mask for mask in moving[1:]]),
        "drift": statistics.mean(per_frame[-10:]) / statistics.mean(per_frame[:10]),
        "seconds": seconds,
    }


def warm_up(frames: list[np.ndarray], preset: str, extra: dict) -> None:
    """One short render first, so the first timed mode does not pay for the first model load and kernel set-up."""
    with tempfile.TemporaryDirectory() as folder:
        source_path = os.path.join(folder, "source.mkv")
        write_clip(frames[:4], source_path, fps=24, tone_hz=None, crf=0)
        dream_clip(source_path, folder, "flow", preset, extra)


def report_clip(name: str, frames: list[np.ndarray], preset: str, extra: dict, modes: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        source_path = os.path.join(folder, "source.mkv")
        write_clip(frames, source_path, fps=24, tone_hz=None, crf=0)
        source = list(read_frames(source_path))
        moving = moving_masks(source)
        outputs = {mode: dream_clip(source_path, folder, mode, preset, extra) for mode in modes}
    floor = warping_error(source, source)
    results = {mode: measure(source, out, moving, seconds) for mode, (out, seconds) in outputs.items()}
    naive = results["naive"]
    share = float(np.mean([mask.mean() for mask in moving[1:]]))
    print(f"\n{name}: {len(source)} frames {source[0].shape[1]}x{source[0].shape[0]}, "
          f"{100 * share:.1f}% of pixels moving; E_warp source {floor:.6f}, naive {naive['E_warp']:.6f}")
    print(f"  {'mode':9s} {'E_warp':>9s} {'flicker red.':>12s} {'strength':>8s} {'x naive':>7s} "
          f"{'moving x':>8s} {'static x':>8s} {'drift':>6s} {'s/frame':>7s}")
    for mode, result in results.items():
        result["reduction"] = flicker_reduction(result["E_warp"], floor, naive["E_warp"])
        for key in ("strength", "moving", "static"):
            result[f"{key}_ratio"] = result[key] / naive[key]
        print(f"  {mode:9s} {result['E_warp']:9.6f} {result['reduction']:12.3f} {result['strength']:8.4f} "
              f"{result['strength_ratio']:7.2f} {result['moving_ratio']:8.2f} {result['static_ratio']:8.2f} "
              f"{result['drift']:6.2f} {result['seconds']:7.3f}")
    flow = results["flow"]
    flow["speedup"] = naive["seconds"] / flow["seconds"]
    print(f"  flow strength per frame: {' '.join(f'{s:.3f}' for s in strength_per_frame(source, outputs['flow'][0]))}")
    return flow


def speed_ratio(frames: list[np.ndarray], preset: str, extra: dict, rounds: int) -> tuple[float, float, float]:
    """Naive and flow renders of the same clip, interleaved `rounds` times: median seconds per frame of
    each and naive / flow (interleaving keeps a busy machine's slow spells out of the ratio)."""
    with tempfile.TemporaryDirectory() as folder:
        source_path = os.path.join(folder, "source.mkv")
        write_clip(frames, source_path, fps=24, tone_hz=None, crf=0)
        times = {"naive": [], "flow": []}
        for _ in range(rounds):
            for mode in times:
                times[mode].append(dream_clip(source_path, folder, mode, preset, extra)[1])
    naive, flow = statistics.median(times["naive"]), statistics.median(times["flow"])
    return naive, flow, naive / flow


def meets(result: dict) -> bool:
    return (result["reduction"] >= 0.9 and result["moving_ratio"] >= 0.85 and result["static_ratio"] >= 0.9
            and abs(result["drift"] - 1) <= 0.15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--preset", default="video-subtle")
    parser.add_argument("--size", default="256x160")
    parser.add_argument("--clips", default="pan,zoom,moving object,walkers,pan + mover,cut")
    parser.add_argument("--modes", default=",".join(MODES), help="modes to render (naive and flow always)")
    parser.add_argument("--speed-frames", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved speed rounds (0: no speed run)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.set)
    size = tuple(int(v) for v in args.size.split("x"))
    print(f"preset {args.preset} {' '.join(args.set)}, CPU; targets: {TARGETS}; flow at least 1.5x naive's speed")
    wanted = args.clips.split(",")
    clips = {name: frames for name, frames in make_clips(args.frames, size).items() if name in wanted}
    warm_up(next(iter(clips.values())), args.preset, extra)
    modes = ["naive", "flow", *(mode for mode in args.modes.split(",") if mode not in ("naive", "flow"))]
    results = {name: report_clip(name, frames, args.preset, extra, modes) for name, frames in clips.items()}
    print("\nsummary, flow mode (clip: flicker reduction, strength x naive whole / moving / static, drift, speed-up in this run):")
    for name, result in results.items():
        print(f"  {name:14s} {result['reduction']:.3f}  {result['strength_ratio']:.2f} / {result['moving_ratio']:.2f} / "
              f"{result['static_ratio']:.2f}  {result['drift']:.2f}  {result['speedup']:.2f}x"
              f"  {'meets targets' if meets(result) else 'MISSES a target'}")
    if not args.rounds:
        return
    naive, flow, ratio = speed_ratio(make_clips(args.speed_frames, size)["walkers"], args.preset, extra, args.rounds)
    print(f"speed, walkers clip, {args.speed_frames} frames, {args.rounds} interleaved rounds, medians: naive {naive:.3f} s/frame, "
          f"flow {flow:.3f} s/frame: flow is {ratio:.2f}x faster (target >= 1.5x)")


if __name__ == "__main__":
    sys.exit(main())
