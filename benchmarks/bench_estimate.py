"""How well a render's first estimate holds: a still, a zoom and a clip, each run by the CLI as a user runs it,
on the machine as it is and with every core loaded by busy-loop processes this script starts. For each, the
first estimate's promise (the time at which it was said plus the time it said was left) against the render's
actual time; the target is 0.5-2x.

    python benchmarks/bench_estimate.py            # small renders: a few minutes on 2 idle cores
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(REPO, "samples")
RENDERS = {
    "still": ["image", os.path.join(SAMPLES, "coffee.jpg"), "--size", "200"],
    "zoom": ["zoom", os.path.join(SAMPLES, "chelsea.jpg"), "--size", "160", "--frames", "16"],
    "clip": ["video", os.path.join(SAMPLES, "clip.mp4"), "--size", "160", "--frames", "16"],
}
OUTPUTS = {"still": "still.jpg", "zoom": "zoom.mp4", "clip": "clip.mp4"}
BUSY_LOOP = "while True: pass"


def seconds_in(text: str) -> float:
    """Seconds in a duration as the notices write it ("1 min 15 s", "3.2 s", "1 h 2 min")."""
    units = {"h": 3600, "min": 60, "s": 1}
    return sum(float(number) * units[unit] for number, unit in re.findall(r"([\d.]+) (h|min|s)\b", text))


def timed_render(name: str, folder: str) -> tuple[float, float, str]:
    """(promised total, actual total, the estimate's line): the CLI in a fresh process, its notices read as
    they come, the clock started at the launch, as a user's would be."""
    argv = [sys.executable, "-m", "dreamvid", *RENDERS[name], "-o", os.path.join(folder, OUTPUTS[name]),
            "--overwrite", "--no-sidecar"]
    env = {**os.environ, "PYTHONPATH": REPO}
    started = time.monotonic()
    process = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, text=True,
                               bufsize=1)
    promised, said = None, ""
    for line in iter(process.stderr.readline, ""):  # tqdm's bar ends in \r, so a notice may share its line
        notice = re.search(r"dreamvid: ((?:.* )?about (.+) left)", line)
        if notice and promised is None:
            promised, said = time.monotonic() - started + seconds_in(notice[2]), notice[1]
    if process.wait() != 0:
        raise SystemExit(f"{name} failed: {' '.join(argv)}")
    actual = time.monotonic() - started
    return promised or float("nan"), actual, said


def busy_processes(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(count)]


def load() -> str:
    return open("/proc/loadavg").read().split()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=os.cpu_count() or 2, help="busy-loop processes for the loaded runs")
    parser.add_argument("--only", choices=list(RENDERS), nargs="*", default=list(RENDERS))
    parser.add_argument("--conditions", choices=["idle", "busy"], nargs="*", default=["idle", "busy"],
                        help="idle: the machine as it is")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for condition in [{"idle": "as it is", "busy": f"{args.busy} busy loops"}[c] for c in args.conditions]:
            loops = busy_processes(args.busy) if condition != "as it is" else []
            try:
                for name in args.only:
                    before = load()
                    promised, actual, said = timed_render(name, folder)
                    rows.append((name, condition, before, promised, actual, said))
                    print(f"{name}, {condition} (load {before}): promised {promised:.1f} s, took {actual:.1f} s, "
                          f"ratio {promised / actual:.2f} ({said})", flush=True)
            finally:
                for loop in loops:
                    loop.kill()
                    loop.wait()
    print("\n| render | machine (load average before) | promised | actual | promised / actual |")
    print("|---|---|---|---|---|")
    for name, condition, before, promised, actual, _ in rows:
        print(f"| {name} | {condition} ({before}) | {promised:.0f} s | {actual:.0f} s | {promised / actual:.2f} |")
    within = sum(0.5 <= promised / actual <= 2 for _, _, _, promised, actual, _ in rows)
    print(f"\n{within} of {len(rows)} within 0.5-2x")


if __name__ == "__main__":
    main()
