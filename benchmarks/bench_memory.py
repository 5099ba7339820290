"""Peak memory of dreaming one 4K and one 1080p frame, tiled (automatic tile) and untiled.

Each dream runs in a fresh subprocess with the default model and settings, except one ascent
step per octave (memory does not grow with the step count). The parent reads the child's own
peak RSS from os.wait4 (ru_maxrss), so runs never mix; on CUDA the child also reports
torch.cuda.max_memory_allocated.

    python benchmarks/bench_memory.py [--device cpu|cuda|auto] [--sizes 3840x2160,1920x1080]
                                      [--tiles 0,16384] [--limit-gb 16] [--threads N]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

GB = 1024**3


def child(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from dreamvid.media.pictures import load_picture
    from dreamvid.render.still import dream_frame
    from dreamvid.settings import merge

    if args.threads:
        torch.set_num_threads(args.threads)
    width, height = map(int, args.size.split("x"))
    picture = load_picture(os.path.join(os.path.dirname(__file__), "..", "samples", "chelsea.jpg"))
    rows = np.linspace(0, picture.shape[0] - 1, height).astype(int)
    columns = np.linspace(0, picture.shape[1] - 1, width).astype(int)
    frame = np.ascontiguousarray(picture[rows][:, columns])  # nearest-neighbour upscale: content is not the point
    settings = merge(("bench", {"iterations": 1, "tile": args.tile, "device": args.device}))
    start = time.perf_counter()
    dreamed = dream_frame(frame, settings)
    seconds = time.perf_counter() - start
    report = {"seconds": seconds, "shape": list(dreamed.shape)}
    if torch.cuda.is_available() and args.device != "cpu":
        report["cuda_max_allocated_gb"] = torch.cuda.max_memory_allocated() / GB
        report["gpu"] = torch.cuda.get_device_name()
    print(json.dumps(report))


def on_cpu(device: str) -> bool:
    import torch

    return device == "cpu" or (device == "auto" and not torch.cuda.is_available())


def measure(size: str, tile: int, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--child", "--size", size, "--tile", str(tile), "--device", args.device,
               "--threads", str(args.threads)]
    # a runaway untiled 4K dream must not take the machine down; on CUDA the context reserves far
    # more address space than it uses, so the cap is for CPU runs only
    limit = int(args.limit_gb * GB) if on_cpu(args.device) and args.limit_gb else 0

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True,
                                   preexec_fn=limit_memory if limit else None)
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)  # this child's own peak, not the max over all children
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        error_lines = errors.read().strip().splitlines()
    result = {"peak_rss_gb": usage.ru_maxrss * 1024 / GB, "ok": process.returncode == 0}
    if result["ok"]:
        result.update(json.loads(output.strip().splitlines()[-1]))
    else:
        result["error"] = error_lines[-1] if error_lines else f"exit status {process.returncode}"
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--sizes", default="3840x2160,1920x1080")
    parser.add_argument("--tiles", default="0,16384", help="tile settings to compare (0 = automatic, 16384 = untiled)")
    parser.add_argument("--limit-gb", type=float, default=16.0, help="address-space cap per CPU child (0 = none)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads in the child (0 = torch's default)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--size", help=argparse.SUPPRESS)
    parser.add_argument("--tile", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    print("model efficientnet_lite0 (blocks.4), default settings, 1 step per octave, "
          f"device {args.device}, address-space cap {args.limit_gb:g} GB on CPU")
    for size in args.sizes.split(","):
        for tile in map(int, args.tiles.split(",")):
            result = measure(size, tile, args)
            label = f"{size:>9s} tile {tile:>4d}"
            if not result["ok"]:
                print(f"  {label}: failed ({result['error']}), peak RSS {result['peak_rss_gb']:.2f} GB", flush=True)
                continue
            gpu = result.get("cuda_max_allocated_gb")
            gpu = f", CUDA max allocated {gpu:.2f} GB on {result['gpu']}" if gpu is not None else ""
            print(f"  {label}: peak RSS {result['peak_rss_gb']:.2f} GB{gpu}, {result['seconds']:.1f} s", flush=True)


if __name__ == "__main__":
    main()
