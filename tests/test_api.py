import numpy as np
import pytest

import dreamvid
from dreamvid.errors import UserError
from dreamvid.render.loop import preview_settings
from dreamvid.settings import merge


def test_dream_image_takes_a_path_or_an_array(cat_path, small_cat):
    from_path = dreamvid.dream_image(cat_path, size=48, octaves=1, iterations=2, device="cpu")
    assert from_path.shape == (32, 48, 3) and from_path.dtype == np.uint8
    from_array = dreamvid.dream_image(small_cat, preset="textures", octaves=1, iterations=1, device="cpu")
    assert from_array.shape == small_cat.shape
    assert np.abs(from_array.astype(int) - small_cat).mean() > 1  # it dreamed


def test_dream_image_rejects_bad_settings_and_arrays(small_cat):
    with pytest.raises(UserError, match="allowed keys"):
        dreamvid.dream_image(small_cat, iteratons=3)
    with pytest.raises(UserError, match="uint8"):
        dreamvid.dream_image(small_cat.astype(np.float32))


def test_preview_lowers_the_cost_but_keeps_fewer_steps_and_schedules():
    preview = preview_settings(merge(("t", {"iterations": 10, "size": 1024})))
    assert preview["size"] == 256 and preview["iterations"] == 3
    assert preview_settings(merge(("t", {"iterations": 1})))["iterations"] == 1
    assert preview_settings(merge(("t", {"iterations": "0: 20, 50: 5"})))["iterations"] == 3
    assert preview_settings(merge(("t", {})))["cadence"] == 4  # fewer frames dreamed, as well as fewer pixels
    assert preview_settings(merge(("t", {"flow": "none"})))["cadence"] == 1  # nothing to carry frames along
