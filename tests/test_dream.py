import torch

from dreamvid.ascent.dream import DreamParams, blur, dream, make_generator, octave_sizes, smooth_gradient
from dreamvid.ascent.objectives import channel_mean, guide_features, guided, layer_l2, weighted_layers
from dreamvid.media.frames import frame_to_image
from dreamvid.render.dreaming import default_params

FAST = default_params(octaves=2, octave_scale=1.4, iterations=5, step=0.02, jitter=4)


def score(net, image, objective):
    with torch.no_grad():
        return objective(net(image)).item()


def test_octave_sizes_smallest_first_ending_at_full_size():
    assert octave_sizes(300, 451, 3, 1.4) == [(153, 230), (214, 322), (300, 451)]
    assert octave_sizes(100, 100, 1, 1.4) == [(100, 100)]


def test_octaves_below_the_minimum_side_are_dropped():
    sizes = octave_sizes(64, 64, 6, 2.0)
    assert sizes == [(32, 32), (64, 64)]
    assert octave_sizes(20, 20, 3, 2.0) == [(20, 20)]  # the full size is always dreamed


def test_objective_rises_on_a_random_weight_network(tiny_net, small_cat):
    image = frame_to_image(small_cat)
    objective = layer_l2("top")
    dreamed = dream(tiny_net, image, objective, FAST, make_generator(0))
    assert score(tiny_net, dreamed, objective) > 1.2 * score(tiny_net, image, objective)


def test_objective_rises_with_the_embedded_model(lite0_blocks4, small_cat):
    image = frame_to_image(small_cat)
    objective = layer_l2("blocks.4")
    dreamed = dream(lite0_blocks4, image, objective, FAST, make_generator(0))
    assert score(lite0_blocks4, dreamed, objective) > 1.5 * score(lite0_blocks4, image, objective)


def test_size_and_range_are_kept(tiny_net, small_cat):
    image = frame_to_image(small_cat)
    params = default_params(octaves=3, iterations=3, step=0.5, jitter=8)
    dreamed = dream(tiny_net, image, layer_l2("mid"), params, make_generator(0))
    assert dreamed.shape == image.shape
    assert dreamed.min() >= 0.0 and dreamed.max() <= 1.0
    assert (dreamed - image).abs().mean() > 0.01


def test_same_seed_same_result_other_seed_other_result(tiny_net, small_cat):
    image = frame_to_image(small_cat)
    run = lambda seed: dream(tiny_net, image, layer_l2("top"), FAST, make_generator(seed))  # noqa: E731
    assert torch.equal(run(3), run(3))
    assert not torch.equal(run(3), run(4))


def test_frames_get_different_randomness_from_the_same_seed():
    first = torch.randint(0, 1000, (4,), generator=make_generator(7, 0))
    second = torch.randint(0, 1000, (4,), generator=make_generator(7, 1))
    assert not torch.equal(first, second)


def test_zero_iterations_return_the_input(tiny_net, small_cat):
    image = frame_to_image(small_cat)
    params = default_params(octaves=3, iterations=0)
    assert torch.allclose(dream(tiny_net, image, layer_l2("top"), params, make_generator(0)), image, atol=1e-6)


def test_blur_keeps_constants_and_smooths_noise():
    constant = torch.full((1, 3, 20, 30), 0.25)
    assert torch.allclose(blur(constant, 2.0), constant, atol=1e-6)
    noise = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(0))
    smoothed = smooth_gradient(noise, 1.5)
    assert smoothed.shape == noise.shape and smoothed.std() < 0.5 * noise.std()


def test_smoothing_gives_a_smoother_dream(tiny_net, small_cat):
    image = frame_to_image(small_cat)
    sharp = dream(tiny_net, image, layer_l2("top"), FAST, make_generator(0)) - image
    soft = dream(tiny_net, image, layer_l2("top"), DreamParams(**{**FAST.__dict__, "smooth": 2.0}),
                 make_generator(0)) - image

    def roughness(residual):
        return (residual[..., 1:] - residual[..., :-1]).abs().mean() / residual.abs().mean()

    assert roughness(soft) < roughness(sharp)


def test_channel_objective_rises(tiny_net, small_cat):
    image = frame_to_image(small_cat)
    objective = channel_mean("top", [1, 5])
    dreamed = dream(tiny_net, image, objective, FAST, make_generator(0))
    assert score(tiny_net, dreamed, objective) > score(tiny_net, image, objective) + 0.01


def test_guided_objective_rises(tiny_net, small_cat):
    image = frame_to_image(small_cat)
    guide_image = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        guide = guide_features(tiny_net(guide_image)["top"])
    objective = guided("top", guide)
    dreamed = dream(tiny_net, image, objective, FAST, make_generator(0))
    assert score(tiny_net, dreamed, objective) > score(tiny_net, image, objective)


def test_objectives_add_and_scale(tiny_net, small_cat):
    activations = tiny_net(frame_to_image(small_cat))
    combined = layer_l2("mid") + 0.5 * layer_l2("top")
    expected = layer_l2("mid")(activations) + 0.5 * layer_l2("top")(activations)
    assert torch.allclose(combined(activations), expected)
    assert set(combined.layers) == {"mid", "top"}
    assert weighted_layers({"mid": 0.0})(activations).item() == 0.0
