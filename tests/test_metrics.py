import cv2
import numpy as np
import pytest

from dreamvid.flow import FlowEstimator, warp_with_flow
from dreamvid.metrics import (dream_strength, flicker_reduction, frame_warping_error, motion_warping_errors, source_motion,
                              strength_per_frame, trail, warping_error)

HEIGHT, WIDTH, FRAMES = 120, 160, 5


def texture(height: int, width: int, seed: int) -> np.ndarray:
    """Smoothed random RGB texture with fine and coarse structure, uint8."""
    rng = np.random.default_rng(seed)
    fine = cv2.GaussianBlur(rng.random((height, width, 3), dtype=np.float32), (0, 0), 2.0)
    coarse = cv2.GaussianBlur(rng.random((height, width, 3), dtype=np.float32), (0, 0), 6.0)
    image = fine + 0.5 * coarse
    image = (image - image.min()) / (image.max() - image.min())
    return (image * 255).astype(np.uint8)


def pan(step: int = 2, seed: int = 0) -> list[np.ndarray]:
    """A camera panning right by step px per frame across a wider texture."""
    wide = texture(HEIGHT, WIDTH + step * FRAMES, seed)
    return [wide[:, t * step:t * step + WIDTH].copy() for t in range(FRAMES)]


def static(seed: int = 0) -> list[np.ndarray]:
    frame = texture(HEIGHT, WIDTH, seed)
    return [frame.copy() for _ in range(FRAMES)]


def with_noise(frames: list[np.ndarray], sigma: float, seed: int = 1) -> list[np.ndarray]:
    """Independent Gaussian noise per frame (sigma in 0..255 units): the naive dream's flicker."""
    rng = np.random.default_rng(seed)
    return [
        np.clip(frame + rng.normal(0.0, sigma, frame.shape), 0, 255).astype(np.uint8)
        for frame in frames
    ]


@pytest.fixture(scope="module")
def estimator() -> FlowEstimator:
    return FlowEstimator()


def test_static_clip_has_no_warping_error(estimator):
    clip = static()
    assert warping_error(clip, clip, estimator) < 1e-8


def test_independent_noise_costs_twice_its_variance(estimator):
    clip = static()
    sigma = 8.0
    error = warping_error(clip, with_noise(clip, sigma), estimator)
    # Two independent draws differ with variance 2 sigma^2.
    assert error == pytest.approx(2 * (sigma / 255) ** 2, rel=0.2)


def test_pan_has_small_error_next_to_the_same_pan_with_noise(estimator):
    clip = pan()
    clean = warping_error(clip, clip, estimator)
    noisy = warping_error(clip, with_noise(clip, 8.0), estimator)
    assert clean < 2e-4
    assert noisy > 10 * clean


def test_output_that_stays_put_while_the_source_pans_is_unstable(estimator):
    clip = pan(step=3)
    frozen = [clip[0]] * FRAMES
    assert warping_error(clip, frozen, estimator) > 20 * warping_error(clip, clip, estimator)


def test_flow_comes_from_the_source_not_the_output(estimator):
    # Output moving while the source stands still is flicker, however trackable the output is.
    moving = pan(step=3)
    still = [moving[0]] * FRAMES
    assert warping_error(still, moving, estimator) > 20 * warping_error(moving, moving, estimator)


def moving_square(left: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    background = texture(HEIGHT, WIDTH, seed=4)
    square = texture(50, 50, seed=5)
    frames = []
    for x0 in (left, left + step):
        frame = background.copy()
        frame[35:85, x0:x0 + 50] = square
        frames.append(frame)
    return frames[0], frames[1]


def test_pixels_covered_in_the_next_frame_are_left_out(estimator):
    previous, current = moving_square(left=40, step=8)
    masked = frame_warping_error(estimator, (previous, current), (previous, current))
    # The same difference without a mask: the background the square covers counts.
    forward = estimator.flow(previous, current)
    unmasked = np.mean(
        (previous / 255.0 - warp_with_flow(current.astype(np.float32) / 255.0, forward)) ** 2
    )
    assert masked < 1e-3
    assert unmasked > 5 * masked


def test_float_frames_in_unit_range_match_uint8(estimator):
    clip = pan()
    noisy = with_noise(clip, 8.0)
    as_float = [frame.astype(np.float32) / 255 for frame in noisy]
    assert warping_error(clip, as_float, estimator) == pytest.approx(
        warping_error(clip, noisy, estimator), rel=1e-5
    )


def test_warping_error_of_a_single_frame_is_zero_and_lengths_must_match(estimator):
    clip = static()
    assert warping_error(clip[:1], clip[:1], estimator) == 0.0
    with pytest.raises(ValueError, match="frames"):
        warping_error(clip, clip[:-1], estimator)


def test_flicker_reduction_arithmetic():
    assert flicker_reduction(e_out=0.001, e_src=0.001, e_naive=0.011) == pytest.approx(1.0)
    assert flicker_reduction(e_out=0.011, e_src=0.001, e_naive=0.011) == pytest.approx(0.0)
    assert flicker_reduction(e_out=0.006, e_src=0.001, e_naive=0.011) == pytest.approx(0.5)
    assert flicker_reduction(e_out=0.021, e_src=0.001, e_naive=0.011) == pytest.approx(-1.0)
    assert np.isnan(flicker_reduction(e_out=0.1, e_src=0.01, e_naive=0.01))


def test_dream_strength_of_identical_clips_is_zero():
    clip = pan()
    assert dream_strength(clip, clip) == 0.0
    assert strength_per_frame(clip, clip) == [0.0] * FRAMES


def test_dream_strength_measures_mean_absolute_change():
    clip = [np.full((8, 8, 3), 100, np.uint8) for _ in range(3)]
    brighter = [frame + np.uint8(10 * (t + 1)) for t, frame in enumerate(clip)]
    assert strength_per_frame(clip, brighter) == pytest.approx([10 / 255, 20 / 255, 30 / 255])
    assert dream_strength(clip, brighter) == pytest.approx(20 / 255)
    darker = [frame - np.uint8(10) for frame in clip]  # |O - I|, not O - I
    assert dream_strength(clip, darker) == pytest.approx(10 / 255)


def square_clip(frames: int = 4, step: int = 6) -> list[np.ndarray]:
    """A textured square crossing a still textured background, `step` px per frame."""
    background, square = texture(HEIGHT, WIDTH, seed=4), texture(40, 40, seed=5)
    clip = []
    for t in range(frames):
        frame = background.copy()
        frame[40:80, 20 + t * step:60 + t * step] = square
        clip.append(frame)
    return clip


def riding_dream(clip: list[np.ndarray], step: int = 6, seed: int = 7) -> list[np.ndarray]:
    """A dream pattern fixed to the background and another fixed to the square, as a perfect flow method gives."""
    rng = np.random.default_rng(seed)
    on_background, on_square = rng.normal(0, 20, (HEIGHT, WIDTH, 3)), rng.normal(0, 20, (40, 40, 3))
    outputs = []
    for t, frame in enumerate(clip):
        residual = on_background.copy()
        residual[40:80, 20 + t * step:60 + t * step] = on_square
        outputs.append(np.clip(frame + residual, 0, 255).astype(np.uint8))
    return outputs


def test_a_dream_riding_on_its_mover_does_not_flicker_there_and_a_boiling_one_does(estimator):
    clip = square_clip()
    motions = source_motion(clip, estimator)
    assert all(motion.moving[40:80].any() and not motion.moving[:30].any() for motion in motions)
    _, riding = motion_warping_errors(riding_dream(clip), motions)
    boiling = [riding_dream(clip, seed=t)[t] for t in range(len(clip))]  # a new dream each frame
    _, boiled = motion_warping_errors(boiling, motions)
    _, floor = motion_warping_errors(clip, motions)
    assert riding - floor < 0.1 * (boiled - floor), (floor, riding, boiled)


def test_the_trail_is_the_share_of_the_movers_dream_in_its_wake(estimator):
    clip = square_clip()
    motions = source_motion(clip, estimator)
    assert all(motion.uncovered[40:80, 20:].any() and not motion.uncovered[:30].any() for motion in motions)
    clean = riding_dream(clip)  # the wake shows the background's own dream
    smeared = [clean[0]]
    for t in range(1, len(clip)):  # the wake takes whatever the flow carried into it
        residual = clean[t].astype(np.float32) - clip[t]
        carried = warp_with_flow(smeared[t - 1].astype(np.float32) - clip[t - 1], motions[t - 1].backward, "cubic")
        residual[motions[t - 1].uncovered] = carried[motions[t - 1].uncovered]
        smeared.append(np.clip(clip[t] + residual, 0, 255).astype(np.uint8))
    assert trail(clip, smeared, motions) > 0.9
    assert abs(trail(clip, clean, motions)) < 0.3
