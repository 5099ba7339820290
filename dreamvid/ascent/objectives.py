"""Objectives: what the ascent makes "fire harder". Each maps layer activations to a scalar.

Objectives add and scale (`layer_l2("a") + 0.5 * layer_l2("b")`), in the manner of lucent.
"""

from __future__ import annotations

from typing import Callable

import torch

Activations = dict[str, torch.Tensor]


class Objective:
    """A named callable `activations -> scalar tensor` that adds and scales."""

    def __init__(self, function: Callable[[Activations], torch.Tensor], layers: tuple[str, ...]):
        self.function = function
        self.layers = layers  # the layers it reads, so the model can hook exactly these

    def __call__(self, activations: Activations) -> torch.Tensor:
        return self.function(activations)

    def __add__(self, other: "Objective") -> "Objective":
        return Objective(lambda acts: self(acts) + other(acts), tuple(dict.fromkeys(self.layers + other.layers)))

    def __mul__(self, weight: float) -> "Objective":
        return Objective(lambda acts: weight * self(acts), self.layers)

    __rmul__ = __mul__


def layer_l2(layer: str) -> Objective:
    """The classic DeepDream objective: mean squared activation (its gradient is the activation)."""
    return Objective(lambda acts: acts[layer].float().pow(2).mean(), (layer,))


def channel_mean(layer: str, channels: list[int]) -> Objective:
    """Make chosen feature channels fire harder (feature visualisation of single units)."""
    return Objective(lambda acts: acts[layer][:, channels].float().mean(), (layer,))


def guide_features(activation: torch.Tensor, max_positions: int = 1024) -> torch.Tensor:
    """A guide image's features as a C x M matrix, subsampled to at most `max_positions` columns."""
    features = activation.detach().float()[0].flatten(1)
    if features.shape[1] > max_positions:
        stride = -(-features.shape[1] // max_positions)
        features = features[:, ::stride]
    return features


def guided(layer: str, guide: torch.Tensor) -> Objective:
    """Each position grows toward the guide feature it already resembles most (the 2015 notebook)."""

    def objective(acts: Activations) -> torch.Tensor:
        features = acts[layer].float()[0].flatten(1)  # C x N
        guide_on_device = guide.to(features.device)
        best = (features.t() @ guide_on_device).argmax(dim=1)  # for each position, the closest guide column
        return (features * guide_on_device[:, best]).sum(dim=0).mean()

    return Objective(objective, (layer,))


def weighted_sum(terms: list[tuple[float, Objective]]) -> Objective:
    """weight_1 x objective_1 + ...; terms with weight 0 are left out (their layers cost nothing)."""
    kept = [weight * objective for weight, objective in terms if weight != 0]
    if not kept:  # every weight is 0 at this frame: a flat objective, the image stays as it is
        layers = terms[0][1].layers if terms else ()
        return Objective(lambda acts: sum(acts[layer].sum() * 0.0 for layer in layers), layers)
    total = kept[0]
    for term in kept[1:]:
        total = total + term
    return total


def weighted_layers(weights: dict[str, float]) -> Objective:
    """The sum of weight x L2 over several layers."""
    return weighted_sum([(weight, layer_l2(layer)) for layer, weight in weights.items()])
