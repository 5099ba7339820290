import cv2
import numpy as np
import pytest

from dreamvid.colour import ColourStats, colour_stats, match_colours, saturation
from dreamvid.errors import UserError


def _picture(seed: int, tint: list[float], size: int = 32) -> np.ndarray:
    """A smooth random picture, kept inside the gamut, with a colour cast."""
    noise = np.random.default_rng(seed).random((size, size, 3)).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), 2)
    spread = (blurred - blurred.min()) / (blurred.max() - blurred.min())
    return (0.15 + 0.7 * spread * np.array(tint, np.float32)).astype(np.float32)


def _with_cast(picture: np.ndarray) -> np.ndarray:
    """`picture` darker, duller and tinted, by a per-channel LAB change that stays in gamut."""
    lab = cv2.cvtColor(picture, cv2.COLOR_RGB2LAB)
    mean = lab.reshape(-1, 3).mean(axis=0)
    cast = (lab - mean) * np.array([0.7, 0.6, 0.6]) + mean + np.array([-8, 10, 15])
    rgb = cv2.cvtColor(cast.astype(np.float32), cv2.COLOR_LAB2RGB)
    assert 0.0 <= rgb.min() and rgb.max() <= 1.0
    return rgb


def _drift(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One step of the drift a long loop suffers: colours creep toward saturated red."""
    pushed = image * np.array([1.02, 0.99, 0.99], np.float32)
    return np.clip(pushed + rng.normal(0, 0.01, image.shape).astype(np.float32), 0, 1)


def _distance(stats: ColourStats, reference: ColourStats) -> tuple[float, float]:
    """Largest LAB mean difference and largest relative std difference over the channels."""
    mean = np.abs(np.subtract(stats.mean, reference.mean)).max()
    std = np.abs(np.divide(stats.std, reference.std) - 1).max()
    return float(mean), float(std)


def test_strength_zero_is_identity():
    image = _picture(0, [1.0, 0.5, 0.2])
    out = match_colours(image, colour_stats(_picture(1, [0.2, 0.5, 1.0])), 0.0)
    assert np.array_equal(out, image)


def test_strength_one_reaches_reference_stats():
    picture = _picture(0, [1.0, 1.0, 1.0])
    reference = colour_stats(picture)
    out = match_colours(_with_cast(picture), reference, 1.0)
    assert out.dtype == np.float32 and out.shape == picture.shape
    assert 0.0 <= out.min() and out.max() <= 1.0
    mean_error, std_error = _distance(colour_stats(out), reference)
    assert mean_error < 0.5 and std_error < 0.02
    assert np.abs(out - picture).max() < 0.02  # the cast is undone, not just its statistics


def test_half_strength_lands_in_between():
    picture = _picture(0, [1.0, 1.0, 1.0])
    reference = colour_stats(picture)
    image = _with_cast(picture)
    before = colour_stats(image)
    after = colour_stats(match_colours(image, reference, 0.5))
    for field in ("mean", "std"):
        start, goal, got = (np.array(getattr(s, field)) for s in (before, reference, after))
        assert np.all(np.abs(got - (start + goal) / 2) < 0.1 * np.abs(goal - start) + 0.2)


def test_uint8_frames_are_accepted():
    picture = _picture(0, [1.0, 1.0, 1.0])
    frame = np.rint(_with_cast(picture) * 255).astype(np.uint8)
    out = match_colours(frame, colour_stats(picture), 1.0)
    assert out.dtype == np.uint8
    assert _distance(colour_stats(out), colour_stats(picture))[0] < 1.0


def test_flat_image_does_not_blow_up():
    grey = np.full((8, 8, 3), 0.5, np.float32)
    out = match_colours(grey, colour_stats(_picture(1, [0.4, 0.7, 1.0])), 1.0)
    assert np.all(np.isfinite(out)) and np.all(out == out[0, 0])  # recoloured, not textured


def test_coherence_holds_a_drifting_loop():
    first = _picture(0, [0.6, 0.9, 1.0])
    reference = colour_stats(first)
    finals = {}
    for strength in (0.0, 0.3):
        rng, image = np.random.default_rng(1), first
        for _ in range(1000):
            image = match_colours(_drift(image, rng), reference, strength)
        finals[strength] = _distance(colour_stats(image), reference)
    # Without coherence the loop really drifts, so this test can fail ...
    assert finals[0.0][0] > 30 and finals[0.0][1] > 0.5
    # ... and with it the colours stay near the first frame's.
    assert finals[0.3][0] < 10 and finals[0.3][1] < 0.5


def test_saturation_of_grey_and_pure_red():
    assert saturation(np.full((4, 4, 3), 0.5, np.float32)) == 0.0
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 255
    assert saturation(red) == pytest.approx(1.0)
    assert saturation(red.astype(np.float32) / 255) == pytest.approx(1.0)


def test_strength_out_of_range_raises_user_error():
    stats = colour_stats(_picture(0, [1.0, 1.0, 1.0]))
    with pytest.raises(UserError, match="strength"):
        match_colours(_picture(0, [1.0, 1.0, 1.0]), stats, 1.5)
