"""The tempo dreamvid hears against a known tempo, on a folder of songs: one row per song, and how many
it got right, at double time or at half time.

    python benchmarks/bench_tempo.py SONGS/ [--tempos SONGS/tempos.csv] [--bpm-hint]

`tempos.csv` holds `song,bpm` rows (the file name in SONGS/, its notated tempo). Frets on Fire's song
packages carry the notated tempo in each song's notes.mid (its set-tempo event); the README's table
came from those. A tempo counts as right within 4% (MIREX's tolerance); `x2` and `x0.5` are the
octave errors this benchmark exists to count. `--bpm-hint` also runs each song with its known tempo
given as `audio_bpm`, and reports how far its beats move from the unhinted ones.
"""

import argparse
import csv
import os
import time

import numpy as np

from dreamvid.audio.decode import RATE, decode_pcm
from dreamvid.audio.features import analyse

TOLERANCE = 0.04  # MIREX's tempo tolerance: within 4% of the notated tempo


def known_tempos(path: str) -> dict[str, float]:
    with open(path, newline="") as rows:
        return {row["song"]: float(row["bpm"]) for row in csv.DictReader(rows)}


def verdict(found: float, known: float) -> str:
    """ok, x2, x0.5, x1.5, x0.67 or miss: how the found tempo relates to the known one."""
    for label, ratio in (("ok", 1.0), ("x2", 2.0), ("x0.5", 0.5), ("x1.5", 1.5), ("x0.67", 2 / 3)):
        if found and abs(found / (known * ratio) - 1.0) <= TOLERANCE:
            return label
    return "miss"


def beat_agreement(a: np.ndarray, b: np.ndarray, window: float = 0.07) -> float:
    """F-measure of two beat lists within +-70 ms (each beat of `a` matched to the nearest of `b`)."""
    if not len(a) or not len(b):
        return 0.0
    hits = int(np.sum(np.abs(a[:, None] - b[None, :]).min(axis=1) <= window))
    precision, recall = hits / len(a), hits / len(b)
    return 0.0 if not hits else 2 * precision * recall / (precision + recall)


def measure(path: str, known: float, hint: bool) -> dict:
    pcm = decode_pcm(path, RATE)
    start = time.perf_counter()
    features = analyse(pcm, RATE)
    seconds = time.perf_counter() - start
    row = {"song": os.path.basename(path), "length": len(pcm) / RATE, "known": known, "found": features.tempo,
           "verdict": verdict(features.tempo, known), "beats": len(features.beats), "analysis": seconds}
    if hint:
        hinted = analyse(pcm, RATE, bpm=known)
        row["hinted"] = hinted.tempo
        row["agree"] = beat_agreement(features.beats, hinted.beats)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("songs", help="folder of songs")
    parser.add_argument("--tempos", help="CSV of song,bpm (default: SONGS/tempos.csv)")
    parser.add_argument("--bpm-hint", action="store_true", help="also analyse with the known tempo as audio_bpm")
    args = parser.parse_args()
    tempos = known_tempos(args.tempos or os.path.join(args.songs, "tempos.csv"))
    rows = [measure(os.path.join(args.songs, song), bpm, args.bpm_hint) for song, bpm in sorted(tempos.items())]
    head = f"{'song':28s} {'length s':>8s} {'known':>6s} {'found':>7s} {'verdict':>7s} {'beats':>5s} {'time s':>6s}"
    print(head + (f" {'hinted':>7s} {'F(beats)':>8s}" if args.bpm_hint else ""))
    for r in rows:
        line = (f"{r['song']:28s} {r['length']:8.1f} {r['known']:6.1f} {r['found']:7.2f} {r['verdict']:>7s} "
                f"{r['beats']:5d} {r['analysis']:6.2f}")
        print(line + (f" {r['hinted']:7.2f} {r['agree']:8.2f}" if args.bpm_hint else ""))
    counts = {label: sum(r["verdict"] == label for r in rows) for label in ("ok", "x2", "x0.5", "x1.5", "x0.67", "miss")}
    print(f"{counts['ok']}/{len(rows)} right; " + ", ".join(f"{k}: {v}" for k, v in counts.items() if k != "ok"))


if __name__ == "__main__":
    main()
