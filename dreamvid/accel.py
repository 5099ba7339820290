"""Device-side speed settings: mixed precision, memory format, cuDNN tuning and torch.compile.

None of these change what is dreamed, only how fast: the image and its update stay fp32.
BatchNorm folding and channels-last memory apply on every device; the rest is CUDA-only, except
`compile`.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .errors import UserError
from .models import FeatureNet

PROBE_SIDE = 64  # px of the image that a freshly compiled network is tried on
# The objectives are means over ~1e5-1e6 positions, so fp16 backward values fall to its subnormal
# range (below 6e-5) and lose their precision, then flush to 0. 2**10 lifts them clear without
# overflow even on a tiny 64 px probe (the step divides by mean |gradient|: a scale changes nothing).
FP16_LOSS_SCALE = 1024.0


CPU_TILE = 1024  # keeps a 4K dream under 4 GB of RAM (bench_memory.py: 2.97 GB)
CUDA_TILE = 4096  # a GPU has the memory for a whole 1080p or 4K octave; tiles would only add work


def auto_tile(device: torch.device, tile: int) -> int:
    """The tile side for `device`: the user's, or the automatic one when the setting is 0."""
    return tile or (CUDA_TILE if device.type == "cuda" else CPU_TILE)


def bf16_available(device: torch.device) -> bool:
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def autocast_dtype(device: torch.device, precision: str, bf16_supported: bool | None = None) -> torch.dtype | None:
    """The autocast dtype for the ascent on `device`, or None for plain fp32 (always on the CPU).

    bf16 keeps fp32's range (no overflow in the activations' squares), so auto prefers it;
    GPUs older than Ampere get fp16.
    """
    if precision not in ("auto", "fp32", "fp16", "bf16"):
        raise UserError(f"precision (--precision) must be one of: auto, fp32, fp16, bf16; got {precision!r}")
    if device.type != "cuda" or precision == "fp32":
        return None
    supported = bf16_available(device) if bf16_supported is None else bf16_supported
    if precision == "bf16" and not supported:
        raise UserError("--precision bf16: this GPU has no bfloat16 support (use --precision fp16, fp32 or auto)")
    if precision == "fp16" or not supported:
        return torch.float16
    return torch.bfloat16


def loss_scale(dtype: torch.dtype | None) -> float:
    """What the objective is multiplied by before backward (and the gradient divided by after)."""
    return FP16_LOSS_SCALE if dtype == torch.float16 else 1.0


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Mixed precision for a forward pass; a no-op for dtype None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def prepare_network(net: FeatureNet, device: torch.device, compile: bool = False,
                    backend: str | object = "inductor", autocast_to: torch.dtype | None = None) -> FeatureNet:
    """Ready `net` (in place) for fast ascent on `device`; safe to call again on the same net."""
    device = torch.device(device)
    fold_batch_norms(net)
    # NHWC: Tensor Core convolutions want it, and oneDNN's CPU depthwise convolutions run faster in it
    net.to(memory_format=torch.channels_last)
    net.channels_last = True
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # tile and octave sizes repeat: tune each shape once
    if compile:
        compile_network(net, backend)
        probe_compiled(net, device, autocast_to)
    return net


def conv_bn_pairs(module: nn.Module) -> list[tuple[str, str]]:
    """Children (conv, bn) registered one after the other: in every registry network, each
    BatchNorm directly follows the convolution it normalises (timm's and torchvision's layout)."""
    children = list(module.named_children())
    return [(conv_name, bn_name) for (conv_name, conv), (bn_name, bn) in zip(children, children[1:])
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and conv.out_channels == bn.num_features]


def fold_batch_norms(net: FeatureNet) -> int:
    """Fold each eval-mode BatchNorm into its convolution: the same function, one op fewer each way.

    A dream never trains, so the statistics are constants; on the CPU this is the largest single
    saving (bench_speed.py). Hooked modules are left alone. Returns how many were folded.
    """
    hooked = set(net.layer_paths.values())
    folded = 0
    for parent_name, parent in list(net.network.named_modules()):
        for conv_name, bn_name in conv_bn_pairs(parent):
            paths = {f"{parent_name}.{name}".lstrip(".") for name in (conv_name, bn_name)}
            if paths & hooked:
                continue
            conv, bn = getattr(parent, conv_name), getattr(parent, bn_name)
            setattr(parent, conv_name, fuse_conv_bn_eval(conv.eval(), bn.eval()))
            setattr(parent, bn_name, nn.Identity())
            folded += 1
    return folded


def compile_network(net: FeatureNet, backend: str | object) -> None:
    """torch.compile the wrapper's forward: one graph of the network cut after the deepest layer.

    FeatureNet stops the forward pass by raising from the deepest layer's hook; TorchDynamo
    traces the hooks and that raise, so the graph holds exactly the layers the dream needs.
    """
    if "forward" not in vars(net):  # not compiled yet: a second Dreamer on the same net reuses it
        net.forward = torch.compile(net.forward, backend=backend)


def probe_compiled(net: FeatureNet, device: torch.device, dtype: torch.dtype | None) -> None:
    """Compile now, on a small image, so a missing compiler is one clear error, not a traceback mid-render."""
    image = torch.rand(1, 3, PROBE_SIDE, PROBE_SIDE, device=device, requires_grad=True)
    try:
        with autocast(device, dtype):
            activations = net(image)
        score = sum(activation.float().square().mean() for activation in activations.values())
        torch.autograd.grad(score, image)
    except Exception as error:  # inductor and its C++/Triton toolchains raise many types
        raise UserError(f"--compile failed on {device.type} ({root_cause(error)}); run without --compile") from None


def root_cause(error: BaseException) -> str:
    """'Type: first line' of the innermost exception: dynamo wraps the compiler's own message."""
    while (inner := getattr(error, "inner_exception", None) or error.__cause__) is not None:
        error = inner
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
