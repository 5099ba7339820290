"""The tempo and the beat times a Standard MIDI File states: its ground truth for bench_tempo.py.

    python benchmarks/score_beats.py SONG.mid   -> prints the tempo map, meter and the first beats

A beat is the time signature's counted note: a quarter in 4/4 and 3/4, a half in 2/2, a dotted quarter in
6/8, 9/8 and 12/8 (compound meters count three eighths per beat). Beat times walk the tempo map (every
set-tempo event, so tempo changes move them), from tick 0 to the last note's end; `tempo` is the
median beat rate (BPM). Only the header, set-tempo, time-signature and note events are read.
"""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass

import numpy as np

DEFAULT_TEMPO = 500000  # microseconds per quarter note where the file sets none (120 BPM)


@dataclass
class Score:
    ticks_per_quarter: int
    tempos: list[tuple[int, int]]  # (tick, microseconds per quarter), sorted, starting at tick 0
    meters: list[tuple[int, int, int]]  # (tick, numerator, denominator)
    first_note: int  # ticks
    last_note: int  # ticks: the end of the last note


def read_midi(path: str) -> Score:
    with open(path, "rb") as f:
        data = f.read()
    division, tempo_events, meters, notes = _parse(data, path)
    tempos = sorted((tick, value) for tick, value, _ in tempo_events) or [(0, DEFAULT_TEMPO)]
    if tempos[0][0] > 0:
        tempos.insert(0, (0, DEFAULT_TEMPO))
    return Score(division, tempos, sorted(meters) or [(0, 4, 4)], min(notes), max(notes))


def slowed(source: str, factor: float, target: str) -> None:
    """A copy of the MIDI file `source` whose every set-tempo event plays `factor` times as fast."""
    with open(source, "rb") as f:
        data = bytearray(f.read())
    _, tempos, _, _ = _parse(bytes(data), source)
    if not tempos:
        raise ValueError(f"{source}: no set-tempo event to scale")
    for _, value, offset in tempos:
        data[offset:offset + 3] = min(round(value / factor), 0xFFFFFF).to_bytes(3, "big")
    with open(target, "wb") as f:
        f.write(data)


def sped_up(source: str, factor: float, first: float, last: float, target: str) -> None:
    """A copy of the MIDI file `source` that plays `factor` times as fast from quarter `first` to quarter `last`:
    a track of two set-tempo events is added (the file must have one tempo between them, and be format 1)."""
    with open(source, "rb") as f:
        data = f.read()
    score = read_midi(source)
    start, end = (round(q * score.ticks_per_quarter) for q in (first, last))
    if data[8:10] != b"\x00\x01" or any(start < tick <= end for tick, _ in score.tempos):
        raise ValueError(f"{source}: not a format 1 file with one tempo from quarter {first:g} to {last:g}")
    held = [value for tick, value in score.tempos if tick <= start][-1]
    events = b"".join(_varlen_bytes(delta) + b"\xff\x51\x03" + value.to_bytes(3, "big")
                      for delta, value in ((start, round(held / factor)), (end - start, held)))
    events += b"\x00\xff\x2f\x00"  # end of track
    track = b"MTrk" + struct.pack(">I", len(events)) + events
    tracks = struct.unpack(">H", data[10:12])[0] + 1
    with open(target, "wb") as f:
        f.write(data[:10] + struct.pack(">H", tracks) + data[12:] + track)


def _varlen_bytes(value: int) -> bytes:
    out = [value & 0x7F]
    while value > 0x7F:
        value >>= 7
        out.append(0x80 | (value & 0x7F))
    return bytes(out[::-1])


def _parse(data: bytes, path: str) -> tuple[int, list, list, list]:
    # (ticks per quarter, [(tick, us per quarter, byte offset)], [(tick, num, den)], [note ticks])
    if data[:4] != b"MThd":
        raise ValueError(f"{path}: not a Standard MIDI File")
    _, tracks, division = struct.unpack(">HHH", data[8:14])
    if division & 0x8000:
        raise ValueError(f"{path}: SMPTE time division is not supported")
    tempos, meters, notes = [], [], []
    pos = 8 + struct.unpack(">I", data[4:8])[0]
    for _ in range(tracks):
        length = struct.unpack(">I", data[pos + 4:pos + 8])[0]
        _read_track(data, pos + 8, pos + 8 + length, tempos, meters, notes)
        pos += 8 + length
    return division, tempos, meters, notes


def _read_track(data: bytes, i: int, end: int, tempos: list, meters: list, notes: list) -> None:
    tick, status = 0, 0
    while i < end:
        delta, i = _varlen(data, i)
        tick += delta
        if data[i] & 0x80:
            status, i = data[i], i + 1
        if status == 0xFF:
            kind, (length, i) = data[i], _varlen(data, i + 1)
            body, i = data[i:i + length], i + length
            if kind == 0x51:
                tempos.append((tick, int.from_bytes(body, "big"), i - length))
            elif kind == 0x58:
                meters.append((tick, body[0], 2 ** body[1]))
            elif kind == 0x2F:
                return
        elif status in (0xF0, 0xF7):
            length, i = _varlen(data, i)
            i += length
        else:
            kind, size = status & 0xF0, (1 if status & 0xF0 in (0xC0, 0xD0) else 2)
            if kind in (0x80, 0x90):
                notes.append(tick)
            i += size


def _varlen(data: bytes, i: int) -> tuple[int, int]:
    value = 0
    while True:
        byte = data[i]
        value, i = (value << 7) | (byte & 0x7F), i + 1
        if not byte & 0x80:
            return value, i


def beat_ticks(score: Score) -> float:
    """Ticks per counted beat under the song's first time signature (see the module docstring)."""
    _, numerator, denominator = score.meters[0]
    if denominator == 8 and numerator % 3 == 0 and numerator > 3:
        return score.ticks_per_quarter * 1.5
    return score.ticks_per_quarter * 4 / denominator


def seconds_at(score: Score, ticks: np.ndarray) -> np.ndarray:
    """Tick positions to seconds along the tempo map."""
    starts = np.array([t for t, _ in score.tempos], float)
    per_tick = np.array([us for _, us in score.tempos], float) / 1e6 / score.ticks_per_quarter
    offsets = np.concatenate([[0.0], np.cumsum(np.diff(starts) * per_tick[:-1])])
    segment = np.searchsorted(starts, ticks, side="right") - 1
    return offsets[segment] + (ticks - starts[segment]) * per_tick[segment]


def beats(score: Score, quarters: float = 0.0) -> np.ndarray:
    """Every beat time in seconds from the song's start to its last note; `quarters`: the counted note's
    length in quarter notes where the manifest knows it better than the file (0: the file's meter)."""
    step = score.ticks_per_quarter * quarters if quarters else beat_ticks(score)
    return seconds_at(score, np.arange(0.0, score.last_note + 1, step))


def tempo(score: Score, quarters: float = 0.0) -> float:
    """The median beat rate (BPM)."""
    return float(60.0 / np.median(np.diff(beats(score, quarters))))


if __name__ == "__main__":
    song = read_midi(sys.argv[1])
    times = beats(song)
    print(f"tempo {tempo(song):.2f} BPM, meters {song.meters[:3]}, {len(song.tempos)} tempo events "
          f"{[round(6e7 / us, 2) for _, us in song.tempos[:6]]}, {len(times)} beats, first note "
          f"{seconds_at(song, np.array([song.first_note]))[0]:.2f} s, last {times[-1]:.1f} s")
