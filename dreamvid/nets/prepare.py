"""Readying a network for fast ascent: BatchNorm folding, memory format, cuDNN tuning, torch.compile.

None of these change what is dreamed, only how fast. BatchNorm folding and channels-last memory
apply on every device; a large stride-2 stem's input gradient by phases (nets/strided.py) on the
CPU; cuDNN tuning is CUDA-only; `compile` is asked for.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from dreamvid.errors import UserError
from dreamvid.nets.device import autocast
from dreamvid.nets.features import FeatureNet
from dreamvid.nets.strided import use_phase_gradients
from dreamvid.notices import notify

PROBE_SIDE = 64  # px of the image that a freshly compiled network is tried on
# docs/BENCHMARKS.md, "CPU: beside the peer's plain loop": measured on 2 cores at a load of ~25.
CPU_COMPILE_NOTICE = ("--compile on the CPU: each new octave or tile size compiles first (about 6 minutes each "
                      "on 2 cores), and the steps after ran no faster than without it; it pays on CUDA GPUs")


def prepare_network(net: FeatureNet, device: torch.device, compile: bool = False,
                    backend: str | object = "inductor", autocast_to: torch.dtype | None = None) -> FeatureNet:
    """Ready `net` (in place) for fast ascent on `device`; safe to call again on the same net."""
    device = torch.device(device)
    fold_batch_norms(net)
    if device.type == "cpu":  # oneDNN's transposed kernels; CUDA's are unmeasured, so left as they are
        use_phase_gradients(net.network, set(net.layer_paths.values()))
    # NHWC: Tensor Core convolutions want it, and oneDNN's CPU depthwise convolutions run faster in it
    net.to(memory_format=torch.channels_last)
    net.channels_last = True
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # tile and octave sizes repeat: tune each shape once
    if compile:
        if device.type == "cpu":
            notify(CPU_COMPILE_NOTICE)
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
