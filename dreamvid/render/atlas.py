"""`dreamvid layers`: the list of a model's layers, and the atlas, a labelled contact sheet of one
picture dreamed at each main layer (the picture people look at to choose a layer)."""

from __future__ import annotations

import cv2
import numpy as np
from tqdm import tqdm

from dreamvid.media.pictures import check_picture_output, load_picture, resize_frame, save_picture
from dreamvid.nets.device import pick_device
from dreamvid.nets.features import load_model
from dreamvid.nets.registry import get_spec
from dreamvid.render.dreaming import build_engine
from dreamvid.render.still import dream_frame
from dreamvid.settings import Resolved, merge

LABEL_HEIGHT = 28
COLUMNS = 4


def main_layers(layers: list[str]) -> list[str]:
    """Layers that are not sub-blocks of another listed layer (blocks.4, not blocks.4.1)."""
    return [name for name in layers if name.rpartition(".")[0] not in layers]


def labelled(frame: np.ndarray, label: str) -> np.ndarray:
    strip = np.full((LABEL_HEIGHT, frame.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, label, (6, LABEL_HEIGHT - 9), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([strip, frame])


def contact_sheet(tiles: list[np.ndarray], columns: int = COLUMNS) -> np.ndarray:
    blank = np.full_like(tiles[0], 255)
    tiles = tiles + [blank] * (-len(tiles) % columns)
    rows = [np.hstack(tiles[i:i + columns]) for i in range(0, len(tiles), columns)]
    return np.vstack(rows)


def render_atlas(input_path: str, output_path: str, model: str, size: int, overwrite: bool) -> None:
    """Dream the picture once per main layer, with the model built once for all of them."""
    check_picture_output(output_path, overwrite)
    spec = get_spec(model)
    frame = resize_frame(load_picture(input_path), size)
    layers = main_layers(list(spec.layers))
    settings = merge(("atlas", {"model": model}))
    device = pick_device("auto")
    net = load_model(model, layers, device)
    tiles = [labelled(frame, "input")]
    for layer in tqdm(layers, desc="atlas", unit="layer"):
        layer_settings = {**settings, "layers": {layer: 1.0}}
        engine = build_engine(Resolved(layer_settings), net=net)
        tiles.append(labelled(dream_frame(frame, layer_settings, engine), f"{model} {layer}"))
    save_picture(contact_sheet(tiles), output_path)
