import numpy as np
import pytest

from dreamvid.errors import UserError
from dreamvid.motion import CameraMove, apply_camera, camera_matrix, move_frame, per_frame


def _map_point(matrix: np.ndarray, x: float, y: float) -> np.ndarray:
    return matrix @ np.array([x, y, 1.0])


def _compose(second: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The 2x3 map of applying `first`, then `second`."""
    return (np.vstack([second, [0, 0, 1]]) @ np.vstack([first, [0, 0, 1]]))[:2]


def _dot_image(width: int, height: int, x: int, y: int) -> np.ndarray:
    """A dark image with a small soft bright dot at pixel (x, y)."""
    ys, xs = np.mgrid[0:height, 0:width]
    dot = np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 1.5**2))
    return np.repeat(dot[..., None], 3, axis=2).astype(np.float32)


def _brightest(image: np.ndarray) -> tuple[int, int]:
    y, x = np.unravel_index(np.argmax(image[..., 0]), image.shape[:2])
    return int(x), int(y)


def test_still_move_is_exact_identity():
    image = np.random.default_rng(0).random((24, 40, 3), dtype=np.float32)
    matrix = camera_matrix(per_frame(CameraMove(), 30), 40, 24)
    assert np.array_equal(matrix, np.eye(2, 3))
    out = move_frame(image, CameraMove(), 30)
    assert np.array_equal(out, image)
    assert out is not image


def test_zoom_moves_point_away_from_centre():
    move = CameraMove(zoom=1.2)
    matrix = camera_matrix(move, 101, 101)  # centre pixel (50, 50)
    assert np.allclose(_map_point(matrix, 50, 50), [50, 50])
    assert np.allclose(_map_point(matrix, 70, 50), [74, 50])
    assert np.allclose(_map_point(matrix, 40, 30), [38, 26])


def test_zoom_renders_dot_at_expected_pixel():
    image = _dot_image(101, 101, 70, 40)
    out = apply_camera(image, camera_matrix(CameraMove(zoom=1.2), 101, 101))
    expected = (50 + 1.2 * 20, 50 - 1.2 * 10)
    x, y = _brightest(out)
    assert abs(x - expected[0]) <= 1 and abs(y - expected[1]) <= 1


def test_zoom_about_off_centre_point():
    move = CameraMove(zoom=2.0, center_x=0.25, center_y=0.75)
    matrix = camera_matrix(move, 100, 100)  # centre pixel (24.5, 74.5)
    assert np.allclose(_map_point(matrix, 24.5, 74.5), [24.5, 74.5])
    assert np.allclose(_map_point(matrix, 34.5, 74.5), [44.5, 74.5])


def test_rotation_is_counter_clockwise_on_screen():
    width, height = 101, 61
    cx, cy = 50, 30
    matrix = camera_matrix(per_frame(CameraMove(rotate=90), fps=1), width, height)
    # A point right of the centre goes above it (rows grow downwards).
    assert np.allclose(_map_point(matrix, cx + 10, cy), [cx, cy - 10])
    out = apply_camera(_dot_image(width, height, cx + 10, cy), matrix)
    assert _brightest(out) == (cx, cy - 10)


def test_translation_is_percent_of_frame_per_second():
    width, height = 200, 100
    move = per_frame(CameraMove(translate_x=10, translate_y=-20), fps=10)
    matrix = camera_matrix(move, width, height)
    assert np.allclose(_map_point(matrix, 30, 40), [30 + 0.01 * width, 40 - 0.02 * height])
    # Preview and full render move by the same fraction of the frame.
    small = camera_matrix(move, width // 4, height // 4)
    assert np.isclose(small[0, 2] / (width // 4), matrix[0, 2] / width)


def test_per_frame_is_fps_independent():
    move = CameraMove(zoom=1.05, rotate=12, translate_x=3, translate_y=-2, center_x=0.3)
    at_60, at_30 = per_frame(move, 60), per_frame(move, 30)
    assert np.isclose(at_60.zoom**2, at_30.zoom)
    assert np.isclose(2 * at_60.rotate, at_30.rotate)
    assert np.isclose(2 * at_60.translate_x, at_30.translate_x)
    assert np.isclose(2 * at_60.translate_y, at_30.translate_y)
    # Zoom and rotation about one centre compose exactly into the 30 fps matrix.
    turn = CameraMove(zoom=1.05, rotate=12, center_x=0.3, center_y=0.6)
    twice = _compose(*[camera_matrix(per_frame(turn, 60), 640, 360)] * 2)
    assert np.allclose(twice, camera_matrix(per_frame(turn, 30), 640, 360), atol=1e-9)
    # The peer formula zoom * 30 / fps would zoom *out* at 60 fps; ours keeps zooming in.
    assert per_frame(CameraMove(zoom=1.04), 60).zoom > 1


def test_zoom_out_leaves_no_black_border():
    grey = np.full((48, 64, 3), 0.5, dtype=np.float32)
    out = move_frame(grey, CameraMove(zoom=0.8, rotate=10), fps=1)
    assert np.allclose(out, 0.5, atol=1e-5)


@pytest.mark.parametrize("interpolation", ["lanczos", "cubic", "linear"])
def test_dtype_and_range_are_kept(interpolation):
    rng = np.random.default_rng(1)
    move = CameraMove(zoom=1.3, rotate=20, translate_x=5)
    image = (rng.random((32, 48, 3)) > 0.5).astype(np.float32)  # hard edges make Lanczos ring
    out = move_frame(image, move, fps=2, interpolation=interpolation)
    assert out.dtype == np.float32 and out.shape == image.shape
    assert out.min() >= 0.0 and out.max() <= 1.0
    frame = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    out = move_frame(frame, move, fps=2, interpolation=interpolation)
    assert out.dtype == np.uint8 and out.shape == frame.shape


def test_bad_settings_raise_user_error():
    for zoom in (0.0, -1.0, float("nan")):
        with pytest.raises(UserError, match="zoom"):
            CameraMove(zoom=zoom)
    with pytest.raises(UserError, match="fps"):
        per_frame(CameraMove(), 0)
    with pytest.raises(UserError, match="lanczos"):
        apply_camera(np.zeros((4, 4, 3), np.float32), np.eye(2, 3), interpolation="nearest")
