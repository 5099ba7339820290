"""The model registry: networks by name, their input normalisation and their dreamable layers.

Nothing here imports torch: listing models and layers (and the settings that name them) stays
instant; the architectures are built only when a render asks for one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from dreamvid.errors import UserError, did_you_mean

if TYPE_CHECKING:
    from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# GoogLeNet and Inception v3 were trained on inputs scaled to [-1, 1] (torchvision's
# transform_input converts to that); we normalise to it directly and keep transform_input off.
HALF_MEAN = (0.5, 0.5, 0.5)
HALF_STD = (0.5, 0.5, 0.5)

# Presets name layers by what they dream, so that every preset works with every model; each model maps
# the roles to its own layers (Lite0's as measured in docs/DESIGN.md, "Still dream"; the others' from
# the same shallow-to-deep progression of their published DeepDream galleries).
ROLES = {
    "textures": "fine lines and hatching (a low layer)",
    "ornaments": "swirls, scales and ornaments (the middle)",
    "eyes": "eyes and dog faces (the classic look; every model's default)",
    "deep": "whole creatures and objects, larger and weaker (a deep layer)",
}


@dataclass(frozen=True)
class ModelSpec:
    """Everything dreamvid needs to know about one network."""

    name: str
    description: str
    build: Callable[[], "nn.Module"]  # the architecture, untrained
    layers: dict[str, str]  # readable layer name -> module path inside the network
    default_layer: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    torchvision_weights: str = ""  # torchvision weights enum name, e.g. "GoogLeNet_Weights"
    roles: dict[str, str] = field(default_factory=dict)  # role (see ROLES) -> this model's layer for it
    weights_url: str = ""  # where those weights download from, for a network written out here (no torchvision)


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


def roles(textures: str, ornaments: str, eyes: str, deep: str) -> dict[str, str]:
    return dict(zip(ROLES, (textures, ornaments, eyes, deep)))


def identity_layers(names: list[str]) -> dict[str, str]:
    return {name: name for name in names}


def build_torchvision(name: str, **kwargs) -> Callable[[], "nn.Module"]:
    def build() -> "nn.Module":
        import torchvision

        return torchvision.models.get_model(name, weights=None, **kwargs)

    return build


def build_googlenet() -> "nn.Module":
    from dreamvid.nets.googlenet import GoogLeNet

    return GoogLeNet()


def build_efficientnet_lite0() -> "nn.Module":
    from dreamvid.nets.efficientnet_lite import EfficientNetLite0

    return EfficientNetLite0()


GOOGLENET_LAYERS = ["inception3a", "inception3b", "inception4a", "inception4b", "inception4c",
                    "inception4d", "inception4e", "inception5a", "inception5b"]
INCEPTION_V3_LAYERS = ["Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c",
                       "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"]

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("efficientnet_lite0", "EfficientNet-Lite0, embedded (weights install with pip)",
                  build_efficientnet_lite0, efficientnet_lite0_layers(), "blocks.4", IMAGENET_MEAN, IMAGENET_STD,
                  roles=roles("blocks.2", "blocks.3", "blocks.4", "blocks.5")),
        ModelSpec("googlenet", "GoogLeNet / Inception v1, the classic 2015 DeepDream network",
                  build_googlenet, identity_layers(GOOGLENET_LAYERS), "inception4c", HALF_MEAN, HALF_STD,
                  "GoogLeNet_Weights", roles("inception3b", "inception4a", "inception4c", "inception4e"),
                  weights_url="https://download.pytorch.org/models/googlenet-1378be20.pth"),
        ModelSpec("vgg16", "VGG-16: dense painterly textures",
                  build_torchvision("vgg16"), vgg_layers((2, 2, 3, 3, 3)), "relu4_3",
                  IMAGENET_MEAN, IMAGENET_STD, "VGG16_Weights", roles("relu3_3", "relu4_1", "relu4_3", "relu5_3")),
        ModelSpec("vgg19", "VGG-19: like VGG-16, one more conv per deep block",
                  build_torchvision("vgg19"), vgg_layers((2, 2, 4, 4, 4)), "relu4_4",
                  IMAGENET_MEAN, IMAGENET_STD, "VGG19_Weights", roles("relu3_4", "relu4_2", "relu4_4", "relu5_4")),
        ModelSpec("resnet50", "ResNet-50: bold, blocky animal parts",
                  build_torchvision("resnet50"), resnet50_layers(), "layer3",
                  IMAGENET_MEAN, IMAGENET_STD, "ResNet50_Weights", roles("layer2", "layer3.1", "layer3", "layer4.0")),
        ModelSpec("inception_v3", "Inception v3: the Keras DeepDream example's network",
                  build_torchvision("inception_v3", aux_logits=False, transform_input=False, init_weights=False),
                  identity_layers(INCEPTION_V3_LAYERS), "Mixed_6b", HALF_MEAN, HALF_STD, "Inception_V3_Weights",
                  roles("Mixed_5b", "Mixed_5d", "Mixed_6b", "Mixed_6e")),
    )
}
DEFAULT_MODEL = "efficientnet_lite0"


def get_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise UserError(f"unknown model {name!r}{did_you_mean(name, MODELS)}; choose one of: {', '.join(MODELS)}")
    return MODELS[name]


def check_layers(spec: ModelSpec, layers: list[str]) -> None:
    for layer in layers:
        if layer not in spec.layers:
            near = did_you_mean(layer, [*spec.roles, *spec.layers])
            raise UserError(f"model {spec.name} has no layer {layer!r}{near}; name a role ({', '.join(spec.roles)}) or "
                            f"one of its layers: {', '.join(spec.layers)} (see `dreamvid layers --model {spec.name}`)")


def model_layers(spec: ModelSpec, weights: dict[str, object]) -> dict[str, object]:
    """Layer weights with each role replaced by the model's layer for it (explicit names stay)."""
    resolved: dict[str, object] = {}
    for name, weight in weights.items():
        layer = spec.roles.get(name, name)
        check_layers(spec, [layer])
        if layer in resolved:
            raise UserError(f"layers: {name!r} is {spec.name}'s {layer}, named twice; give it one weight")
        resolved[layer] = weight
    return resolved


def layer_lines(model: str) -> list[str]:
    """`dreamvid layers`: the model's description, then one line per dreamable layer."""
    spec = get_spec(model)
    by_layer = {layer: role for role, layer in spec.roles.items()}
    return [f"{spec.name}: {spec.description}"] + [
        f"  {name}{'   (default)' if name == spec.default_layer else ''}"
        + (f"   role: {by_layer[name]}" if name in by_layer else "") for name in spec.layers]
