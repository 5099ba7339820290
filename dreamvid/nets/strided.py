"""A stride-2 convolution whose input gradient is computed as four stride-1 phases in one convolution.

The gradient of a strided convolution with respect to its input is a transposed convolution, and
oneDNN's CPU kernels for it are slow where the input has few channels: GoogLeNet's 7x7 stem (3 -> 64
channels, stride 2) took 45 ms of backward against 12 ms of forward at 512 px. Each output-grid phase
(even/odd row, even/odd column) of that gradient is a stride-1 correlation of the output gradient with a
quarter of the kernel; the four phases are one ordinary convolution with 4 x 3 output channels, then
pixel_shuffle interleaves them: 29 ms. The same sums in another order (differences ~1e-5). Where it does
not pay (oneDNN's 3x3 stems and depthwise stride-2 kernels are fast already) it is not used.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

MIN_KERNEL = 5  # the smallest stem kernel this pays for (3x3: 6.7 against 8.6 ms, slower; 7x7: 45 against 29 ms)


def pays_off(conv: nn.Module) -> bool:
    """A dense stride-2 convolution of a picture's few channels with a large, frozen kernel."""
    return (isinstance(conv, nn.Conv2d) and conv.stride == (2, 2) and conv.groups == 1 and conv.dilation == (1, 1)
            and conv.kernel_size[0] == conv.kernel_size[1] >= MIN_KERNEL and conv.in_channels <= 4
            and conv.padding[0] == conv.padding[1] and conv.padding_mode == "zeros"
            and not conv.weight.requires_grad)


def phase_kernel(weight: torch.Tensor) -> torch.Tensor:
    """[out, in, k, k] stride-2 weights -> the [4 in, out, k', k'] kernel (k' = ceil(k / 2)) whose
    convolution of the padded output gradient gives the input gradient's four phases, channel c*4 + phase."""
    out_channels, in_channels, kernel, _ = weight.shape
    half = (kernel + 1) // 2
    even = F.pad(weight, [0, 2 * half - kernel, 0, 2 * half - kernel])
    phases = even.reshape(out_channels, in_channels, half, 2, half, 2).permute(0, 1, 3, 5, 2, 4)
    return phases.reshape(out_channels, in_channels * 4, half, half).flip(-1, -2).transpose(0, 1).contiguous()


class _PhaseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, image, conv: nn.Conv2d, kernel: torch.Tensor):
        ctx.size, ctx.padding, ctx.kernel = image.shape[-2:], conv.padding[0], kernel
        return conv(image)

    @staticmethod
    def backward(ctx, gradient):
        (height, width), padding, kernel = ctx.size, ctx.padding, ctx.kernel
        half = kernel.shape[-1]
        phases = F.conv2d(F.pad(gradient, [half - 1] * 4), kernel)
        rows, columns = (height + 2 * padding + 1) // 2, (width + 2 * padding + 1) // 2
        padded = F.pixel_shuffle(phases[:, :, :rows, :columns], 2)
        return padded[:, :, padding:padding + height, padding:padding + width], None, None


class PhaseGradientConv(nn.Module):
    """`conv` as it is forward; backward, its input gradient by phases (module docstring)."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.conv = conv
        self.register_buffer("kernel", phase_kernel(conv.weight.detach()), persistent=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if not image.requires_grad:
            return self.conv(image)
        return _PhaseGradient.apply(image, self.conv, self.kernel)


def use_phase_gradients(network: nn.Module, hooked: set[str]) -> int:
    """Wrap each convolution where the phases pay (`pays_off`), but those whose paths are `hooked`;
    returns how many."""
    wrapped = 0
    for parent_name, parent in list(network.named_modules()):
        if isinstance(parent, PhaseGradientConv):
            continue  # wrapped already (prepare_network may run again on the same network)
        for name, child in list(parent.named_children()):
            if pays_off(child) and f"{parent_name}.{name}".lstrip(".") not in hooked:
                setattr(parent, name, PhaseGradientConv(child))
                wrapped += 1
    return wrapped
