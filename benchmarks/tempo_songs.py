"""Songs whose tempo and every beat are known from their own score, for bench_tempo.py.

    python benchmarks/tempo_songs.py [DIR]   -> renders into DIR (default: $XDG_CACHE_HOME or ~/.cache,
                                                /dreamvid-tempo-songs) and prints the folder

The scores are the 31 MIDI songs of OpenTTD's free music set (Debian's openttd-openmsx, GPL-2): jazz,
blues, boogie, swing, ragtime, brass, harp, rock, 64-200 BPM, in 4/4, 3/4, 5/4 and 6/4, some with tempo
changes. `tempo_songs.csv` lists the set: 15 of the songs also rendered slowed (every set-tempo event
scaled by `factor`), so that slow songs weigh like fast ones, and each song with its split: `tune` (what
the estimator was tuned on) or `held-out` (measured only), alternating in alphabetical order of the
scores, a slowed render in its score's split; `beat`, where given, is the counted note in quarters for a
file that states no time signature and whose notes do not keep the quarter (see the manifest's note);
`stretch`, where given (FIRST-LAST, in quarters), limits `factor` to that stretch: a tempo change made for the
tune split (the held-out split has a song whose tempo runs a quarter faster for 48 s).
Each song is rendered by fluidsynth with the Fluid R3 mono
GM soundfont (Debian's fluidr3mono-gm-soundfont) to DIR/SONG.wav, and its beats (score_beats.py) go
to DIR/SONG.beats, one time in seconds a line. Nothing is committed but this script and the manifest;
the Debian packages come with `apt-get download` (needs the package index and `fluidsynth`).
"""

from __future__ import annotations

import csv
import glob
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from score_beats import beats, read_midi, slowed, sped_up, tempo

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(HERE, "tempo_songs.csv")
PACKAGES = ("openttd-openmsx", "fluidr3mono-gm-soundfont")
RATE = 22050


def manifest() -> list[dict]:
    with open(MANIFEST, newline="") as rows:
        return list(csv.DictReader(rows))


def unpack(folder: str) -> tuple[str, str]:
    """The folder of MIDI scores and the soundfont, from the Debian packages (downloaded once)."""
    root = os.path.join(folder, "packages")
    if not os.path.isdir(root):
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["apt-get", "download", "-q", *PACKAGES], cwd=tmp, check=True,
                           stdout=subprocess.DEVNULL)
            for deb in glob.glob(os.path.join(tmp, "*.deb")):
                subprocess.run(["dpkg", "-x", deb, root + ".part"], check=True)
        os.rename(root + ".part", root)
    scores = os.path.join(root, "usr/share/games/openttd/baseset/openmsx")
    return scores, glob.glob(os.path.join(root, "usr/share/sounds/sf3/*.sf3"))[0]


def render(score: str, soundfont: str, target: str) -> None:
    part = target + ".part.wav"
    subprocess.run(["nice", "-n", "10", "fluidsynth", "-ni", "-q", "-g", "0.6", "-r", str(RATE), "-F", part,
                    soundfont, score], check=True, stdout=subprocess.DEVNULL)
    os.rename(part, target)


def main() -> None:
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "dreamvid-tempo-songs")
    if not shutil.which("fluidsynth"):
        sys.exit("tempo_songs: needs fluidsynth (apt-get install fluidsynth)")
    os.makedirs(folder, exist_ok=True)
    scores, soundfont = unpack(folder)
    for song in manifest():
        score = os.path.join(scores, song["score"])
        if float(song["factor"]) != 1.0:
            score_copy = os.path.join(folder, song["song"] + ".mid")
            if song["stretch"]:
                sped_up(score, float(song["factor"]), *map(float, song["stretch"].split("-")), score_copy)
            else:
                slowed(score, float(song["factor"]), score_copy)
            score = score_copy
        wav = os.path.join(folder, song["song"] + ".wav")
        if not os.path.exists(wav):
            render(score, soundfont, wav)
        parsed, quarters = read_midi(score), float(song["beat"] or 0.0)
        np.savetxt(os.path.join(folder, song["song"] + ".beats"), beats(parsed, quarters), fmt="%.4f")
        print(f"{song['song']:24s} {tempo(parsed, quarters):7.2f} BPM  {song['split']}", file=sys.stderr)
    print(folder)


if __name__ == "__main__":
    main()
