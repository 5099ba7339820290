"""The tempo and beats dreamvid hears against the score's, song by song, beside librosa's.

    python benchmarks/tempo_songs.py                     # render the scored set once (cached)
    python benchmarks/bench_tempo.py [SONGS/] [--split held-out] [--no-librosa] [--bpm-hint]
    python benchmarks/bench_tempo.py SONGS/ --tempos SONGS/tempos.csv   # songs with a tempo only

By default SONGS/ is tempo_songs.py's folder and the songs are those of tempo_songs.csv, each with its
beats from the score (SONG.beats). A `--tempos` CSV of `song,bpm` rows measures songs that have a tempo
but no beats (Frets on Fire's song packages: the set-tempo event in each notes.mid). A tempo counts as
right within 4% (MIREX's tolerance); `x2`, `x0.5`, `x1.5`, `x0.67`, `x1.33` and `x0.75` name the
errors. Beat F is the F-measure within +-70 ms (MIREX), beats of the first 5 s left out (mir_eval's
trim). librosa (`beat_track` with its defaults) runs only here, never in dreamvid: `pip install librosa`
for its columns; without it the benchmark says so and prints dreamvid's alone.
"""

import argparse
import csv
import os
import time

import numpy as np

from dreamvid.audio.decode import RATE, decode_pcm
from dreamvid.audio.features import analyse

TOLERANCE = 0.04  # MIREX's tempo tolerance: within 4% of the notated tempo
WINDOW = 0.07  # MIREX's beat tolerance: +-70 ms
SKIP = 5.0  # seconds of beats left out at the start (mir_eval.beat.trim_beats)
RATIOS = (("ok", 1.0), ("x2", 2.0), ("x0.5", 0.5), ("x1.5", 1.5), ("x0.67", 2 / 3), ("x1.33", 4 / 3),
          ("x0.75", 0.75))
DEFAULT_FOLDER = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
                              "dreamvid-tempo-songs")


def verdict(found: float, known: float) -> str:
    """How the found tempo relates to the known one: one of RATIOS' labels, or miss."""
    for label, ratio in RATIOS:
        if found and abs(found / (known * ratio) - 1.0) <= TOLERANCE:
            return label
    return "miss"


def beat_f(found: np.ndarray, known: np.ndarray, window: float = WINDOW) -> float:
    """F-measure of found beats against known ones within +-window, each known beat matched at most once."""
    found, known = found[found >= SKIP], known[known >= SKIP]
    if not len(found) or not len(known):
        return 0.0
    nearest = np.abs(found[:, None] - known[None, :])
    hits = len(np.unique(nearest.argmin(axis=1)[nearest.min(axis=1) <= window]))
    precision, recall = hits / len(found), hits / len(known)
    return 0.0 if not hits else 2 * precision * recall / (precision + recall)


def librosa_beats(pcm: np.ndarray):
    """librosa's tempo and beat times, or None where librosa is not installed."""
    try:
        import librosa
    except ImportError:
        return None
    bpm, times = librosa.beat.beat_track(y=pcm, sr=RATE, units="time")
    return float(np.atleast_1d(bpm)[0]), times


def songs(args) -> list[dict]:
    """(name, path, split, known tempo, known beats or None) for every song measured."""
    if args.tempos:
        with open(args.tempos, newline="") as rows:
            return [{"song": r["song"], "path": os.path.join(args.songs, r["song"]), "split": "-",
                     "known": float(r["bpm"]), "beats": None} for r in csv.DictReader(rows)]
    from tempo_songs import manifest

    chosen = []
    for r in manifest():
        if args.split in ("all", r["split"]):
            beats = np.loadtxt(os.path.join(args.songs, r["song"] + ".beats"))
            chosen.append({"song": r["song"], "path": os.path.join(args.songs, r["song"] + ".wav"),
                           "split": r["split"], "known": float(60.0 / np.median(np.diff(beats))),
                           "beats": beats})
    return chosen


def measure(song: dict, hint: bool, with_librosa: bool) -> dict:
    pcm = decode_pcm(song["path"], RATE)
    start = time.perf_counter()
    features = analyse(pcm, RATE, bpm=song["known"] if hint else 0.0)
    seconds = time.perf_counter() - start
    row = {**song, "length": len(pcm) / RATE, "found": features.tempo, "analysis": seconds,
           "verdict": verdict(features.tempo, song["known"]), "f": _f(features.beats, song["beats"]),
           "runner_up": features.runner_up, "share": features.tempo_share}
    theirs = librosa_beats(pcm) if with_librosa else None
    if theirs is not None:
        row.update(lib_found=theirs[0], lib_verdict=verdict(theirs[0], song["known"]),
                   lib_f=_f(theirs[1], song["beats"]))
    return row


def _f(found: np.ndarray, known) -> float:
    return float("nan") if known is None else beat_f(np.asarray(found), known)


def report(rows: list[dict]) -> None:
    librosa = "lib_found" in rows[0]
    print(f"{'song':24s} {'split':8s} {'len s':>5s} {'score':>6s} {'dreamvid':>8s} {'':5s} {'F':>4s} {'2nd':>6s} {'share':>5s}"
          + (f" {'librosa':>8s} {'':5s} {'F':>4s}" if librosa else "") + f" {'time s':>6s}")
    for r in rows:
        print(f"{r['song']:24s} {r['split']:8s} {r['length']:5.0f} {r['known']:6.1f} {r['found']:8.2f} "
              f"{r['verdict']:5s} {r['f']:4.2f} {r['runner_up']:6.1f} {r['share']:5.2f}"
              + (f" {r['lib_found']:8.2f} {r['lib_verdict']:5s} {r['lib_f']:4.2f}" if librosa else "")
              + f" {r['analysis']:6.2f}")
    for split in sorted({r["split"] for r in rows}):
        part = [r for r in rows if r["split"] == split]
        print(f"{split}: {len(part)} songs; " + _summary(part, "") + ("; librosa " + _summary(part, "lib_")
                                                                        if librosa else ""))
    if not librosa:
        print("librosa is not installed (pip install librosa): its columns are left out")


def _summary(rows: list[dict], who: str) -> str:
    right = sum(r[who + "verdict"] == "ok" for r in rows)
    text = f"tempo right {right}/{len(rows)} ({right / len(rows):.0%})"
    fs = np.array([r[who + "f"] for r in rows])
    if np.isnan(fs).any():  # songs with a tempo only
        return text
    good = int(np.sum(fs >= 0.9))
    return text + f", beat F >= 0.9 {good}/{len(rows)} ({good / len(rows):.0%}), median F {np.median(fs):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("songs", nargs="?", default=DEFAULT_FOLDER, help="folder of songs")
    parser.add_argument("--tempos", help="CSV of song,bpm (songs with a known tempo but no beats)")
    parser.add_argument("--split", default="all", choices=("all", "tune", "held-out"))
    parser.add_argument("--bpm-hint", action="store_true", help="analyse with the known tempo as audio_bpm")
    parser.add_argument("--no-librosa", action="store_true", help="dreamvid's columns only")
    args = parser.parse_args()
    report([measure(song, args.bpm_hint, not args.no_librosa) for song in songs(args)])


if __name__ == "__main__":
    main()
