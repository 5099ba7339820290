"""Median time per ascent iteration at 512x512 with the default settings, early stop on and off; then one
whole `dreamvid image` process, its start-up (interpreter, imports, picture, model built) timed apart
from its dreaming.

    python benchmarks/bench_image.py [--repeats 15] [--device cpu|cuda]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

from dreamvid.ascent.dream import DreamParams, ascent_step, make_generator
from dreamvid.ascent.objectives import layer_l2
from dreamvid.nets.device import pick_device
from dreamvid.nets.features import load_model
from dreamvid.settings import merge


def time_steps(net, image, objective, params, repeats, device) -> list[float]:
    generator = make_generator(0)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        image = ascent_step(net, image, objective, params, generator, 0.0)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times


SAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "samples", "coffee.jpg")
# The real CLI in a child process, with wall-clock marks when the image command's imports are done and
# when the model is built (Dreamer.__init__ returns); the parent marks the process start and end.
CHILD = """
import json, sys, time
marks = {}
from dreamvid.cli import run
import dreamvid.render.still  # what `dreamvid image` imports: torch and the ascent
marks["imported"] = time.time()
from dreamvid.ascent import engine
built = engine.Engine.__init__
def timed(self, *args, **kwargs):
    built(self, *args, **kwargs)
    marks["built"] = time.time()
engine.Engine.__init__ = timed
marks["code"] = run(sys.argv[1:])
marks["dreamed"] = time.time()
print(json.dumps(marks))
"""


def whole_process(device: str, size: int) -> None:
    """One `dreamvid image` run in a fresh interpreter: start-up and dreaming timed separately."""
    with tempfile.TemporaryDirectory() as folder:
        argv = ["image", SAMPLE, "-o", os.path.join(folder, "out.png"), "--size", str(size), "--device", device]
        start = time.time()
        result = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True, check=True)
        end = time.time()
    marks = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"whole `dreamvid image` process, {size} px, default settings: {end - start:.2f} s = start-up "
          f"{marks['built'] - start:.2f} s (interpreter and imports {marks['imported'] - start:.2f} s, picture and "
          f"model {marks['built'] - marks['imported']:.2f} s) + dreaming and saving {marks['dreamed'] - marks['built']:.2f} s"
          f" + exit {end - marks['dreamed']:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    settings = merge()
    device = pick_device(args.device)
    layer = next(iter(settings["layers"]))
    params = DreamParams(step=settings["step"], jitter=settings["jitter"])
    objective = layer_l2(layer)
    image = torch.rand(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(0)).to(device)
    nets = {"early stop": load_model(settings["model"], [layer], device, early_stop=True),
            "whole network": load_model(settings["model"], [layer], device, early_stop=False)}
    times = {name: [] for name in nets}
    for name, net in nets.items():  # warm-up
        time_steps(net, image, objective, params, 2, device)
    for _ in range(3):  # interleaved rounds, so drift on a noisy machine hits both alike
        for name, net in nets.items():
            times[name] += time_steps(net, image, objective, params, args.repeats, device)
    print(f"device: {device} ({torch.cuda.get_device_name() if device.type == 'cuda' else f'{torch.get_num_threads()} threads'})")
    print(f"model {settings['model']}, layer {layer}, {args.size}x{args.size}, {3 * args.repeats} steps each")
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, median in medians.items():
        print(f"  {name:14s} median {median * 1000:8.1f} ms/iteration")
    print(f"  speed-up from early stop: {medians['whole network'] / medians['early stop']:.2f}x")
    whole_process(device.type, args.size)


if __name__ == "__main__":
    main()
