"""A render's settings turned into a dream per frame: the knobs and layer weights at frame t, and
randomness derived from (seed, frame), over an `Engine` built once per render (or given by the API)."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from dreamvid.ascent.dream import Anchor, DreamParams, StepProgress, make_generator
from dreamvid.ascent.engine import Engine
from dreamvid.errors import UserError
from dreamvid.media.frames import mask_to_image
from dreamvid.media.pictures import load_picture, resize_frame
from dreamvid.nets.device import auto_tile, autocast_dtype, pick_device
from dreamvid.nets.features import FeatureNet, LayerReader, load_model
from dreamvid.nets.prepare import prepare_network
from dreamvid.schedule import parse_schedule
from dreamvid.settings import Resolved, defaults

GUIDE_SIDE = 320  # guide features are pooled from a picture this size: enough for the layers we use
# The settings a network is built from: a render given a Dreamer's network must agree with it on these. The
# layers, channels and guide are the engine's, made per render over that network.
NETWORK_SETTINGS = ("model", "weights", "device", "precision", "compile")


def parse_channels(text: str) -> list[int]:
    try:
        channels = [int(part) for part in text.replace(",", " ").split()]
    except ValueError:
        raise UserError(f"channels (--channels) must be whole numbers separated by commas, got {text!r}") from None
    if any(channel < 0 for channel in channels):
        raise UserError(f"channels (--channels) must be >= 0, got {text!r}")
    return channels


def build_network(settings: Resolved, layers: list[str], baseline: bool = False) -> FeatureNet:
    """The settings' model with hooks on `layers`, on their device, readied for fast ascent; `baseline`: the
    straightforward version benchmarks compare with (whole network, fp32, no BatchNorm folding,
    default memory layout)."""
    device = pick_device(settings["device"])
    net = load_model(settings["model"], layers, device, settings["weights"] or None, early_stop=not baseline)
    if not baseline:
        prepare_network(net, device, settings["compile"], autocast_to=autocast_dtype(device, settings["precision"]))
    return net


def build_engine(settings: Resolved, baseline: bool = False, net: FeatureNet | None = None) -> Engine:
    """The settings' layers, channels and guide over `net` (a network hooked on those layers at least:
    a Dreamer's, or a test's), or over one built now."""
    device = pick_device(settings["device"])
    layers = list(settings["layers"])
    autocast = None if baseline else autocast_dtype(device, settings["precision"])
    if net is None:
        net = build_network(settings, layers, baseline)
    elif not baseline:
        prepare_network(net, device, settings["compile"], autocast_to=autocast)
    reader = net if layers == net.layer_names else LayerReader(net, layers)
    guide = settings["guide"]
    guide = resize_frame(load_picture(guide), GUIDE_SIDE, f"guide {guide}") if guide else None
    return Engine(reader, device, layers, parse_channels(settings["channels"]), guide, autocast)


def network_mismatch(network_settings: dict, settings: dict) -> str:
    """'' when a render with `settings` can dream over a network built with `network_settings`, else what differs."""
    for name in NETWORK_SETTINGS:
        if network_settings[name] != settings[name]:
            return f"{name} {settings[name]!r} (it holds {network_settings[name]!r})"
    return ""


class FrameDreamer:
    """Dreams the frames of one render: frame t with the settings' values at t."""

    def __init__(self, settings: Resolved, engine: Engine):
        self.settings, self.engine = settings, engine
        self.mask_at: Callable[[int], np.ndarray] | None = None  # a loop's mask for frame t, where it has one
        self.weight_schedules = {layer: parse_schedule(weight, f"layers.{layer}")
                                 for layer, weight in settings["layers"].items()}

    @property
    def device(self) -> torch.device:
        return self.engine.device

    def layer_weights(self, frame: int) -> dict[str, float]:
        fps, audio = float(self.settings.fps), self.settings.audio_at(frame)
        return {layer: schedule.at(frame, fps, audio) for layer, schedule in self.weight_schedules.items()}

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
            autocast=self.engine.autocast,
        )

    def dream(self, image: torch.Tensor, frame: int = 0, iterations: int | None = None,
              on_step: Callable[[StepProgress], None] | None = None, octaves: int | None = None,
              step_scale: float = 1.0, anchor: Anchor | None = None, mask: np.ndarray | None = None) -> torch.Tensor:
        """Dream one image with the settings of `frame` and randomness derived from (seed, frame); `mask`
        (float32 H x W, 0..1; default: `mask_at(frame)`, if set): where to dream."""
        params = self.params(frame, iterations, octaves, step_scale)
        generator = make_generator(self.settings["seed"], frame)
        if mask is None and self.mask_at is not None:
            mask = self.mask_at(frame)
        weight = None if mask is None else mask_to_image(mask, self.device)
        return self.engine.dream(image, params, self.layer_weights(frame), generator, on_step, anchor, weight)


def default_params(**changes) -> DreamParams:
    """The knobs of a dream with the settings table's defaults, but for `changes`."""
    values = defaults()
    knobs = {name: values[name] for name in ("octaves", "octave_scale", "iterations", "step", "jitter", "smooth")}
    return DreamParams(**{**knobs, **changes})


def frame_dreamer(settings: Resolved, engine: Engine | None = None, baseline: bool = False) -> FrameDreamer:
    """The render's dreamer over `engine`, or over one built now from the settings."""
    return FrameDreamer(settings, engine or build_engine(settings, baseline))
