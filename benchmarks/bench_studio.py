"""The studio's responsiveness over HTTP, as the page sees it, with the model already loaded: the time
from pressing Dream (the POST) to the first preview picture of a 256 px still (target: <= 2 s on a
2-core CPU), and how long a 48-frame zoom preview at 192 px takes. Medians of --runs runs.

    python benchmarks/bench_studio.py [--runs 5]
"""

import argparse
import json
import os
import statistics
import tempfile
import time

import httpx

from dreamvid.studio.server import ServerThread

STILL = {"mode": "image", "settings": {"size": 256}, "input": {"source": "sample", "name": "chelsea.jpg"}}
ZOOM = {"mode": "zoom", "settings": {"size": 192, "frames": 48}, "input": {"source": "sample", "name": "chelsea.jpg"}}


def timed_job(client: httpx.Client, body: dict) -> dict:
    """Seconds from the POST to the first frame event, and to the end; frames seen."""
    start = time.perf_counter()
    job = client.post("/api/jobs", json={"client": "bench", "action": "dream", **body}).json()
    first, frames, event = None, 0, None
    with client.stream("GET", f"/api/jobs/{job['id']}/events", timeout=None) as response:
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
                if event == "frame":
                    frames += 1
                    first = first or time.perf_counter() - start
            elif line.startswith("data: ") and event == "end":
                status = json.loads(line[6:])["status"]
                break
    return {"first": first, "end": time.perf_counter() - start, "frames": frames, "status": status}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as folder:
        server = ServerThread(folder)
        with server, server.session(timeout=60) as client:
            timed_job(client, STILL)  # loads the model: the figures below are with it loaded
            stills = [timed_job(client, STILL) for _ in range(args.runs)]
            zooms = [timed_job(client, ZOOM) for _ in range(args.runs)]
    firsts = [run["first"] for run in stills if run["first"] is not None]
    print(f"256 px still: first preview after {statistics.median(firsts):.2f} s (median of {len(firsts)}; "
          f"all: {', '.join(f'{value:.2f}' for value in firsts)}), whole dream {statistics.median(r['end'] for r in stills):.2f} s"
          if firsts else "256 px still: no preview frame before the end (the library gives none)")
    ends = [run["end"] for run in zooms]
    print(f"48-frame zoom preview at 192 px: {statistics.median(ends):.1f} s (median of {len(ends)}; all: "
          f"{', '.join(f'{value:.1f}' for value in ends)}), {48 / statistics.median(ends):.2f} frames/s, "
          f"first frame after {statistics.median(r['first'] for r in zooms):.2f} s; frames seen by the page: "
          f"{', '.join(str(r['frames']) for r in zooms)}")


if __name__ == "__main__":
    main()
