"""Speed of the ascent and of each mode, optimised vs the straightforward version, in one run.

The straightforward version runs the whole network in fp32 with its BatchNorms and the default
memory layout, and computes optical flow in line; the optimised one stops after the target
layer, folds BatchNorms into convolutions, uses channels-last memory (and autocast and cuDNN
tuning on CUDA) and computes the flow ahead in a thread. Both write real video files through
ffmpeg. Peak memory comes from bench_memory.py's subprocess measurement.

    python benchmarks/bench_speed.py [--device cpu|cuda|auto] [--sizes 512x512,1920x1080]
                                     [--frames 4] [--repeats 5] [--rounds 3] [--no-memory]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

import dreamvid  # noqa: F401  (first, as the CLI: it sets OpenMP's wait policy and threads before torch loads)
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from bench_memory import measure  # noqa: E402

from dreamvid.ascent.dream import ascent_step, make_generator  # noqa: E402
from dreamvid.render.dreaming import build_engine, default_params
from dreamvid.ascent.objectives import layer_l2  # noqa: E402
from dreamvid.media.pictures import load_picture  # noqa: E402
from dreamvid.media.synthetic import pan_clip, write_clip  # noqa: E402
from dreamvid.nets.device import auto_tile  # noqa: E402
from dreamvid.nets.device import pick_device  # noqa: E402
from dreamvid.render.clip import render_clip  # noqa: E402
from dreamvid.render.zoom import render_zoom  # noqa: E402
from dreamvid.settings import Resolved, merge  # noqa: E402
from dreamvid.settings.files import load_preset  # noqa: E402

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "samples")
VARIANTS = {"straightforward": True, "optimised": False}  # name -> baseline flag


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def iteration_times(size: tuple[int, int], device: torch.device, repeats: int) -> dict[str, float]:
    """Median seconds per ascent step at `size` with the default settings, per variant, interleaved."""
    settings = Resolved(merge(("bench", {"device": device.type})))
    engines = {name: build_engine(settings, baseline=flag) for name, flag in VARIANTS.items()}
    width, height = size
    image = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0)).to(device)
    objective = layer_l2(next(iter(settings["layers"])))
    times = {name: [] for name in engines}
    for round_index in range(repeats + 1):
        for name, engine in engines.items():
            params = default_params(tile=auto_tile(device, settings["tile"]), autocast=engine.autocast)
            start = time.perf_counter()
            ascent_step(engine.net, image, objective, params, make_generator(0), 0.0)
            synchronise(device)
            if round_index:  # the first round warms up (cuDNN tuning, allocator)
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def picture_of_size(size: tuple[int, int]) -> np.ndarray:
    import cv2

    return cv2.resize(load_picture(os.path.join(SAMPLES, "coffee.jpg")), size, interpolation=cv2.INTER_CUBIC)


def image_fps(size, device, baseline: bool) -> float:
    from dreamvid.render.still import dream_frame

    settings = merge(("bench", {"device": device.type}))
    engine = build_engine(Resolved(settings), baseline=baseline)
    frame = picture_of_size(size)
    dream_frame(frame, settings, engine)  # warm-up
    start = time.perf_counter()
    dream_frame(frame, settings, engine)
    synchronise(device)
    return 1 / (time.perf_counter() - start)


def zoom_fps(size, device, frames: int, folder: str, baseline: bool) -> float:
    picture = os.path.join(folder, "start.png")
    from PIL import Image

    Image.fromarray(picture_of_size(size)).save(picture)
    settings = merge(("tunnel", load_preset("tunnel")), ("bench", {"frames": frames, "device": device.type}))
    start = time.perf_counter()
    render_zoom(picture, os.path.join(folder, "zoom.mp4"), settings, overwrite=True, baseline=baseline)
    return frames / (time.perf_counter() - start)


def video_fps(size, device, frames: int, folder: str, baseline: bool) -> float:
    source = os.path.join(folder, f"pan_{size[0]}.mp4")
    if not os.path.exists(source):
        wide = picture_of_size((size[0] + 4 * frames + 40, size[1] + 2 * frames + 40))
        write_clip(pan_clip(wide, frames, size), source, fps=30, tone_hz=440)
    settings = merge(("video-subtle", load_preset("video-subtle")), ("bench", {"device": device.type}))
    start = time.perf_counter()
    render_clip(source, os.path.join(folder, "video.mp4"), settings, overwrite=True, baseline=baseline)
    return frames / (time.perf_counter() - start)


def mode_rate(mode: str, size, device, args, folder: str, baseline: bool) -> float:
    if mode == "image":
        return image_fps(size, device, baseline)
    if mode == "zoom":
        return zoom_fps(size, device, args.frames, folder, baseline)
    return video_fps(size, device, args.frames, folder, baseline)


def report_size(size, device, args) -> None:
    print(f"\n{size[0]}x{size[1]}")
    per_step = iteration_times(size, device, args.repeats)
    ratio = per_step["straightforward"] / per_step["optimised"]
    print(f"  ascent step, median of {args.repeats}: straightforward {per_step['straightforward'] * 1000:.1f} ms, "
          f"optimised {per_step['optimised'] * 1000:.1f} ms  -> {ratio:.2f}x")
    for flag in VARIANTS.values():  # oneDNN / cuDNN pick kernels per shape on first use: not what we time
        image_fps(size, device, flag)
    with tempfile.TemporaryDirectory() as folder:
        for mode in ("image", "zoom", "video"):
            rates = {name: [] for name in VARIANTS}
            for _ in range(args.rounds):  # interleaved, so a noisy machine slows both alike
                for name, flag in VARIANTS.items():
                    rates[name].append(mode_rate(mode, size, device, args, folder, flag))
            medians = {name: statistics.median(values) for name, values in rates.items()}
            print(f"  {mode:5s} frames/s, median of {args.rounds}: straightforward {medians['straightforward']:.3f}, "
                  f"optimised {medians['optimised']:.3f}  -> {medians['optimised'] / medians['straightforward']:.2f}x")


def report_memory(device: torch.device) -> None:
    print("\npeak memory, one dream (default model and tile, 1 step per octave), fresh process each:")
    options = argparse.Namespace(device=device.type, threads=0, limit_gb=16)
    for size in ("1920x1080", "3840x2160"):
        result = measure(size, 0, options)  # the automatic tile size
        gpu = f", GPU max allocated {result['cuda_max_allocated_gb']:.2f} GB" if "cuda_max_allocated_gb" in result else ""
        status = "" if result["ok"] else f" (failed: {result['error']})"
        print(f"  {size}: peak RSS {result['peak_rss_gb']:.2f} GB{gpu}{status}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--sizes", default="512x512,1920x1080")
    parser.add_argument("--frames", type=int, default=4, help="frames per zoom/video run")
    parser.add_argument("--repeats", type=int, default=5, help="ascent steps timed per variant")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs per mode and variant")
    parser.add_argument("--no-memory", action="store_true")
    args = parser.parse_args()
    device = pick_device(args.device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {device.type} ({name}); torch {torch.__version__}; default model and presets "
          f"(image: defaults, zoom: tunnel, video: video-subtle)")
    for size in args.sizes.split(","):
        report_size(tuple(int(v) for v in size.split("x")), device, args)
    if not args.no_memory:
        report_memory(device)


if __name__ == "__main__":
    main()
