"""The DeepDream ascent: an octave pyramid with detail re-injection, jitter and normalised steps.

`image` is a float tensor [1, 3, H, W] in 0..1 RGB on the model's device. Randomness comes from
a CPU `torch.Generator`, so a seed gives the same jitter on every device.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
import math
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from dreamvid.ascent.objectives import Objective
from dreamvid.ascent.tiles import tiled_gradient
from dreamvid.media.frames import image_to_frame
from dreamvid.nets.device import autocast, loss_scale
from dreamvid.nets.features import FeatureNet

MIN_OCTAVE_SIDE = 32  # smaller octaves hold no pattern worth growing and only cost time


@dataclass(frozen=True)
class DreamParams:
    """The knobs of one dream. Their defaults, and why, live in the settings table (settings/table.py)."""

    octaves: int  # pyramid levels; each adds coarser, larger patterns
    octave_scale: float  # size ratio between levels
    iterations: int  # ascent steps per octave
    step: float  # step on a 0..1 image, in units of mean |gradient|
    jitter: int  # random roll in px, hides the network's stride grid
    smooth: float = 0.0  # gradient smoothing sigma in px (0 = off); smoother, larger patterns
    tile: int = 0  # octaves with a side above this many px ascend tile by tile (bounded memory; 0 = never)
    autocast: torch.dtype | None = None  # mixed-precision forward passes (CUDA); None = fp32, see nets.device


@dataclass(frozen=True)
class StepProgress:
    """Where a dream stands after one ascent step, for progress bars and live previews."""

    step: int  # 1-based, over all octaves
    total: int
    octave: int  # 0-based, smallest first
    octaves: int
    octave_done: bool  # the last step of its octave
    current: Callable[[], torch.Tensor]  # the dream so far at full size (costly: call it only to show it)

    def image(self) -> np.ndarray:
        """The dream so far as an H x W x 3 uint8 RGB frame at the picture's size."""
        return image_to_frame(self.current())


@dataclass(frozen=True)
class Anchor:
    """A clip's temporal term (docs/DESIGN.md, "Dreaming a clip"): after every step each pixel moves back
    toward `target` (the previous dream carried along the flow) by `pull` x its reliability `weight`."""

    target: torch.Tensor  # [1, 3, H, W] in 0..1
    weight: torch.Tensor  # [1, 1, H, W] in 0..1
    pull: float  # share of the gap closed per step where the flow is fully reliable
    boost: float = 0.0  # unreliable pixels take steps (1 + boost) x longer: new content catches up in fewer steps
    young: torch.Tensor | None = None  # [1, 1, H, W] in 0..1: how far a pixel's dream is from grown (a mover's wake)
    young_boost: float = 0.0  # young pixels take steps (1 + young_boost x young) longer still

    def resized(self, size: tuple[int, int]) -> "Anchor":
        young = None if self.young is None else resize(self.young, size)
        return Anchor(resize(self.target, size), resize(self.weight, size), self.pull, self.boost, young,
                      self.young_boost)

    def step_map(self) -> torch.Tensor | None:
        steps = None if self.boost <= 0 else 1.0 + self.boost * (1.0 - self.weight)
        if self.young is None or self.young_boost <= 0:
            return steps
        return (1.0 if steps is None else steps) + self.young_boost * self.young

    def hold(self, image: torch.Tensor) -> torch.Tensor:
        """The proximal step of (pull / 2) * sum(weight * (image - target)^2), in place."""
        return image.lerp_(self.target, self.weight * self.pull)


def octave_sizes(height: int, width: int, octaves: int, scale: float) -> list[tuple[int, int]]:
    """Pyramid sizes, smallest first, ending at (height, width); tiny levels are dropped."""
    sizes = []
    for level in reversed(range(octaves)):
        size = (round(height / scale**level), round(width / scale**level))
        if min(size) >= MIN_OCTAVE_SIDE or level == 0:
            sizes.append(size)
    return sizes


def resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    shrinking = size[0] < image.shape[-2]
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=shrinking)


def gaussian_kernel(sigma: float, device: torch.device) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, device=device, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / kernel.sum()


def blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with reflected borders (per channel)."""
    kernel = gaussian_kernel(sigma, image.device)
    radius = min(kernel.numel() // 2, image.shape[-1] - 1, image.shape[-2] - 1)
    kernel = kernel[kernel.numel() // 2 - radius: kernel.numel() // 2 + radius + 1]
    channels = image.shape[1]
    padded = F.pad(image, (radius, radius, 0, 0), mode="reflect")
    image = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    padded = F.pad(image, (0, 0, radius, radius), mode="reflect")
    return F.conv2d(padded, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def smooth_gradient(gradient: torch.Tensor, sigma: float) -> torch.Tensor:
    """A cascade of three blurs (sigma x 0.5, 1, 2), averaged: smooths without washing out."""
    return sum(blur(gradient, sigma * factor) for factor in (0.5, 1.0, 2.0)) / 3


def random_shift(jitter: int, generator: torch.Generator) -> tuple[int, int]:
    if jitter <= 0:
        return 0, 0
    dy, dx = torch.randint(-jitter, jitter + 1, (2,), generator=generator).tolist()
    return dy, dx


def crop_gradient(net: FeatureNet, objective: Objective, dtype: torch.dtype | None,
                  crop: torch.Tensor, weight: float = 1.0) -> torch.Tensor:
    """d (weight x objective) / d crop: one forward (mixed precision when asked) and one backward."""
    crop = crop.detach().contiguous().requires_grad_(True)  # one memory layout: fewer torch.compile variants
    with autocast(crop.device, dtype):
        activations = net(crop)
    scale = loss_scale(dtype)
    (gradient,) = torch.autograd.grad(objective(activations) * (weight * scale), crop)
    return gradient if scale == 1.0 else gradient.div_(scale)


def objective_gradient(net: FeatureNet, image: torch.Tensor, objective: Objective, shift: tuple[int, int],
                       tile: int = 0, dtype: torch.dtype | None = None) -> torch.Tensor:
    """d objective / d image, seen through a rolled copy; larger than `tile` px: tile by tile."""
    rolled = torch.roll(image.detach(), shifts=shift, dims=(2, 3))
    gradient_of = partial(crop_gradient, net, objective, dtype)
    if 0 < tile < max(rolled.shape[-2:]):
        gradient = tiled_gradient(rolled, tile, gradient_of)
    else:
        gradient = gradient_of(rolled)
    return torch.roll(gradient, shifts=(-shift[0], -shift[1]), dims=(2, 3))


def ascent_step(net: FeatureNet, image: torch.Tensor, objective: Objective, params: DreamParams,
                generator: torch.Generator, sigma: float, step_map: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
    """One normalised gradient-ascent step, clamped to the valid pixel range.

    The normalisation is over the whole image (or the `mask`'s region), after all tiles: every tile takes
    the same step. Nothing here reads a value back from the device, so CUDA steps queue without a sync.
    """
    shift = random_shift(params.jitter, generator)
    gradient = objective_gradient(net, image, objective, shift, params.tile, params.autocast)
    if sigma > 0:
        gradient = smooth_gradient(gradient, sigma)
    scale = params.step / (mean_over(gradient.abs(), mask) + 1e-8)
    gradient.mul_(scale)
    if step_map is not None:
        gradient.mul_(step_map)
    return gradient.add_(image).clamp_(0.0, 1.0)


def mean_over(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The mean of `values` weighed by `mask`. A masked step is normalised over the region it dreams: over
    the whole image, the region dreamed at 0.70-0.72 x the unmasked strength (measured: half a 128-256 px
    picture, 3 octaves x 10 steps); over the region, at 1.00 x."""
    if mask is None:
        return values.mean()
    return (values * mask).mean() / (mask.mean() + 1e-8)


def dream(net: FeatureNet, image: torch.Tensor, objective: Objective, params: DreamParams,
          generator: torch.Generator, on_step: Callable[[StepProgress], None] | None = None,
          anchor: Anchor | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Dream `image` (returns a new tensor of the same size), octave by octave, keeping the detail;
    with an `anchor`, every step is followed by its temporal hold; with a `mask` ([1, 1, H, W] in 0..1),
    every step and the kept detail are weighed by it (docs/DESIGN.md, "Masks")."""
    base = image.detach()
    sizes = octave_sizes(base.shape[-2], base.shape[-1], params.octaves, params.octave_scale)
    detail = torch.zeros_like(resize(base, sizes[0]))
    for octave, size in enumerate(sizes):
        octave_base = resize(base, size)
        weight = resize(mask, size) if mask is not None else None
        # 1. re-inject the detail dreamed at the coarser level into this level's clean base
        dreamed = (octave_base + masked(resize(detail, size), weight)).clamp_(0.0, 1.0)
        held = anchor.resized(size) if anchor else None
        step_map = masked(held.step_map() if held else None, weight)
        # 2. ascend (and hold what the flow carried reliably near where it was)
        for iteration in range(params.iterations):
            sigma = params.smooth * (0.5 + (iteration + 1) / params.iterations) if params.smooth > 0 else 0.0
            dreamed = ascent_step(net, dreamed, objective, params, generator, sigma, step_map, weight)
            if held:
                dreamed = held.hold(dreamed)
            if on_step:
                on_step(StepProgress(octave * params.iterations + iteration + 1, len(sizes) * params.iterations,
                                     octave, len(sizes), iteration + 1 == params.iterations,
                                     lambda d=dreamed, b=octave_base: with_detail(base, d - b, mask)))
        # 3. keep only what the dream added, so the next level is not re-blurred
        detail = dreamed - octave_base
    return with_detail(base, detail, mask)


def masked(values: torch.Tensor | None, weight: torch.Tensor | None) -> torch.Tensor | None:
    """`values` x `weight` (either may be None: no weighing). Applied to the step and to the detail
    scaled up from a coarser level, whose bilinear resize would otherwise spill over the mask's edge."""
    if weight is None:
        return values
    return weight if values is None else values * weight


def with_detail(base: torch.Tensor, detail: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The base image with a level's dreamed detail scaled up onto it (weighed by `mask`: 0 keeps the base)."""
    return (base + masked(resize(detail, tuple(base.shape[-2:])), mask)).clamp_(0.0, 1.0)


def make_generator(seed: int, frame: int = 0) -> torch.Generator:
    """Per-frame randomness derived from the seed and the frame index (exact resume)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + frame)


def total_steps(height: int, width: int, params: DreamParams) -> int:
    return len(octave_sizes(height, width, params.octaves, params.octave_scale)) * params.iterations
