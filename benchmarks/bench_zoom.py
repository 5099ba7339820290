"""Zoom mode: cadence 1-4 side by side, a strip of frames around a dreamed frame, colour drift over 1000 frames.

Cadence table (one run, the `tunnel` preset, `--size` px, `--frames` frames, CPU): loop frames/s
(model built before timing, no encoding) and the speed-up over cadence 1, in wall time (the faster of
two interleaved rounds) and in this process's CPU time (which other work on a shared machine barely moves); the per-frame novelty
E_t = mean |F_t - camera(F_t-1)| (0..255), its median and max/median (a pop at the dreamed frames
shows as a spike); detail key/between, the mean |Laplacian| of key frames over that of in-between
frames (a cross-fade that washes out detail pulses at the keys: 1.00 = none); dream level, the
dreamed layer's mean squared activation on the last frames (the dream grows as fast at every
cadence when these agree). The strip (`--strip`) shows frames around a dreamed frame at cadence 1
and at `--strip-cadence`, one row each. The drift report runs the loop at `--drift-size` px for
`--drift-frames` frames and prints the LAB mean/std and HSV saturation at frames 0, 250, 500, end.

    python benchmarks/bench_zoom.py [--size 256] [--frames 48] [--whole-frames 8] [--drift-frames 1000]
"""

import argparse
import os
import statistics
import tempfile
import time

from PIL import Image
import cv2
import numpy as np
import torch

from dreamvid.render.dreaming import FrameDreamer, frame_dreamer
from dreamvid.colour import colour_stats, saturation
from dreamvid.media.frames import frame_to_float, frame_to_image
from dreamvid.media.pictures import load_picture
from dreamvid.motion import move_frame
from dreamvid.nets.device import pick_device
from dreamvid.render.zoom import camera_at, loop_step, render_zoom, start_picture
from dreamvid.settings import Resolved, merge
from dreamvid.settings.files import load_preset

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "samples")
PICTURE = os.path.join(SAMPLES, "coffee.jpg")
PRESET = "tunnel"  # what `dreamvid zoom` uses when no preset is named
WARM_UP = 12  # frames before the dream has grown in; novelty is measured after them


def zoom_settings(**overrides) -> dict:
    return merge((PRESET, load_preset(PRESET)), ("bench", overrides))


def loop_frames(settings: Resolved, dreamer: FrameDreamer, frames: int) -> tuple[list[np.ndarray], float, float]:
    """(the loop's uint8 frames, wall seconds in the loop, this process's CPU seconds in it)."""
    step = loop_step(dreamer, settings, None)
    state, out = {"image": start_picture(PICTURE, settings)}, []
    start, cpu = time.perf_counter(), time.process_time()
    for t in range(frames):
        frame, state = step(t, state)
        out.append(frame)
    if dreamer.device.type == "cuda":
        torch.cuda.synchronize()
    return out, time.perf_counter() - start, time.process_time() - cpu


def novelty(frames: list[np.ndarray], settings: Resolved) -> np.ndarray:
    """E_t = mean |F_t - camera(F_t-1)| in 0..255 for t >= 1: what is new in a frame beyond the camera move."""
    fps = float(settings.fps)
    return np.array([np.abs(frame_to_float(frames[t]) - move_frame(frame_to_float(frames[t - 1]), camera_at(settings, t),
                                                                  fps, settings["interpolation"])).mean() * 255
                     for t in range(1, len(frames))])


def detail(frame: np.ndarray) -> float:
    return float(np.abs(cv2.Laplacian(frame_to_float(frame), cv2.CV_32F)).mean())


def dream_level(dreamer: FrameDreamer, frames: list[np.ndarray]) -> float:
    with torch.no_grad():
        values = [sum(a.float().square().mean() for a in dreamer.engine.net(frame_to_image(frame, dreamer.device)).values())
                  for frame in frames]
    return float(sum(values) / len(values))


def cadence_table(device: torch.device, size: int, frames: int, cadences: list[int]) -> dict[int, list[np.ndarray]]:
    settings = {c: Resolved(zoom_settings(size=size, cadence=c, device=device.type)) for c in cadences}
    dreamer = frame_dreamer(settings[cadences[0]])  # one network for all: cadence is not a network setting
    rendered, seconds, cpu = {}, {c: [] for c in cadences}, {c: [] for c in cadences}
    for _ in range(2):  # interleaved rounds, the faster of two each: other work on a shared machine hits all alike
        for cadence in cadences:
            dreamer.settings = settings[cadence]
            rendered[cadence], elapsed, used = loop_frames(settings[cadence], dreamer, frames)
            seconds[cadence].append(elapsed)
            cpu[cadence].append(used)
    height, width = rendered[cadences[0]][0].shape[:2]
    print(f"\ncadence, {frames} frames at {width}x{height} ({PRESET} preset, {device.type}; novelty, detail and "
          f"level after frame {WARM_UP})")
    print("  cadence | frames/s | speed-up | CPU-time speed-up | novelty median | max/median | detail key/between "
          "| dream level")
    base_rate, base_cpu = frames / min(seconds[cadences[0]]), min(cpu[cadences[0]])
    for cadence in cadences:
        out, rate = rendered[cadence], frames / min(seconds[cadence])
        steady = novelty(out, settings[cadence])[WARM_UP - 1:]
        median = statistics.median(steady)
        keys = [detail(f) for t, f in enumerate(out[WARM_UP:], WARM_UP) if t % cadence == 0]
        between = [detail(f) for t, f in enumerate(out[WARM_UP:], WARM_UP) if t % cadence]
        ratio = statistics.mean(keys) / statistics.mean(between) if between else 1.0
        print(f"  {cadence:7d} | {rate:8.2f} | {rate / base_rate:7.2f}x | {base_cpu / min(cpu[cadence]):16.2f}x "
              f"| {median:14.2f} | {steady.max() / median:10.2f} "
              f"| {ratio:18.2f} | {dream_level(dreamer, out[WARM_UP:]):11.1f}")
    return rendered


def labelled(frame: np.ndarray, text: str, width: int) -> np.ndarray:
    tile = cv2.resize(frame, (width, round(width * frame.shape[0] / frame.shape[1])), interpolation=cv2.INTER_AREA)
    for colour, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(tile, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, thickness, cv2.LINE_AA)
    return tile


def write_strip(rendered: dict[int, list[np.ndarray]], cadence: int, path: str, width: int = 176) -> None:
    """8 consecutive frames around a key frame near the end, cadence 1 above, `cadence` below."""
    last = len(rendered[cadence])
    key = (last - 6) - (last - 6) % cadence
    times = range(key - 4, key + 4)
    rows = [np.hstack([labelled(rendered[c][t], f"c{c} t{t}" + (" key" if t % c == 0 and c > 1 else ""), width)
                       for t in times]) for c in (1, cadence)]
    Image.fromarray(np.vstack(rows)).save(path, quality=70)
    print(f"\nstrip of frames {times.start}-{times.stop - 1} (key frames at multiples of {cadence}): {path}, "
          f"{os.path.getsize(path) // 1024} kB")


def render_rate(device: torch.device, frames: int, size: int) -> float:
    """frames/s of a whole `render_zoom` (model build and ffmpeg included), cadence 1."""
    with tempfile.TemporaryDirectory() as folder:
        picture = os.path.join(folder, "start.png")
        square = cv2.resize(load_picture(PICTURE), (size, size), interpolation=cv2.INTER_AREA)
        Image.fromarray(square).save(picture)
        start = time.perf_counter()
        render_zoom(picture, os.path.join(folder, "zoom.mp4"),
                    zoom_settings(frames=frames, size=size, device=device.type), overwrite=True)
        return frames / (time.perf_counter() - start)


def drift(device: torch.device, coherence: float, size: int, frames: int, cadence: int) -> dict[int, tuple]:
    settings = Resolved(zoom_settings(size=size, colour_coherence=coherence, device=device.type, cadence=cadence))
    step = loop_step(frame_dreamer(settings), settings, None)
    state, report = {"image": start_picture(PICTURE, settings)}, {}
    for t in range(frames + 1):
        frame, state = step(t, state)
        if t in (0, 250, 500, frames):
            report[t] = frame
    return {t: (colour_stats(frame), saturation(frame)) for t, frame in report.items()}


def print_drift(label: str, rows: dict[int, tuple]) -> None:
    print(f"  {label}")
    for t, (stats, sat) in rows.items():
        mean = " ".join(f"{v:6.1f}" for v in stats.mean)
        std = " ".join(f"{v:5.1f}" for v in stats.std)
        print(f"    frame {t:4d}: LAB mean {mean}   LAB std {std}   saturation {sat:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--cadences", default="1,2,3,4")
    parser.add_argument("--strip", default="", help="write the strip here (e.g. docs/cadence_strip.jpg)")
    parser.add_argument("--strip-cadence", type=int, default=3)
    parser.add_argument("--whole-frames", type=int, default=8, help="frames of the whole 512 px render (0 = skip)")
    parser.add_argument("--drift-size", type=int, default=64)
    parser.add_argument("--drift-frames", type=int, default=1000, help="0 = skip the drift report")
    args = parser.parse_args()
    device = pick_device(args.device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"{device.type}, {torch.get_num_threads()} threads"
    print(f"preset {PRESET}, model efficientnet_lite0, {name}; torch {torch.__version__}")
    if args.whole_frames:
        rate = render_rate(device, args.whole_frames, 512)
        print(f"512x512: {rate:.2f} frames/s for a whole {args.whole_frames}-frame render (model build, ffmpeg)")
    rendered = cadence_table(device, args.size, args.frames, [int(c) for c in args.cadences.split(",")])
    if args.strip:
        write_strip(rendered, args.strip_cadence, args.strip)
    if args.drift_frames:
        print(f"\ncolour drift, {args.drift_frames} frames at {args.drift_size} px ({device.type}):")
        default = Resolved(zoom_settings()).at("colour_coherence")
        for label, coherence, cadence in [("colour coherence 0 (off), cadence 1:", 0.0, 1),
                                          (f"colour coherence {default:g} (the preset's), cadence 1:", default, 1),
                                          (f"colour coherence {default:g}, cadence {args.strip_cadence}:", default,
                                           args.strip_cadence)]:
            print_drift(label, drift(device, coherence, args.drift_size, args.drift_frames, cadence))


if __name__ == "__main__":
    main()
