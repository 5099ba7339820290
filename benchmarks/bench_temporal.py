"""Temporal consistency of dreamed clips: naive (per frame), blend (no motion) and flow modes.

Per synthetic clip (pan, zoom, moving object, cut) prints, from one run: the warping error E_warp
(docs/DESIGN.md, "Measuring flicker") of the source, naive, blend and flow outputs; each output's dream strength
mean|O - I|; the flicker reduction of blend and flow; and the flow output's strength over time.

    python benchmarks/bench_temporal.py [--frames 40] [--preset video-subtle] [--size 256x160]
"""

import argparse
import glob
import os
import statistics
import sys
import tempfile

from PIL import Image
import numpy as np

from dreamvid.media.pictures import load_picture
from dreamvid.media.reader import read_frames
from dreamvid.media.synthetic import cut_clip, moving_object_clip, pan_clip, write_clip, zoom_clip
from dreamvid.metrics import dream_strength, flicker_reduction, strength_per_frame, warping_error
from dreamvid.render.clip import render_clip
from dreamvid.settings import merge
from dreamvid.settings.files import load_preset

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "samples")
MODES = ("none", "blend", "dis")


def make_clips(frames: int, size: tuple[int, int]) -> dict[str, list[np.ndarray]]:
    coffee = load_picture(os.path.join(SAMPLES, "coffee.jpg"))
    rocket = load_picture(os.path.join(SAMPLES, "rocket.jpg"))
    return {
        "pan": pan_clip(coffee, frames, size),
        "zoom": zoom_clip(coffee, frames, size),
        "moving object": moving_object_clip(coffee, frames, size),
        "cut": cut_clip(coffee, rocket, frames, size),
    }


def dream_clip(source_path: str, folder: str, mode: str, preset: str, extra: dict) -> list[np.ndarray]:
    """Render through the real pipeline into a lossless PNG sequence and read it back."""
    pattern = os.path.join(folder, f"out_{mode}", "%05d.png")
    settings = merge((preset, load_preset(preset)), ("--set", extra), ("bench", {"flow": mode, "device": "cpu"}))
    render_clip(source_path, pattern, settings, overwrite=True)
    files = sorted(glob.glob(os.path.join(folder, f"out_{mode}", "*.png")))
    return [np.asarray(Image.open(path).convert("RGB")) for path in files]


def report_clip(name: str, frames: list[np.ndarray], preset: str, extra: dict) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        source_path = os.path.join(folder, "source.mkv")
        write_clip(frames, source_path, fps=24, tone_hz=None, crf=0)
        source = list(read_frames(source_path))
        outputs = {mode: dream_clip(source_path, folder, mode, preset, extra) for mode in MODES}
    errors = {"source": warping_error(source, source)}
    errors.update({mode: warping_error(source, out) for mode, out in outputs.items()})
    strengths = {mode: dream_strength(source, out) for mode, out in outputs.items()}
    flow_strength = strength_per_frame(source, outputs["dis"])
    first, last = statistics.mean(flow_strength[:10]), statistics.mean(flow_strength[-10:])
    reduction = {mode: flicker_reduction(errors[mode], errors["source"], errors["none"]) for mode in ("blend", "dis")}
    print(f"\n{name}: {len(source)} frames {source[0].shape[1]}x{source[0].shape[0]}")
    print(f"  E_warp   source {errors['source']:.6f}  naive {errors['none']:.6f}  "
          f"blend {errors['blend']:.6f}  flow {errors['dis']:.6f}")
    print(f"  strength naive {strengths['none']:.4f}  blend {strengths['blend']:.4f}  flow {strengths['dis']:.4f}"
          f"  (flow/naive {strengths['dis'] / strengths['none']:.2f})")
    print(f"  flicker reduction  blend {reduction['blend']:.3f}  flow {reduction['dis']:.3f}")
    print(f"  flow strength over time: first 10 {first:.4f}, last 10 {last:.4f} (ratio {last / first:.2f}); "
          f"per frame: {' '.join(f'{s:.3f}' for s in flow_strength)}")
    return {"reduction": reduction["dis"], "strength_ratio": strengths["dis"] / strengths["none"],
            "drift": last / first}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--preset", default="video-subtle")
    parser.add_argument("--size", default="256x160")
    parser.add_argument("--clips", default="pan,zoom,moving object,cut")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.set)
    size = tuple(int(v) for v in args.size.split("x"))
    print(f"preset {args.preset} {' '.join(args.set)}, CPU; targets: flicker reduction >= 0.9, flow strength >= 0.8 x naive, "
          f"last-10 strength within 20% of first-10")
    wanted = args.clips.split(",")
    results = {name: report_clip(name, frames, args.preset, extra)
               for name, frames in make_clips(args.frames, size).items() if name in wanted}
    print("\nsummary (clip: reduction, strength vs naive, strength drift):")
    for name, result in results.items():
        ok = result["reduction"] >= 0.9 and result["strength_ratio"] >= 0.8 and abs(result["drift"] - 1) <= 0.2
        print(f"  {name:14s} {result['reduction']:.3f}  {result['strength_ratio']:.2f}  {result['drift']:.2f}"
              f"  {'meets targets' if ok else 'MISSES a target'}")


if __name__ == "__main__":
    sys.exit(main())
