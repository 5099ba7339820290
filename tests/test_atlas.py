"""The layer atlas (render/atlas.py): labels that fit any tile, below it; each layer's dream reads only its own
layer (so its forward stops there); the first and last lines every command has."""

import numpy as np
import pytest

from dreamvid.cli import run
from dreamvid.nets.features import FeatureNet
from dreamvid.render import atlas


@pytest.mark.parametrize("width", [24, 40, 64, 224])
def test_labels_wrap_to_fit_any_tile_and_keep_every_letter(width):
    label = "blocks.4 eyes (default)"
    lines = atlas.wrapped(label, width)
    assert all(atlas.fits(line, width) or len(line) == 1 for line in lines)
    assert "".join(lines).replace(" ", "") == label.replace(" ", "")
    assert len(lines) == 1 if width >= 224 else len(lines) > 1


def test_a_label_sits_below_its_picture():
    picture = np.zeros((20, 40, 3), np.uint8)
    tile = atlas.labelled(picture, ["blocks.4"], 2)
    assert tile.shape == (20 + 2 * atlas.LINE_HEIGHT + 4, 40, 3)
    assert (tile[:20] == 0).all() and (tile[20:] < 255).any()  # the picture untouched, the text under it


def test_each_layer_is_dreamed_with_a_forward_that_stops_at_it(cat_path, tmp_path, capsys, monkeypatch):
    deepest_seen = []
    original = FeatureNet.forward

    def forward(self, image, layers=None):
        captured = original(self, image, layers)
        deepest_seen.append(max(captured, key=list(self.layer_paths).index))
        assert len(captured) == 1  # the dream's own layer only
        return captured

    monkeypatch.setattr(FeatureNet, "forward", forward)
    assert run(["layers", "--atlas", cat_path, "-o", str(tmp_path / "a.png"), "--size", "32", "--overwrite"]) == 0
    assert deepest_seen[0] == "blocks.0" and deepest_seen[-1] == "blocks.6"
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("dreamvid: ")]
    assert lines[0] == "dreamvid: atlas: 7 layers of efficientnet_lite0 at 32x21 on cpu: timing the first layer " \
                       "for an estimate"
    assert any(" for the first layer; deeper layers take longer: at least " in line for line in lines)
    assert lines[-1].startswith(f"dreamvid: wrote {tmp_path / 'a.png'} (")
