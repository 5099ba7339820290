"""Zoom mode: frames/s of the default zoom preset at 512x512, and colour drift over 1000 frames.

The drift report runs the real zoom loop (camera move, dream, colour coherence) at a small size
for 1000 frames, with and without colour coherence, and prints the LAB mean/std and the HSV
saturation at frames 0, 250, 500 and 1000.

    python benchmarks/bench_zoom.py [--device auto] [--frames 8] [--drift-size 64] [--drift-frames 1000]
"""

import argparse
import os
import statistics
import tempfile
import time

from PIL import Image
import cv2
import torch

from dreamvid.ascent.engine import Dreamer
from dreamvid.colour import colour_stats, saturation
from dreamvid.media.pictures import load_picture
from dreamvid.nets.device import pick_device
from dreamvid.render.zoom import render_zoom, start_picture, zoom_step
from dreamvid.settings import Resolved, merge
from dreamvid.settings.files import load_preset

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "samples")
PRESET = "tunnel"  # what `dreamvid zoom` uses when no preset is named


def zoom_settings(**overrides) -> dict:
    return merge((PRESET, load_preset(PRESET)), ("bench", overrides))


def render_rate(device: torch.device, frames: int, size: int) -> tuple[float, float]:
    """(frames/s of the whole render including the model build and ffmpeg, median frames/s of the loop)."""
    with tempfile.TemporaryDirectory() as folder:
        picture = os.path.join(folder, "start.png")
        square = cv2.resize(load_picture(os.path.join(SAMPLES, "coffee.jpg")), (size, size), interpolation=cv2.INTER_AREA)
        Image.fromarray(square).save(picture)
        settings = zoom_settings(frames=frames, size=size, device=device.type)
        start = time.perf_counter()
        render_zoom(picture, os.path.join(folder, "zoom.mp4"), settings, overwrite=True)
        whole = frames / (time.perf_counter() - start)
        resolved = Resolved(settings)
        step = zoom_step(Dreamer(resolved, device), resolved, None)
        state, times = {"image": start_picture(picture, resolved)}, []
        for t in range(frames):
            begin = time.perf_counter()
            _, state = step(t, state)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - begin)
    return whole, 1 / statistics.median(times[1:])


def drift(device: torch.device, coherence: float, size: int, frames: int) -> dict[int, tuple]:
    settings = Resolved(zoom_settings(size=size, colour_coherence=coherence, device=device.type))
    picture = os.path.join(SAMPLES, "coffee.jpg")
    step = zoom_step(Dreamer(settings, device), settings, None)
    state = {"image": start_picture(picture, settings)}
    report = {}
    for t in range(frames + 1):
        _, state = step(t, state)
        if t in (0, 250, 500, frames):
            report[t] = state["image"]
    return {t: (colour_stats(image), saturation(image)) for t, image in report.items()}


def print_drift(label: str, rows: dict[int, tuple]) -> None:
    print(f"  {label}")
    for t, (stats, sat) in rows.items():
        mean = " ".join(f"{v:6.1f}" for v in stats.mean)
        std = " ".join(f"{v:5.1f}" for v in stats.std)
        print(f"    frame {t:4d}: LAB mean {mean}   LAB std {std}   saturation {sat:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--drift-size", type=int, default=64)
    parser.add_argument("--drift-frames", type=int, default=1000)
    args = parser.parse_args()
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if pick_device(args.device).type == "cuda" else [])
    print(f"preset {PRESET}, model efficientnet_lite0; torch {torch.__version__}")
    for device in devices:
        name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
        whole, loop = render_rate(device, args.frames, 512)
        print(f"512x512 on {name}: {whole:.2f} frames/s for a whole {args.frames}-frame render "
              f"(model build, ffmpeg), {loop:.2f} frames/s median per loop frame")
    print(f"\ncolour drift, {args.drift_frames} frames at {args.drift_size} px (CPU):")
    device = torch.device("cpu")
    print_drift("colour coherence 0 (off):", drift(device, 0.0, args.drift_size, args.drift_frames))
    default = Resolved(zoom_settings()).at("colour_coherence")
    print_drift(f"colour coherence {default:g} (the preset's):", drift(device, default, args.drift_size,
                                                                         args.drift_frames))


if __name__ == "__main__":
    main()
