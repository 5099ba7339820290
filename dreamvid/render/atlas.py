"""`dreamvid layers`: the list of a model's layers, and the atlas, a labelled contact sheet of one
picture dreamed at each main layer (the picture people look at to choose a layer).

The network is built once, hooked on every main layer; each layer's dream reads only its own layer,
so its forward passes stop there (a shallow layer costs a shallow network)."""

from __future__ import annotations

import time

import cv2
import numpy as np
from tqdm import tqdm

from dreamvid.errors import UserError
from dreamvid.media.pictures import Picture, as_frame, check_picture_output, resize_frame, save_picture
from dreamvid.nets.registry import get_spec
from dreamvid.notices import notify
from dreamvid.render.dreaming import build_engine, build_network
from dreamvid.render.report import duration_text, wrote
from dreamvid.render.still import dream_frame
from dreamvid.settings import Resolved, merge

COLUMNS = 4
FONT, FONT_SCALE, FONT_THICKNESS = cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1  # 0.4: about 9 px capitals, legible at any zoom
LINE_HEIGHT = 14  # px per label line, capitals and descenders with a little air
MARGIN = 3  # px left of each label line
# px, a tile's longer side: the least side a dream takes, and the most that keeps a sheet of 4 tiles a row
# (8192 px wide) in memory; without it, 0 or -5 dreamed the picture at its own size and 99999999 was a MemoryError
TILE_SIDES = (16, 2048)


def main_layers(layers: list[str]) -> list[str]:
    """Layers that are not sub-blocks of another listed layer (blocks.4, not blocks.4.1)."""
    return [name for name in layers if name.rpartition(".")[0] not in layers]


def fits(text: str, width: int) -> bool:
    return cv2.getTextSize(text, FONT, FONT_SCALE, FONT_THICKNESS)[0][0] + 2 * MARGIN <= width


def wrapped(label: str, width: int) -> list[str]:
    """`label` in lines that fit `width` px, broken at spaces (and inside a word only where it alone is too wide)."""
    lines: list[str] = []
    for word in label.split():
        if lines and fits(f"{lines[-1]} {word}", width):
            lines[-1] += f" {word}"
        else:
            lines += word_pieces(word, width)
    return lines


def word_pieces(word: str, width: int) -> list[str]:
    """A word cut into pieces that fit `width` (a narrow tile breaks a layer name: "bloc", "ks.4")."""
    pieces = []
    while word:
        cut = len(word)
        while cut > 1 and not fits(word[:cut], width):
            cut -= 1
        pieces.append(word[:cut])
        word = word[cut:]
    return pieces


def labelled(frame: np.ndarray, lines: list[str], line_count: int) -> np.ndarray:
    """The frame with its label below it, on a white strip of `line_count` lines (the same for every tile)."""
    strip = np.full((line_count * LINE_HEIGHT + 4, frame.shape[1], 3), 255, np.uint8)
    for index, line in enumerate(lines):
        cv2.putText(strip, line, (MARGIN, (index + 1) * LINE_HEIGHT - 2), FONT, FONT_SCALE, (0, 0, 0),
                    FONT_THICKNESS, cv2.LINE_AA)
    return np.vstack([frame, strip])


def contact_sheet(tiles: list[np.ndarray], columns: int = COLUMNS) -> np.ndarray:
    blank = np.full_like(tiles[0], 255)
    tiles = tiles + [blank] * (-len(tiles) % columns)
    rows = [np.hstack(tiles[i:i + columns]) for i in range(0, len(tiles), columns)]
    return np.vstack(rows)


def layer_labels(model: str, layers: list[str]) -> list[str]:
    """"blocks.4 eyes (default)": the layer, the role presets call it by, and whether it is the default."""
    spec = get_spec(model)
    roles = {layer: role for role, layer in spec.roles.items()}
    return [" ".join(filter(None, (layer, roles.get(layer, ""), "(default)" if layer == spec.default_layer else "")))
            for layer in layers]


def check_tile_side(size: object) -> None:
    low, high = TILE_SIDES
    if isinstance(size, bool) or not isinstance(size, int) or not low <= size <= high:
        raise UserError(f"the atlas's tile size (--size) must be a whole number of px from {low} to {high}, got {size!r}")


def render_atlas(picture: Picture, output_path: str, model: str, size: int, overwrite: bool) -> None:
    """Dream the picture once per main layer, with the model built once for all of them; a first line with
    what runs where, the time a layer takes once the first is done, and a last line naming what was written."""
    started = time.monotonic()
    check_tile_side(size)
    check_picture_output(output_path, overwrite)
    frame = resize_frame(as_frame(picture), size)
    layers = main_layers(list(get_spec(model).layers))
    settings = merge(("atlas", {"model": model}))
    net = build_network(Resolved(settings), layers)
    device = net.mean.device.type
    notify(f"atlas: {len(layers)} layers of {model} at {frame.shape[1]}x{frame.shape[0]} on {device}: "
           f"timing the first layer for an estimate")
    dreams = [frame]
    for index, layer in enumerate(tqdm(layers, desc="atlas", unit="layer")):
        layer_started = time.monotonic()
        layer_settings = {**settings, "layers": {layer: 1.0}}
        dreams.append(dream_frame(frame, layer_settings, build_engine(Resolved(layer_settings), net=net)))
        if index == 0 and len(layers) > 1:
            each = time.monotonic() - layer_started
            notify(f"{duration_text(each)} for the first layer; deeper layers take longer: at least "
                   f"{duration_text(each * (len(layers) - 1))} left")
    labels = [wrapped(label, frame.shape[1]) for label in ["input", *layer_labels(model, layers)]]
    line_count = max(len(lines) for lines in labels)
    save_picture(contact_sheet([labelled(dream, lines, line_count) for dream, lines in zip(dreams, labels)]),
                 output_path)
    wrote(output_path, 1, time.monotonic() - started)
