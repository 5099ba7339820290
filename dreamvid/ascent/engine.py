"""The `Dreamer`: one model built once per render, and the settings turned into a dream per frame."""

from __future__ import annotations

import torch

from dreamvid.ascent import objectives as objectives
from dreamvid.ascent.dream import Anchor, DreamParams, dream, make_generator
from dreamvid.errors import UserError
from dreamvid.media.frames import frame_to_image
from dreamvid.media.pictures import load_picture, resize_frame
from dreamvid.nets.device import auto_tile, autocast_dtype, unsupported_op_error
from dreamvid.nets.features import FeatureNet, load_model
from dreamvid.nets.prepare import prepare_network
from dreamvid.schedule import parse_schedule
from dreamvid.settings import Resolved

GUIDE_SIDE = 320  # guide features are pooled from a picture this size: enough for the layers we use


def parse_channels(text: str) -> list[int]:
    try:
        channels = [int(part) for part in text.replace(",", " ").split()]
    except ValueError:
        raise UserError(f"channels (--channels) must be whole numbers separated by commas, got {text!r}") from None
    if any(channel < 0 for channel in channels):
        raise UserError(f"channels (--channels) must be >= 0, got {text!r}")
    return channels


class Dreamer:
    """Holds the network and the objective's fixed parts; dreams one image per call."""

    def __init__(self, settings: Resolved, device: torch.device, net: FeatureNet | None = None,
                 baseline: bool = False):
        """`baseline`: the straightforward version benchmarks compare with (whole network, fp32,
        no BatchNorm folding, default memory layout)."""
        self.settings = settings
        self.device = device
        self.layers = list(settings["layers"])
        self.net = net or load_model(settings["model"], self.layers, device, settings["weights"] or None,
                                     early_stop=not baseline)
        self.autocast = None if baseline else autocast_dtype(device, settings["precision"])
        if not baseline:
            prepare_network(self.net, device, settings["compile"], autocast_to=self.autocast)
        self.channels = self._checked_channels(parse_channels(settings["channels"]))
        self.guides = self._guide_features(settings["guide"]) if settings["guide"] else {}
        self.weight_schedules = {layer: parse_schedule(weight, f"layers.{layer}")
                                 for layer, weight in settings["layers"].items()}

    def _checked_channels(self, channels: list[int]) -> list[int]:
        if not channels:
            return []
        probe = self.net(torch.zeros(1, 3, 64, 64, device=self.device))[self.layers[0]]
        if max(channels) >= probe.shape[1]:
            raise UserError(f"layer {self.layers[0]} has {probe.shape[1]} channels; got channel {max(channels)}")
        return channels

    def _guide_features(self, path: str) -> dict[str, torch.Tensor]:
        guide = frame_to_image(resize_frame(load_picture(path), GUIDE_SIDE), self.device)
        with torch.no_grad():
            activations = self.net(guide)
        return {layer: objectives.guide_features(activations[layer]) for layer in self.layers}

    def layer_weights(self, frame: int) -> dict[str, float]:
        fps = float(self.settings.fps)
        audio = self.settings.audio_at(frame)
        return {layer: schedule.at(frame, fps, audio) for layer, schedule in self.weight_schedules.items()}

    def layer_term(self, layer: str) -> objectives.Objective:
        if layer in self.guides:
            return objectives.guided(layer, self.guides[layer])
        if self.channels and layer == self.layers[0]:
            return objectives.channel_mean(layer, self.channels)
        return objectives.layer_l2(layer)

    def objective(self, frame: int = 0) -> objectives.Objective:
        weights = self.layer_weights(frame)
        return objectives.weighted_sum([(weight, self.layer_term(layer)) for layer, weight in weights.items()])

    def params(self, frame: int = 0, iterations: int | None = None, octaves: int | None = None,
               step_scale: float = 1.0) -> DreamParams:
        """The dream's knobs at `frame`; `step_scale` multiplies the step (a zoom's cadence, render/cadence.py)."""
        at = self.settings.at
        return DreamParams(
            octaves=self.settings["octaves"] if octaves is None else octaves,
            octave_scale=at("octave_scale", frame),
            iterations=at("iterations", frame) if iterations is None else iterations,
            step=at("step", frame) * step_scale,
            jitter=at("jitter", frame),
            smooth=at("smooth", frame),
            tile=auto_tile(self.device, self.settings["tile"]),
            autocast=self.autocast,
        )

    def dream(self, image: torch.Tensor, frame: int = 0, iterations: int | None = None, on_step=None,
              octaves: int | None = None, step_scale: float = 1.0, anchor: Anchor | None = None) -> torch.Tensor:
        """Dream one image with the settings of `frame` and randomness derived from (seed, frame);
        `anchor`: a clip's temporal term (ascent.dream.Anchor)."""
        generator = make_generator(self.settings["seed"], frame)
        params = self.params(frame, iterations, octaves, step_scale)
        try:
            return dream(self.net, image, self.objective(frame), params, generator, on_step, anchor)
        except NotImplementedError as error:  # an op the backend lacks (MPS lacks some): one line, not a traceback
            raise unsupported_op_error(self.device, error) from None
