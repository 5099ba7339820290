"""The engine: one network built once, the objective's fixed parts, and a dream per call.

It takes plain values (the network, layer names, channels, a guide picture, the knobs of each dream);
what a render's settings mean per frame is decided above it (render/dreaming.py).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from dreamvid.ascent import objectives as objectives
from dreamvid.ascent.dream import Anchor, DreamParams, StepProgress, dream
from dreamvid.errors import UserError
from dreamvid.media.frames import frame_to_image
from dreamvid.nets.device import fit_threads, keep_freed_memory, unsupported_op_error
from dreamvid.nets.features import FeatureNet


class Engine:
    """Holds the network and the objective's fixed parts; dreams one image per call."""

    def __init__(self, net: FeatureNet, device: torch.device, layers: list[str], channels: list[int] = (),
                 guide: np.ndarray | None = None, autocast: torch.dtype | None = None):
        """`guide`: an RGB uint8 picture whose features each position grows toward (None: plain L2)."""
        self.net, self.device, self.layers, self.autocast = net, device, list(layers), autocast
        if device.type == "cpu":
            fit_threads()  # no more threads than the cores this process may use: extra ones only wait
            keep_freed_memory()  # each step's activations reuse the last step's memory (no page faults)
        self.channels = self._checked_channels(list(channels))
        self.guides = self._guide_features(guide) if guide is not None else {}

    def _checked_channels(self, channels: list[int]) -> list[int]:
        if not channels:
            return []
        probe = self.net(torch.zeros(1, 3, 64, 64, device=self.device))[self.layers[0]]
        if max(channels) >= probe.shape[1]:
            raise UserError(f"layer {self.layers[0]} has {probe.shape[1]} channels; got channel {max(channels)}")
        return channels

    def _guide_features(self, guide: np.ndarray) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            activations = self.net(frame_to_image(guide, self.device))
        return {layer: objectives.guide_features(activations[layer]) for layer in self.layers}

    def layer_term(self, layer: str) -> objectives.Objective:
        if layer in self.guides:
            return objectives.guided(layer, self.guides[layer])
        if self.channels and layer == self.layers[0]:
            return objectives.channel_mean(layer, self.channels)
        return objectives.layer_l2(layer)

    def objective(self, weights: dict[str, float]) -> objectives.Objective:
        return objectives.weighted_sum([(weight, self.layer_term(layer)) for layer, weight in weights.items()])

    def dream(self, image: torch.Tensor, params: DreamParams, weights: dict[str, float], generator: torch.Generator,
              on_step: Callable[[StepProgress], None] | None = None, anchor: Anchor | None = None,
              mask: torch.Tensor | None = None) -> torch.Tensor:
        """Dream one image with these knobs and layer weights; `anchor`: a clip's temporal term; `mask`:
        [1, 1, H, W] in 0..1, where to dream."""
        try:
            return dream(self.net, image, self.objective(weights), params, generator, on_step, anchor, mask)
        except NotImplementedError as error:  # an op the backend lacks (MPS lacks some): one line, not a traceback
            raise unsupported_op_error(self.device, error) from None
