"""The one place where pixels change representation.

`frame`: uint8 H x W x 3 RGB numpy (what is read, written and shown); `float frame`: float32
H x W x 3 numpy in 0..1 (what loops and colour work carry, without rounding each frame);
`image`: float tensor [1, 3, H, W] in 0..1 on a device (what the ascent works on). Rounding back
to uint8 is round-half-up everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def frame_to_float(frame: np.ndarray) -> np.ndarray:
    """uint8 -> float32 in 0..1; a float frame is taken to be in 0..1 already."""
    if frame.dtype == np.uint8:
        return frame.astype(np.float32) / 255.0
    return frame.astype(np.float32, copy=False)


def float_to_frame(array: np.ndarray) -> np.ndarray:
    """float 0..1 -> uint8, clipped and rounded half up."""
    return (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def frame_to_image(frame: np.ndarray, device: "torch.device | str" = "cpu") -> "torch.Tensor":
    """uint8 (or float 0..1) H x W x 3 -> float tensor [1, 3, H, W] in 0..1."""
    import torch

    array = np.ascontiguousarray(frame_to_float(frame))
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).to(device)


def image_to_float_frame(image: "torch.Tensor") -> np.ndarray:
    """float tensor [1, 3, H, W] -> float32 H x W x 3 numpy in 0..1 (keeps precision for loops)."""
    return image.detach()[0].permute(1, 2, 0).float().clamp(0, 1).cpu().numpy()


def image_to_frame(image: "torch.Tensor") -> np.ndarray:
    """float tensor [1, 3, H, W] -> uint8 H x W x 3, rounded."""
    return float_to_frame(image_to_float_frame(image))


def mask_to_image(mask: np.ndarray, device: "torch.device | str" = "cpu") -> "torch.Tensor":
    """float32 H x W mask in 0..1 -> float tensor [1, 1, H, W]."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(mask, np.float32))[None, None].to(device)
