"""One side of an ascent step comparison "as each ships", in its own process: dreamvid with what it sets
for its process (imported first: sleeping OpenMP waits, threads = usable cores, freed memory kept), or the
plain loop with torch's defaults, as the peer runs. Run both side by side so that both see the same load:

    python benchmarks/bench_shipped.py dreamvid 512 8 & python benchmarks/bench_shipped.py plain 512 8 & wait
"""

import sys

SIDE, SIZE, STEPS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if SIDE == "dreamvid":
    import dreamvid  # noqa: F401  (before torch, as the CLI does)

import os  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plain_loop import plain_net, plain_step  # noqa: E402


def dreamvid_step(image: torch.Tensor):
    from dreamvid.ascent.dream import ascent_step, make_generator
    from dreamvid.ascent.objectives import layer_l2
    from dreamvid.render.dreaming import build_engine, default_params
    from dreamvid.settings import Resolved, merge

    settings = Resolved(merge(("bench", {"device": "cpu"})))
    engine, generator = build_engine(settings), make_generator(0)
    objective, params = layer_l2(next(iter(settings["layers"]))), default_params(tile=1024, autocast=None)
    return lambda: ascent_step(engine.net, image, objective, params, generator, 0.0)


def plain_loop_step(image: torch.Tensor):
    net, layer = plain_net("efficientnet_lite0")
    rng = np.random.default_rng(0)
    return lambda: plain_step(net, image, layer, 0, 10, rng)


def main() -> None:
    image = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    step = dreamvid_step(image) if SIDE == "dreamvid" else plain_loop_step(image)
    step()  # oneDNN picks its kernels on the first step
    times = []
    for _ in range(STEPS):
        start, start_cpu = time.perf_counter(), time.process_time()
        step()
        times.append((time.perf_counter() - start, time.process_time() - start_cpu))
    wall, cpu = (statistics.median(t[i] for t in times) * 1000 for i in (0, 1))
    print(f"{SIDE} {SIZE} px: {wall:.0f} ms wall, {cpu:.0f} ms CPU per step (median of {STEPS}); "
          f"load {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
