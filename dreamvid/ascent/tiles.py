"""Tiled gradients: an octave larger than the tile size is differentiated one tile at a time.

Memory is bounded by one tile's forward and backward pass, whatever the image size: a tile holds at most
`tile` x `tile` px, in whatever shape feeds the network the fewest pixels in all (a 1920 x 1080 octave under
a 1024 px tile is three 1080 x 736 tiles, not four 1024 px squares that overlap by nearly half). Each tile
is fed to the network with a margin of overlap and only its inner part is kept, so the zero
padding at the tile's cut edges never reaches the kept gradient. Tile starts sit on a grid of
`ALIGN` px, a multiple of the networks' strides, so a tile samples the same feature grid as the
whole image would and the tiled gradient equals the untiled one up to the effects of the margin.

The objectives are means over feature positions, so each tile's objective is weighted by its
share of the image's area: the sum of the tiles' gradients is then the gradient of the whole
image's mean (exact up to the rounding of the feature grid at the image's own edges). Callers
normalise the assembled gradient once, over the whole image, so every tile takes the same step.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import torch

MARGIN = 64  # px of context around each kept region; the gradient's effective reach at blocks.4
ALIGN = 32  # tile starts are multiples of this: the deepest stride of the registry's networks

# (crop, weight) -> d(weight x objective)/d crop: the gradient of one tile, same shape as the crop
CropGradient = Callable[[torch.Tensor, float], torch.Tensor]


@dataclass(frozen=True)
class Span:
    """One tile along one axis: the crop fed to the network and the part of its gradient kept."""

    start: int
    stop: int
    keep_start: int
    keep_stop: int


def default_margin(tile: int) -> int:
    """MARGIN, or a quarter of the tile for small tiles, so the kept part is at least half the tile."""
    return min(MARGIN, tile // 4)


def spans(length: int, tile: int, margin: int, align: int = ALIGN) -> list[Span]:
    """Cover 0..length with crops of at most `tile` px whose kept parts tile the axis exactly."""
    if length <= tile:
        return [Span(0, length, 0, length)]
    longest = (tile - 2 * margin) // align  # longest distance between crop starts, in grid steps
    if longest <= 0:
        raise ValueError(f"tile {tile} px is too small for a margin of {margin} px on a {align} px grid")
    last = -(-(length - tile) // align)  # the last crop ends at the image's edge
    count = -(-last // longest)  # the fewest gaps; spreading them evenly widens every overlap
    starts = [last * i // count * align for i in range(count + 1)]
    stops = [min(start + tile, length) for start in starts]
    # cut each overlap in its middle: both neighbours keep at least `margin` px away from their cut edges
    cuts = [0] + [(next_start + stop) // 2 for next_start, stop in zip(starts[1:], stops)] + [length]
    return [Span(start, stop, cuts[i], cuts[i + 1]) for i, (start, stop) in enumerate(zip(starts, stops))]


def tiles(height: int, width: int, tile: int, margin: int | None = None) -> list[tuple[Span, Span]]:
    """(rows, columns) spans of every tile of a height x width image: tiles of at most tile x tile px, laid
    out to feed the network the fewest pixels (then the fewest tiles)."""
    return layout(height, width, tile, default_margin(tile) if margin is None else margin)


@lru_cache(maxsize=64)  # searched once per octave size: up to ~50 ms for a 4K octave
def layout(height: int, width: int, tile: int, margin: int) -> list[tuple[Span, Span]]:
    if height * width <= tile * tile:
        return [(Span(0, height, 0, height), Span(0, width, 0, width))]
    layouts = [(rows, columns) for rows in axis_layouts(height, margin) for columns in axis_layouts(width, margin)
               if crop_length(rows) * crop_length(columns) <= tile * tile]
    rows, columns = min(layouts, key=lambda pair: (fed_length(pair[0]) * fed_length(pair[1]),
                                                   len(pair[0]) * len(pair[1])))
    return [(row, column) for row in rows for column in columns]


def axis_layouts(length: int, margin: int, align: int = ALIGN) -> list[list[Span]]:
    """For each count of crops along an axis, the layout with the shortest crops (the whole axis is one)."""
    shortest: dict[int, list[Span]] = {1: spans(length, length, margin)}
    for side in range(2 * margin + align, length, align):
        layout = spans(length, side, margin)
        shortest.setdefault(len(layout), layout)
    return list(shortest.values())


def crop_length(layout: list[Span]) -> int:
    return max(span.stop - span.start for span in layout)


def fed_length(layout: list[Span]) -> int:
    return sum(span.stop - span.start for span in layout)


def tiled_gradient(image: torch.Tensor, tile: int, crop_gradient: CropGradient,
                   margin: int | None = None) -> torch.Tensor:
    """The gradient of `image` [1, C, H, W], assembled from the kept parts of its tiles' gradients."""
    height, width = image.shape[-2:]
    gradient = torch.empty_like(image)
    for rows, columns in tiles(height, width, tile, margin):
        crop = image[..., rows.start:rows.stop, columns.start:columns.stop]
        weight = crop.shape[-2] * crop.shape[-1] / (height * width)
        crop_grad = crop_gradient(crop, weight)
        keep_rows = slice(rows.keep_start - rows.start, rows.keep_stop - rows.start)
        keep_columns = slice(columns.keep_start - columns.start, columns.keep_stop - columns.start)
        gradient[..., rows.keep_start:rows.keep_stop, columns.keep_start:columns.keep_stop] = \
            crop_grad[..., keep_rows, keep_columns]
    return gradient
