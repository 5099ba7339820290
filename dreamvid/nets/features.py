"""A network made ready for dreaming: `FeatureNet` normalises the image, reads the requested
layers through forward hooks and stops the forward pass right after the deepest one, so nothing
past the target layer is ever computed. One network can serve many layer sets: its hooks stay on
every layer it was built with, and each forward reads the ones asked for (`LayerReader`)."""

from __future__ import annotations

import torch
from torch import nn

from dreamvid.nets.registry import check_layers, get_spec
from dreamvid.nets.weights import load_network


class _StopForward(Exception):
    """Raised by the last layer hook: everything after the deepest requested layer is skipped."""


class FeatureNet(nn.Module):
    """A frozen network that maps an image in [0, 1] to the activations of the requested layers."""

    def __init__(self, network: nn.Module, layer_paths: dict[str, str], mean, std, early_stop: bool = True):
        super().__init__()
        self.network = network.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
        self.layer_names = list(layer_paths)  # the layers a forward reads unless told others
        self.layer_paths = dict(layer_paths)  # every hooked layer
        self._reading: frozenset[str] = frozenset(self.layer_names)
        self.channels_last = False  # set by nets.prepare.prepare_network where NHWC convolutions are faster
        self.early_stop = early_stop
        self._captured: dict[str, torch.Tensor] = {}
        modules = dict(network.named_modules())
        for name, path in layer_paths.items():
            modules[path].register_forward_hook(self._capture_hook(name))
        self.eval()  # batch norm must use its running statistics: dreaming never trains

    def _capture_hook(self, name: str):
        def hook(module, inputs, output):
            if name not in self._reading:
                return
            self._captured[name] = output
            if self.early_stop and len(self._captured) == len(self._reading):
                raise _StopForward

        return hook

    def forward(self, image: torch.Tensor, layers: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
        """The activations of `layers` (default: `layer_names`), computed no deeper than the deepest."""
        self._reading = frozenset(self.layer_names if layers is None else layers)
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


class LayerReader:
    """A FeatureNet seen through one set of its hooked layers: what an engine dreams with, so that engines for
    different layers share one network (and each forward stops after its own deepest layer)."""

    def __init__(self, net: FeatureNet, layers: list[str]):
        unknown = [layer for layer in layers if layer not in net.layer_paths]
        if unknown:
            raise ValueError(f"layers {unknown} are not hooked in this network")
        self.net, self.layers = net, tuple(layers)

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.net(image, self.layers)


def load_model(name: str, layers: list[str], device: torch.device | str = "cpu",
               weights_path: str | None = None, early_stop: bool = True) -> FeatureNet:
    """Build a model once for a render: network, weights, hooks on `layers`, moved to `device`."""
    spec = get_spec(name)
    check_layers(spec, layers)
    network = load_network(spec, weights_path)
    paths = {layer: spec.layers[layer] for layer in layers}
    return FeatureNet(network, paths, spec.mean, spec.std, early_stop).to(device)
