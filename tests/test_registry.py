import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torchvision

from dreamvid.errors import UserError
from dreamvid.media.frames import frame_to_image
from dreamvid.media.pictures import resize_frame
from dreamvid.nets.features import load_model
from dreamvid.nets.registry import MODELS, get_spec
from dreamvid.nets.weights import load_network

CAT_CLASSES = {281, 282, 283, 284, 285, 287}  # tabby, tiger cat, Persian, Siamese, Egyptian cat, lynx


def test_every_model_names_real_modules_and_a_default_layer():
    for spec in MODELS.values():
        assert spec.default_layer in spec.layers
        with torch.device("meta"):
            network = spec.build()
        modules = dict(network.named_modules())
        missing = [path for path in spec.layers.values() if path not in modules]
        assert not missing, f"{spec.name}: {missing}"


def test_vgg_relu_names_point_at_relus():
    with torch.device("meta"):
        network = get_spec("vgg16").build()
    modules = dict(network.named_modules())
    spec = get_spec("vgg16")
    assert isinstance(modules[spec.layers["relu4_3"]], torch.nn.ReLU)
    assert isinstance(modules[spec.layers["pool5"]], torch.nn.MaxPool2d)
    assert spec.layers["relu1_1"] == "features.1" and spec.layers["relu5_3"] == "features.29"


def test_embedded_weights_classify_the_cat(cat_frame):
    spec = get_spec("efficientnet_lite0")
    network = load_network(spec).eval()
    image = frame_to_image(resize_frame(cat_frame, 224))
    mean, std = torch.tensor(spec.mean).view(1, 3, 1, 1), torch.tensor(spec.std).view(1, 3, 1, 1)
    with torch.no_grad():
        top5 = network((image - mean) / std).topk(5).indices[0].tolist()
    categories = torchvision.models.GoogLeNet_Weights.IMAGENET1K_V1.meta["categories"]
    assert top5[0] in CAT_CLASSES, [categories[i] for i in top5]
    assert categories[285] == "Egyptian cat" and 285 in top5


class CallCounter:
    def __init__(self):
        self.calls = 0

    def __call__(self, module, inputs):
        self.calls += 1


@pytest.mark.parametrize("early_stop, expect_later_calls", [(True, False), (False, True)])
def test_layers_past_the_target_never_run(early_stop, expect_later_calls):
    net = load_model("efficientnet_lite0", ["blocks.2"], "cpu", early_stop=early_stop)
    later = [net.network.blocks[3], net.network.blocks[6], net.network.conv_head, net.network.classifier]
    counters = [CallCounter() for _ in later]
    for module, counter in zip(later, counters):
        module.register_forward_pre_hook(counter)
    activations = net(torch.rand(1, 3, 64, 64))
    assert activations["blocks.2"].shape[1] == 40
    assert all((counter.calls > 0) == expect_later_calls for counter in counters)


def test_several_layers_stop_after_the_deepest():
    net = load_model("efficientnet_lite0", ["blocks.4", "blocks.2"], "cpu")
    counter = CallCounter()
    net.network.blocks[5].register_forward_pre_hook(counter)
    activations = net(torch.rand(1, 3, 64, 64))
    assert set(activations) == {"blocks.2", "blocks.4"} and counter.calls == 0


def test_missing_torchvision_weights_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(UserError) as error:
        load_model("googlenet", ["inception4c"], "cpu")
    message = str(error.value)
    assert "googlenet-1378be20.pth" in message
    assert os.path.join(str(tmp_path), "hub", "checkpoints") in message and "--weights" in message


def test_weights_file_and_hub_cache_are_used(tmp_path, monkeypatch):
    torch.manual_seed(1)
    network = get_spec("googlenet").build()
    path = tmp_path / "my_googlenet.pth"
    torch.save(network.state_dict(), path)
    net = load_model("googlenet", ["inception3a"], "cpu", weights_path=str(path))
    assert torch.equal(net.network.conv1.conv.weight, network.conv1.conv.weight)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / "googlenet-1378be20.pth").write_bytes(path.read_bytes())
    cached = load_model("googlenet", ["inception3a"], "cpu")
    assert torch.equal(cached.network.conv1.conv.weight, network.conv1.conv.weight)


def test_bad_weights_file_is_a_user_error(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_text("not a checkpoint")
    with pytest.raises(UserError, match="cannot read weights"):
        load_model("efficientnet_lite0", ["blocks.4"], "cpu", weights_path=str(bad))
    with pytest.raises(UserError, match="not found"):
        load_model("efficientnet_lite0", ["blocks.4"], "cpu", weights_path=str(tmp_path / "none.pth"))


def test_unknown_model_and_layer_list_the_valid_ones():
    with pytest.raises(UserError, match="efficientnet_lite0, googlenet"):
        load_model("alexnet", ["x"], "cpu")
    with pytest.raises(UserError, match="blocks.4"):
        load_model("efficientnet_lite0", ["inception4c"], "cpu")


def test_feature_net_does_not_train_the_network(lite0_blocks4):
    assert not lite0_blocks4.training
    assert not any(p.requires_grad for p in lite0_blocks4.parameters())
    assert np.isfinite(lite0_blocks4(torch.rand(1, 3, 48, 48))["blocks.4"].sum().item())


def test_googlenet_written_out_is_torchvision_s_network():
    """The same tensors by name and shape, and the same outputs from the same weights."""
    ours = get_spec("googlenet").build().eval()
    theirs = torchvision.models.googlenet(weights=None, aux_logits=False, transform_input=False,
                                          init_weights=True).eval()
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}
    ours.load_state_dict(theirs.state_dict())
    image = torch.rand(1, 3, 97, 131, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(ours(image), theirs(image), atol=1e-5)


def test_googlenet_renders_without_importing_torchvision(tmp_path):
    """Importing torchvision's models costs about 2 s; the classic network needs none of it."""
    torch.manual_seed(2)
    path = tmp_path / "googlenet.pth"
    torch.save(get_spec("googlenet").build().state_dict(), path)
    script = ("import sys; from dreamvid.nets.features import load_model; "
              f"net = load_model('googlenet', ['inception4c'], 'cpu', weights_path={str(path)!r}); "
              "net(__import__('torch').rand(1, 3, 64, 64)); print('torchvision' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
