from conftest import tiny_network
import pytest
import torch
from torch.nn.functional import cosine_similarity

from dreamvid.render import dreaming
from dreamvid.ascent.dream import DreamParams, crop_gradient, dream, make_generator
from dreamvid.render.dreaming import FrameDreamer, build_engine
from dreamvid.ascent.objectives import layer_l2
from dreamvid.errors import UserError
from dreamvid.media.frames import frame_to_image
from dreamvid.media.pictures import resize_frame
from dreamvid.nets.device import auto_tile, autocast, autocast_dtype
from dreamvid.nets.features import FeatureNet
from dreamvid.nets.prepare import CPU_COMPILE_NOTICE, fold_batch_norms, prepare_network
from dreamvid.nets.strided import PhaseGradientConv
from dreamvid.notices import notices_to
from dreamvid.settings import Resolved, merge
from dreamvid.render.dreaming import default_params

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
FAST = default_params(octaves=2, iterations=3, jitter=4)


# ---- precision ---------------------------------------------------------------------------------

@pytest.mark.parametrize("precision", ["auto", "fp32", "fp16", "bf16"])
@pytest.mark.parametrize("bf16", [True, False])
def test_the_cpu_never_autocasts(precision, bf16):
    assert autocast_dtype(CPU, precision, bf16_supported=bf16) is None


@pytest.mark.parametrize("precision, bf16, expected", [
    ("auto", True, torch.bfloat16),
    ("auto", False, torch.float16),
    ("fp32", True, None),
    ("fp32", False, None),
    ("fp16", True, torch.float16),
    ("fp16", False, torch.float16),
    ("bf16", True, torch.bfloat16),
])
def test_cuda_precision(precision, bf16, expected):
    assert autocast_dtype(CUDA, precision, bf16_supported=bf16) == expected


def test_bf16_on_a_gpu_without_it_is_a_user_error():
    with pytest.raises(UserError, match="bfloat16"):
        autocast_dtype(CUDA, "bf16", bf16_supported=False)


def test_an_unknown_precision_is_a_user_error():
    with pytest.raises(UserError, match="fp32"):
        autocast_dtype(CPU, "fp8")


def test_autocast_none_changes_nothing():
    with autocast(CPU, None):
        assert not torch.is_autocast_enabled("cpu")
    with autocast(CPU, torch.bfloat16):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_mixed_precision_keeps_the_image_and_its_gradient_fp32(tiny_net, small_cat, dtype):
    # CPU autocast stands in for CUDA's: the plumbing is the same, the image never leaves fp32
    image = frame_to_image(small_cat)
    exact = crop_gradient(tiny_net, layer_l2("top"), None, image, 0.5)
    mixed = crop_gradient(tiny_net, layer_l2("top"), dtype, image, 0.5)  # fp16's loss scale is undone
    assert mixed.dtype == torch.float32
    assert cosine_similarity(mixed.flatten(), exact.flatten(), dim=0) > 0.99
    assert 0.95 < mixed.abs().mean() / exact.abs().mean() < 1.05
    dreamed = dream(tiny_net, image, layer_l2("top"), DreamParams(**{**FAST.__dict__, "autocast": dtype}),
                    make_generator(0))
    assert dreamed.dtype == torch.float32


# ---- the network ---------------------------------------------------------------------------------

def test_prepare_network_on_the_cpu_keeps_what_is_dreamed(tiny_net, small_cat):
    image = frame_to_image(small_cat)
    before = dream(tiny_net, image, layer_l2("top"), FAST, make_generator(0))
    benchmark = torch.backends.cudnn.benchmark
    assert prepare_network(tiny_net, CPU, compile=False) is tiny_net
    assert torch.backends.cudnn.benchmark == benchmark  # cuDNN settings are CUDA-only
    assert tiny_net.channels_last
    after = dream(tiny_net, image, layer_l2("top"), FAST, make_generator(0))
    assert torch.allclose(after, before, atol=1e-4)


def network_with_batch_norms() -> torch.nn.Module:
    torch.manual_seed(3)
    network = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, padding=1, bias=False), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
    )
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):  # statistics far from the identity
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.2, 3)
            module.weight.data.uniform_(0.5, 2)
            module.bias.data.uniform_(-1, 1)
    return network.eval()


def test_batch_norms_fold_into_their_convolutions():
    reference = FeatureNet(network_with_batch_norms(), {"out": "5"}, (0.5,) * 3, (0.5,) * 3)
    folded = FeatureNet(network_with_batch_norms(), {"out": "5"}, (0.5,) * 3, (0.5,) * 3)
    assert fold_batch_norms(folded) == 2
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    image = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        assert torch.allclose(folded(image)["out"], reference(image)["out"], atol=1e-5)


def test_a_hooked_batch_norm_is_not_folded():
    net = FeatureNet(network_with_batch_norms(), {"normalised": "1"}, (0.5,) * 3, (0.5,) * 3)
    assert fold_batch_norms(net) == 1  # the second pair only
    assert isinstance(net.network[1], torch.nn.BatchNorm2d)


def test_compiled_network_dreams_the_same_and_still_stops_early(small_cat):
    graphs = []

    def recording_backend(graph_module, example_inputs):
        graphs.append(graph_module)
        return graph_module.forward

    net = FeatureNet(tiny_network(), {"mid": "3"}, (0.5,) * 3, (0.5,) * 3)  # the last conv is never needed
    image = frame_to_image(small_cat)
    expected = dream(net, image, layer_l2("mid"), FAST, make_generator(0))
    prepare_network(net, CPU, compile=True, backend=recording_backend)
    assert graphs, "the probe compiles at once"
    assert torch.allclose(dream(net, image, layer_l2("mid"), FAST, make_generator(0)), expected, atol=1e-6)
    convolutions = [node for node in graphs[0].graph.nodes if "conv" in str(node.target)]
    assert len(convolutions) == 2  # the graph ends at the hooked layer
    compiled = net.forward
    prepare_network(net, CPU, compile=True, backend=recording_backend)
    assert net.forward is compiled  # a second Dreamer on the same net does not wrap it again


def test_a_failing_compiler_is_one_clear_user_error(tiny_net):
    def broken_backend(graph_module, example_inputs):
        raise RuntimeError("no C++ compiler found\nlong traceback follows")

    with pytest.raises(UserError, match="--compile failed on cpu .*no C\\+\\+ compiler found"):
        prepare_network(tiny_net, CPU, compile=True, backend=broken_backend)


# ---- wiring into the Dreamer ---------------------------------------------------------------------

def test_dreamer_takes_tile_precision_and_compile_from_the_settings(lite0_blocks4, monkeypatch):
    calls = []
    monkeypatch.setattr(dreaming, "prepare_network",
                        lambda net, device, compile, **options: calls.append((device, compile, options)))
    settings = Resolved(merge(("test", {"tile": 256, "precision": "bf16", "compile": True})))
    dreamer = FrameDreamer(settings, build_engine(settings, net=lite0_blocks4))
    assert calls == [(CPU, True, {"autocast_to": None})]
    assert dreamer.params().tile == 256 and dreamer.params().autocast is None


@pytest.mark.parametrize("precision", ["auto", "fp16", "bf16"])
def test_precision_settings_do_not_change_a_cpu_dream(lite0_blocks4, cat_frame, precision):
    image = frame_to_image(resize_frame(cat_frame, 64))
    dreamed = {}
    for setting in ("fp32", precision):
        settings = Resolved(merge(("test", {"precision": setting, "octaves": 1, "iterations": 2})))
        dreamed[setting] = FrameDreamer(settings, build_engine(settings, net=lite0_blocks4)).dream(image)
    assert torch.equal(dreamed["fp32"], dreamed[precision])


# ---- on a GPU, when there is one -----------------------------------------------------------------

@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_cuda_ascent_never_waits_for_the_gpu(small_cat):
    net = prepare_network(FeatureNet(tiny_network(), {"top": "5"}, (0.5,) * 3, (0.5,) * 3).to(CUDA), CUDA)
    image = frame_to_image(small_cat, CUDA)
    params = DreamParams(**{**FAST.__dict__, "tile": 64, "autocast": autocast_dtype(CUDA, "auto")})
    run = lambda params: dream(net, image, layer_l2("top"), params, make_generator(0))  # noqa: E731
    exact = run(DreamParams(**{**params.__dict__, "autocast": None}))
    run(params)  # cuDNN benchmark mode times each new shape once, which may wait for the GPU
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        mixed = run(params)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert mixed.dtype == torch.float32
    assert (mixed - exact).abs().mean() < 0.2 * (exact - image).abs().mean()


def test_automatic_tile_size_depends_on_the_device():
    assert auto_tile(CPU, 0) == 1448 and auto_tile(CUDA, 0) == 4096
    assert auto_tile(CPU, 300) == 300 and auto_tile(CUDA, 16384) == 16384


def test_compiling_for_the_cpu_says_its_cost_first(tiny_net):
    said = []
    with notices_to(said.append):
        prepare_network(tiny_net, CPU, compile=True, backend="eager")
    assert said == [CPU_COMPILE_NOTICE]


# ---- a large stride-2 stem's input gradient by phases --------------------------------------------

@pytest.mark.parametrize("kernel, padding, size", [(7, 3, (37, 50)), (7, 3, (40, 31)), (5, 2, (33, 33)), (6, 2, (30, 41))])
def test_the_phase_gradient_is_the_convolutions_input_gradient(kernel, padding, size):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 16, kernel, 2, padding).requires_grad_(False)
    image = torch.rand(1, 3, *size, requires_grad=True)
    reference = conv(image)
    weights = torch.randn_like(reference)
    expected, = torch.autograd.grad((reference * weights).sum(), image)
    phased = PhaseGradientConv(conv)
    output = phased(image)
    got, = torch.autograd.grad((output * weights).sum(), image)
    assert torch.equal(output, reference)
    assert got.shape == expected.shape and torch.allclose(got, expected, atol=1e-5, rtol=1e-4)


def test_only_googlenets_stem_takes_its_gradient_by_phases_on_the_cpu(tmp_path):
    from dreamvid.nets.registry import get_spec

    weights = tmp_path / "googlenet.pt"
    torch.save(get_spec("googlenet").build().state_dict(), weights)
    wrapped = {}
    for model, extra in (("googlenet", {"weights": str(weights)}), ("efficientnet_lite0", {})):
        engine = build_engine(Resolved(merge(("test", {"device": "cpu", "model": model, **extra}))))
        wrapped[model] = [name for name, module in engine.net.named_modules() if isinstance(module, PhaseGradientConv)]
        prepare_network(engine.net, CPU)  # again: nothing is wrapped twice
        assert [name for name, module in engine.net.named_modules()
                if isinstance(module, PhaseGradientConv)] == wrapped[model]
    assert wrapped == {"googlenet": ["network.conv1.conv"], "efficientnet_lite0": []}  # a 3x3 stem does not pay
