"""The analysis time of one song, this tree's `analyse` against another tree's, interleaved.

    python benchmarks/bench_tempo_speed.py SONG OTHER_TREE [--seconds 300] [--rounds 5]

OTHER_TREE is a checkout of dreamvid (for example `git worktree add /tmp/before <commit>`); each round
runs both on the same first `--seconds` of SONG, in alternating order, and the medians are compared.
"""

import argparse
import importlib
import statistics
import sys
import time

from dreamvid.audio.decode import RATE, decode_pcm


def load_analyse(tree: str):
    """`analyse` from the dreamvid package under `tree`, imported under its own module names."""
    saved = {name: module for name, module in sys.modules.items() if name.startswith("dreamvid")}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, tree)
    try:
        return importlib.import_module("dreamvid.audio.features").analyse
    finally:
        sys.path.remove(tree)
        for name in [n for n in sys.modules if n.startswith("dreamvid")]:
            del sys.modules[name]
        sys.modules.update(saved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("song")
    parser.add_argument("other", help="another dreamvid checkout")
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    pcm = decode_pcm(args.song, RATE)[:int(args.seconds * RATE)]
    from dreamvid.audio.features import analyse as ours
    theirs = load_analyse(args.other)
    times = {"this tree": [], "other tree": []}
    for round_ in range(args.rounds):
        order = [("this tree", ours), ("other tree", theirs)][:: 1 if round_ % 2 == 0 else -1]
        for name, analyse in order:
            start = time.perf_counter()
            analyse(pcm, RATE)
            times[name].append(time.perf_counter() - start)
    mine, other = statistics.median(times["this tree"]), statistics.median(times["other tree"])
    print(f"{len(pcm) / RATE:.0f} s of audio, {args.rounds} rounds: this tree {mine:.2f} s, other tree "
          f"{other:.2f} s (median), ratio {mine / other:.3f}")


if __name__ == "__main__":
    main()
