"""The layer atlas's time per layer: each layer's dream over one network hooked on every main layer, read
as the atlas did (every forward runs until all the hooked layers are captured, the deepest included) and as
it does now (each dream reads only its own layer, so its forward stops there). Side by side in one run.

    python benchmarks/bench_atlas.py --size 64
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dreamvid.ascent.engine import Engine  # noqa: E402
from dreamvid.media.pictures import load_picture, resize_frame  # noqa: E402
from dreamvid.nets.registry import get_spec  # noqa: E402
from dreamvid.render.atlas import main_layers  # noqa: E402
from dreamvid.render.dreaming import build_engine, build_network  # noqa: E402
from dreamvid.render.still import dream_frame  # noqa: E402
from dreamvid.settings import Resolved, merge  # noqa: E402

PICTURE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "samples", "astronaut.jpg")


def timed(dream) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    dream()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    frame = resize_frame(load_picture(PICTURE), args.size)
    layers = main_layers(list(get_spec(args.model).layers))
    settings = merge(("bench", {"model": args.model, "device": "cpu"}))
    started = time.perf_counter()
    net = build_network(Resolved(settings), layers)
    print(f"network built in {time.perf_counter() - started:.2f} s; load {open('/proc/loadavg').read().split()[0]}")
    print("layer | whole network: wall s (cpu s) | own layer: wall s (cpu s) | wall ratio")
    ratios = []
    for layer in layers:
        layer_settings = {**settings, "layers": {layer: 1.0}}
        own = build_engine(Resolved(layer_settings), net=net)
        whole = Engine(net, own.device, [layer], autocast=own.autocast)  # net reads all its hooked layers
        old = [timed(lambda: dream_frame(frame, layer_settings, whole)) for _ in range(args.rounds)]
        new = [timed(lambda: dream_frame(frame, layer_settings, own)) for _ in range(args.rounds)]
        old_wall, new_wall = (statistics.median(w for w, _ in runs) for runs in (old, new))
        old_cpu, new_cpu = (statistics.median(c for _, c in runs) for runs in (old, new))
        ratios.append(old_wall / new_wall)
        print(f"{layer} | {old_wall:.2f} ({old_cpu:.2f}) | {new_wall:.2f} ({new_cpu:.2f}) | {old_wall / new_wall:.2f}x")
    print(f"median speed-up {statistics.median(ratios):.2f}x; load {open('/proc/loadavg').read().split()[0]}")


if __name__ == "__main__":
    main()
