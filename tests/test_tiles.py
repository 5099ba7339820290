import pytest
import torch
from torch.nn.functional import cosine_similarity

from dreamvid.ascent import tiles as tiles_module
from dreamvid.ascent.dream import DreamParams, crop_gradient, dream, make_generator
from dreamvid.ascent.objectives import layer_l2
from dreamvid.ascent.tiles import ALIGN, spans, tiled_gradient, tiles
from dreamvid.media.frames import frame_to_image
from dreamvid.media.pictures import resize_frame
from dreamvid.render.dreaming import default_params


def gradients(net, layer, image, tile, margin=None, per_tile_normalised=False):
    """(untiled, tiled) gradients of the L2 objective at `layer`."""
    objective = layer_l2(layer)

    def of_crop(crop, weight):
        gradient = crop_gradient(net, objective, None, crop, weight)
        return gradient / gradient.abs().mean() if per_tile_normalised else gradient

    return crop_gradient(net, objective, None, image), tiled_gradient(image, tile, of_crop, margin)


def border_band(height, width, tile, margin=None, half_width=4):
    """Mask of the pixels within `half_width` of a cut between two tiles' kept parts."""
    band = torch.zeros(height, width, dtype=torch.bool)
    for rows, columns in tiles(height, width, tile, margin):
        if rows.keep_start > 0:
            band[max(0, rows.keep_start - half_width): rows.keep_start + half_width] = True
        if columns.keep_start > 0:
            band[:, max(0, columns.keep_start - half_width): columns.keep_start + half_width] = True
    return band


def band_ratio(energy, band):
    return (energy[band].mean() / energy[~band].mean()).item()


def seam_ratio(tiled, untiled, band):
    """How much brighter (>1) or darker (<1) the border band is in the tiled map than in the untiled one."""
    return band_ratio(tiled, band) / band_ratio(untiled, band)


def high_frequency(image):
    """|Laplacian| per pixel, averaged over channels."""
    padded = torch.nn.functional.pad(image, (1, 1, 1, 1), mode="replicate")
    centre = padded[..., 1:-1, 1:-1]
    neighbours = padded[..., :-2, 1:-1] + padded[..., 2:, 1:-1] + padded[..., 1:-1, :-2] + padded[..., 1:-1, 2:]
    laplacian = 4 * centre - neighbours
    return laplacian.abs().mean(1)[0]


@pytest.fixture(scope="module")
def lite0_gradients(lite0_blocks4, cat_frame):
    """The embedded model's gradients on a 255 x 384 picture, untiled and in 192 px tiles (2 x 3)."""
    image = frame_to_image(resize_frame(cat_frame, 384))
    return image, *gradients(lite0_blocks4, "blocks.4", image, 192)


# ---- the tile layout ---------------------------------------------------------------------------

@pytest.mark.parametrize("tile", [64, 100, 256, 1024])
def test_spans_cover_the_axis_with_bounded_aligned_crops(tile):
    margin = tiles_module.default_margin(tile)
    for length in range(tile + 1, 5 * tile, 37):
        layout = spans(length, tile, margin)
        assert layout[0].start == layout[0].keep_start == 0 and layout[-1].stop == layout[-1].keep_stop == length
        for span in layout:
            assert span.stop - span.start <= tile and span.start % ALIGN == 0
        for left, right in zip(layout, layout[1:]):
            assert left.keep_stop == right.keep_start  # kept parts tile the axis exactly
            assert left.stop - left.keep_stop >= margin and right.keep_start - right.start >= margin


def test_an_octave_within_the_tile_is_one_tile():
    assert spans(1024, 1024, 64) == [tiles_module.Span(0, 1024, 0, 1024)]
    assert len(tiles(1080, 1920, 1448)) == 1  # the CPU's automatic tile takes a 1080p octave whole


@pytest.mark.parametrize("height, width, tile", [(1080, 1920, 1024), (2160, 3840, 1024), (2160, 3840, 1448),
                                                 (600, 5000, 1024), (255, 384, 192)])
def test_tiles_hold_at_most_the_tile_area_and_feed_fewer_pixels_than_square_tiles(height, width, tile):
    layout = tiles(height, width, tile)
    fed = sum((rows.stop - rows.start) * (columns.stop - columns.start) for rows, columns in layout)
    margin = tiles_module.default_margin(tile)
    squares = sum((r.stop - r.start) * (c.stop - c.start) for r in spans(height, tile, margin)
                  for c in spans(width, tile, margin))
    assert all((rows.stop - rows.start) * (columns.stop - columns.start) <= tile * tile for rows, columns in layout)
    assert fed <= squares
    covered = torch.zeros(height, width, dtype=torch.int)
    for rows, columns in layout:
        covered[rows.keep_start:rows.keep_stop, columns.keep_start:columns.keep_stop] += 1
    assert (covered == 1).all()  # the kept parts tile the image exactly


def test_a_1080p_octave_under_a_1024_px_tile_is_three_tiles_not_four_squares():
    layout = tiles(1080, 1920, 1024)
    assert len(layout) == 3 and all(rows.stop - rows.start == 1080 for rows, _ in layout)


def test_a_tile_too_small_for_its_margin_is_refused():
    with pytest.raises(ValueError):
        spans(500, 64, 32)


# ---- agreement with the untiled ascent ------------------------------------------------------------

def test_tiled_gradient_matches_untiled_on_a_random_network(tiny_net, cat_frame):
    image = frame_to_image(resize_frame(cat_frame, 128))  # 85 x 128: 2 x 3 tiles
    untiled, tiled = gradients(tiny_net, "top", image, 64)
    assert cosine_similarity(tiled.flatten(), untiled.flatten(), dim=0) > 0.999
    assert (tiled - untiled).abs().mean() < 0.02 * untiled.abs().mean()


def test_tiled_gradient_matches_untiled_with_the_embedded_model(lite0_gradients):
    image, untiled, tiled = lite0_gradients
    assert cosine_similarity(tiled.flatten(), untiled.flatten(), dim=0) > 0.95
    interior = ~border_band(*image.shape[-2:], 192, half_width=24)
    error = (tiled - untiled).abs().mean(1)[0]
    assert error[interior].mean() < 0.15 * untiled.abs().mean(1)[0][interior].mean()


def test_tiled_dream_matches_untiled(tiny_net, cat_frame):
    image = frame_to_image(resize_frame(cat_frame, 128))
    params = default_params(octaves=2, iterations=5, jitter=4)
    untiled = dream(tiny_net, image, layer_l2("top"), params, make_generator(0))
    tiled = dream(tiny_net, image, layer_l2("top"), DreamParams(**{**params.__dict__, "tile": 64}), make_generator(0))
    assert (tiled - untiled).abs().mean() < 0.05 * (untiled - image).abs().mean()


def test_one_tiled_step_matches_untiled_with_the_embedded_model(lite0_blocks4, cat_frame):
    # Lite0's ascent is chaotic (a 1e-4 change of the input moves later steps' patterns), so whole
    # dreams are compared by what they achieve and single steps pixel by pixel.
    image = frame_to_image(resize_frame(cat_frame, 384))
    params = default_params(octaves=1, iterations=1, jitter=8)
    untiled = dream(lite0_blocks4, image, layer_l2("blocks.4"), params, make_generator(0)) - image
    tiled = dream(lite0_blocks4, image, layer_l2("blocks.4"), DreamParams(**{**params.__dict__, "tile": 192}),
                  make_generator(0)) - image
    assert (tiled - untiled).abs().mean() < 0.25 * untiled.abs().mean()


def test_a_tiled_dream_achieves_what_the_untiled_one_does(lite0_blocks4, cat_frame):
    image = frame_to_image(resize_frame(cat_frame, 256))
    objective = layer_l2("blocks.4")
    params = default_params(octaves=2, iterations=4, jitter=8)
    untiled = dream(lite0_blocks4, image, objective, params, make_generator(0))
    tiled = dream(lite0_blocks4, image, objective, DreamParams(**{**params.__dict__, "tile": 128}), make_generator(0))
    with torch.no_grad():
        start = objective(lite0_blocks4(image))
        gains = [(objective(lite0_blocks4(dreamed)) / start).item() for dreamed in (untiled, tiled)]
    strengths = [(dreamed - image).abs().mean().item() for dreamed in (untiled, tiled)]
    assert gains[0] > 1.5 and abs(gains[1] / gains[0] - 1) < 0.1, gains
    assert abs(strengths[1] / strengths[0] - 1) < 0.1, strengths


# ---- no seams ------------------------------------------------------------------------------------

def test_no_seam_in_the_gradient_along_tile_borders(lite0_gradients):
    image, untiled, tiled = lite0_gradients
    band = border_band(*image.shape[-2:], 192)
    assert 1 / 1.1 < seam_ratio(tiled.abs().mean(1)[0], untiled.abs().mean(1)[0], band) < 1.1


def test_tiles_without_a_margin_would_leave_a_seam(lite0_blocks4, lite0_gradients):
    image, untiled, _ = lite0_gradients  # the check above can fail: zero padding at bare cuts dims the band
    _, bare = gradients(lite0_blocks4, "blocks.4", image, 192, margin=0)
    band = border_band(*image.shape[-2:], 192, margin=0)
    assert seam_ratio(bare.abs().mean(1)[0], untiled.abs().mean(1)[0], band) < 1 / 1.1


def dream_seam_ratio(net, cat_frame):
    """seam_ratio of a dream's residual detail; jitter 0 keeps the borders in place on every step,
    the worst case for a seam to build up."""
    image = frame_to_image(resize_frame(cat_frame, 256))
    params = default_params(octaves=1, iterations=3, jitter=0)
    untiled = dream(net, image, layer_l2("blocks.4"), params, make_generator(0))
    tiled = dream(net, image, layer_l2("blocks.4"), DreamParams(**{**params.__dict__, "tile": 128}), make_generator(0))
    band = border_band(*image.shape[-2:], 128)
    return seam_ratio(high_frequency(tiled - image), high_frequency(untiled - image), band)


def test_no_seam_in_a_dream_with_fixed_tile_borders(lite0_blocks4, cat_frame):
    assert 1 / 1.1 < dream_seam_ratio(lite0_blocks4, cat_frame) < 1.1


def test_a_dream_in_tiles_without_a_margin_would_show_a_seam(lite0_blocks4, cat_frame, monkeypatch):
    monkeypatch.setattr(tiles_module, "MARGIN", 0)
    assert dream_seam_ratio(lite0_blocks4, cat_frame) < 1 / 1.1


def test_every_tile_takes_the_untiled_step(tiny_net, cat_frame):
    # Normalising each tile by its own mean |gradient| (the naive way) gives a flat tile the same
    # step as a busy one: its patterns jump in strength at the border. The global norm does not.
    image = frame_to_image(resize_frame(cat_frame, 128))
    image[..., :, :64] = 0.5  # a flat left half beside the cat
    untiled, tiled = gradients(tiny_net, "top", image, 64)
    _, naive = gradients(tiny_net, "top", image, 64, per_tile_normalised=True)

    def step_ratios(gradient):
        ours, reference = gradient / gradient.abs().mean(), untiled / untiled.abs().mean()
        return [(ours[..., r.keep_start:r.keep_stop, c.keep_start:c.keep_stop].abs().mean()
                 / reference[..., r.keep_start:r.keep_stop, c.keep_start:c.keep_stop].abs().mean()).item()
                for r, c in tiles(*image.shape[-2:], 64)]

    assert all(0.95 < ratio < 1.05 for ratio in step_ratios(tiled))
    assert max(step_ratios(naive)) / min(step_ratios(naive)) > 1.3
