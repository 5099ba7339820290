"""dreamvid beside the plain PyTorch DeepDream loop (benchmarks/plain_loop.py, as gordicaleksa/pytorch-deepdream
runs it), with the same network and weights, in one run; and how fairly a render shares the CPU.

1. Per ascent step, in this process: dreamvid's step (default settings) and the plain loop's step on the
   same image size, interleaved, medians.
2. Whole processes, as a user runs them: a still (600 px wide, 4 octaves x 1.8, 10 steps, the peer's
   defaults) and a 12-frame zoom, `python -m dreamvid` against `python plain_loop.py`, interleaved rounds;
   the plain loop imports what the peer imports at its start (torchvision, matplotlib, scipy, imageio: the
   peer's process pays for them), and again without them (`--bare`).
3. Under load: a dreamvid still and zoom alone, then beside one and two single-threaded CPU-bound
   processes, against the fair share (all busy threads sharing the usable cores alike); also with
   OpenMP's default spinning wait (GOMP_SPINCOUNT=300000), as dreamvid ran before issue 32.

Nothing is installed or downloaded. The network is the embedded EfficientNet-Lite0 (GoogLeNet's
weights are not available offline); --model googlenet runs both on GoogLeNet with random weights.

    python benchmarks/bench_peer.py [--sizes 512x512,1920x1080] [--repeats 5] [--rounds 3] [--frames 12]
                                    [--model efficientnet_lite0] [--device cpu] [--only step,process,load]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import dreamvid  # noqa: F401  (first: it sets OpenMP's wait policy and threads before torch loads)
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from plain_loop import PEER_STARTUP_IMPORTS, plain_net, plain_step  # noqa: E402

from dreamvid.ascent.dream import ascent_step, make_generator  # noqa: E402
from dreamvid.ascent.objectives import layer_l2  # noqa: E402
from dreamvid.nets.device import auto_tile, pick_device, usable_cores  # noqa: E402
from dreamvid.render.dreaming import build_engine, default_params  # noqa: E402
from dreamvid.settings import Resolved, merge  # noqa: E402

PICTURE = os.path.join(ROOT, "samples", "coffee.jpg")
PEER_PYRAMID = ["--octaves", "4", "--octave-scale", "1.8", "--iterations", "10"]  # the peer's defaults
SAME_THREADS = {name: os.environ[name] for name in ("OMP_WAIT_POLICY", "KMP_BLOCKTIME", "OMP_NUM_THREADS")}
SPINNING = {"GOMP_SPINCOUNT": "300000", "KMP_BLOCKTIME": "200"}  # OpenMP's own defaults: waiting threads spin


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    return (f"{model}; {os.cpu_count()} CPUs, {usable_cores()} usable by this process; torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads; load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(function) -> tuple[float, float]:
    """Wall and CPU seconds (all this process's threads) that `function()` took."""
    start, start_cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - start, time.process_time() - start_cpu


def step_times(size: tuple[int, int], device: torch.device, model: str, weights: str | None,
               repeats: int) -> dict[str, tuple[float, float]]:
    """Median wall and CPU ms of one ascent step: dreamvid's (default settings) and the plain loop's, interleaved."""
    settings = Resolved(merge(("bench", {"device": device.type, "model": model, "weights": weights or ""})))
    engine = build_engine(settings)
    net, layer = plain_net(model, weights)
    net.to(device)
    params = default_params(tile=auto_tile(device, settings["tile"]), autocast=engine.autocast)
    objective = layer_l2(next(iter(settings["layers"])))
    width, height = size
    image = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0)).to(device)
    rng, generator = np.random.default_rng(0), make_generator(0)
    steps = {"dreamvid": lambda: ascent_step(engine.net, image, objective, params, generator, 0.0),
             "plain loop": lambda: plain_step(net, image, layer, 0, 10, rng)}
    times = {name: [] for name in steps}
    for round_index in range(repeats + 1):  # the first round warms up (oneDNN picks kernels per shape)
        for name, step in steps.items():
            seconds = timed(lambda: (step(), synchronise(device)))
            if round_index:
                times[name].append(seconds)
    return {name: tuple(statistics.median(value[i] * 1000 for value in values) for i in (0, 1))
            for name, values in times.items()}


def report_steps(args, device: torch.device, weights: str | None) -> None:
    print(f"\n1. one ascent step, ms wall (CPU ms of all threads), median of {args.repeats}, interleaved")
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.split("x"))
        (ours, ours_cpu), (plain, plain_cpu) = step_times((width, height), device, args.model, weights,
                                                          args.repeats).values()
        print(f"  {size:>9}: dreamvid {ours:8.1f} ({ours_cpu:.0f})   plain loop {plain:8.1f} ({plain_cpu:.0f})   "
              f"-> {plain / ours:.2f}x wall, {plain_cpu / ours_cpu:.2f}x CPU", flush=True)


def dreamvid_command(mode: str, picture: str, output: str, args, weights: str | None, size: int) -> list[str]:
    command = [sys.executable, "-m", "dreamvid", mode, picture, "-o", output, "--overwrite", "--size", str(size),
               "--device", args.device, "--model", args.model, "--seed", "0"]
    command += ["--weights", weights] if weights else []
    return command + (["--frames", str(args.frames)] if mode == "zoom" else [])


def plain_command(mode: str, picture: str, output: str, args, weights: str | None, size: int,
                  bare: bool = False) -> list[str]:
    command = [sys.executable, os.path.join(HERE, "plain_loop.py"), "still" if mode == "image" else "zoom",
               picture, output, "--size", str(size), "--model", args.model, "--frames", str(args.frames)]
    return command + (["--weights", weights] if weights else []) + (["--bare"] if bare else [])


def run_seconds(command: list[str], environment: dict | None = None) -> float:
    environ = {**os.environ, "PYTHONPATH": ROOT, **(environment or {})}
    start = time.perf_counter()
    subprocess.run(command, env=environ, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def report_processes(args, weights: str | None, folder: str) -> None:
    missing = [name for name in PEER_STARTUP_IMPORTS if importlib.util.find_spec(name.split(".")[0]) is None]
    print(f"\n2. whole process, s (median of {args.rounds}, interleaved): 4 octaves x 1.8, 10 steps; still 600 px "
          f"wide, zoom {args.zoom_size} px. The plain loop imports what the peer imports at its start "
          f"({', '.join(PEER_STARTUP_IMPORTS)}{'; not installed here: ' + ', '.join(missing) if missing else ''});"
          f" 'bare' leaves those out")
    for mode, label, size in (("image", "still", 600), ("zoom", f"zoom, {args.frames} frames", args.zoom_size)):
        extension = "png" if mode == "image" else "mp4"
        plain_output = os.path.join(folder, f"p.{extension}")
        commands = {"dreamvid": dreamvid_command(mode, PICTURE, os.path.join(folder, f"d.{extension}"), args,
                                                 weights, size) + PEER_PYRAMID,
                    "plain loop": plain_command(mode, PICTURE, plain_output, args, weights, size),
                    "bare": plain_command(mode, PICTURE, plain_output, args, weights, size, bare=True)}
        times = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, command in commands.items():  # the same OpenMP settings for all: part 3 measures those
                times[name].append(run_seconds(command, SAME_THREADS))
        medians = {name: statistics.median(values) for name, values in times.items()}
        ours = medians["dreamvid"]
        print(f"  {label:>16}: dreamvid {ours:7.1f}   plain loop {medians['plain loop']:7.1f} "
              f"-> {medians['plain loop'] / ours:.2f}x   bare {medians['bare']:7.1f} -> {medians['bare'] / ours:.2f}x",
              flush=True)


@contextlib.contextmanager
def competitors(count: int):
    """`count` single-threaded CPU-bound processes, running until the block ends."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def fair_share(threads: int, others: int, cores: int) -> float:
    """How many times its idle time a render of `threads` busy threads takes beside `others` single-threaded
    ones, when the usable cores are shared out alike between all busy threads."""
    return max(1.0, (threads + others) / cores) / max(1.0, threads / cores)


def report_load(args, weights: str | None, folder: str) -> None:
    cores, threads = usable_cores(), torch.get_num_threads()
    print(f"\n3. beside CPU-bound single-threaded processes (median of {args.rounds}; {threads} threads on "
          f"{cores} cores; fair share: all busy threads alike)")
    renders = {"still 512 px": ("image", dreamvid_command("image", PICTURE, os.path.join(folder, "l.png"), args,
                                                          weights, 512)),
               f"zoom {args.frames} frames 256 px": ("zoom", dreamvid_command("zoom", PICTURE, os.path.join(
                   folder, "l.mp4"), args, weights, 256))}
    for label, (mode, command) in renders.items():
        policies = {"sleeping waits (dreamvid)": {}}
        policies.update({"spinning waits (before)": SPINNING} if mode in args.spin_modes.split(",") else {})
        times = {(policy, others): [] for policy in policies for others in (0, 1, 2)}
        for _ in range(args.rounds):
            for others in (0, 1, 2):
                with competitors(others):
                    for policy, environment in policies.items():
                        times[policy, others].append(run_seconds(command, environment))
        for policy in policies:
            idle = statistics.median(times[policy, 0])
            cells = []
            for others in (1, 2):
                slowdown = statistics.median(times[policy, others]) / idle
                cells.append(f"beside {others}: {slowdown:.2f}x (fair {fair_share(threads, others, cores):.2f}x, "
                             f"{slowdown / fair_share(threads, others, cores):.2f}x of it)")
            print(f"  {label}, {policy}: idle {idle:.1f} s; " + "; ".join(cells), flush=True)


def random_weights(model: str, folder: str) -> str | None:
    """GoogLeNet and the others have no weights offline: a file of random ones that both sides load."""
    if model == "efficientnet_lite0":
        return None
    from dreamvid.nets.registry import get_spec

    path = os.path.join(folder, f"{model}_random.pt")
    torch.manual_seed(0)
    torch.save(get_spec(model).build().state_dict(), path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", default="512x512,1920x1080")
    parser.add_argument("--repeats", type=int, default=5, help="ascent steps timed per side and size")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs per process measurement")
    parser.add_argument("--frames", type=int, default=12, help="zoom frames")
    parser.add_argument("--zoom-size", type=int, default=600, help="px wide, for the zoom of part 2")
    parser.add_argument("--spin-modes", default="image", help="renders also timed with spinning waits in part 3")
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--only", default="step,process,load", help="which parts, comma-separated")
    args = parser.parse_args()
    device = pick_device(args.device)
    parts = args.only.split(",")
    print(f"machine: {machine()}")
    print(f"network: {args.model}{' (random weights)' if args.model != 'efficientnet_lite0' else ' (embedded weights)'}, "
          f"device {device.type}")
    with tempfile.TemporaryDirectory() as folder:
        weights = random_weights(args.model, folder)
        if "step" in parts:
            report_steps(args, device, weights)
        if "process" in parts:
            report_processes(args, weights, folder)
        if "load" in parts:
            report_load(args, weights, folder)
    print(f"\nload average after: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
