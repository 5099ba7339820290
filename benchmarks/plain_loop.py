"""The plain PyTorch DeepDream loop, as the most used PyTorch DeepDream (gordicaleksa/pytorch-deepdream)
runs it, written out here so that bench_peer.py can time it beside dreamvid with the same network,
weights and sizes, and install nothing.

What it does per ascent step, as the peer does: roll the image by a random jitter; a forward pass
through a wrapper that computes every layer it exposes (GoogLeNet: inception3b..4e, whatever layer is
dreamed; here the model's four role layers, so through the deepest of them), in fp32 with its
BatchNorms and the default memory layout; the mean squared activation; backward; three 9x9 Gaussian
blurs of the gradient averaged; normalise to mean 0, std 1; step 0.09; clamp; roll back. The pyramid
resizes the dreamed image itself from level to level (no detail re-injection); a zoom ("ouroboros")
builds the model again for every frame, as the peer's still function does, then zooms and rotates
the frame with OpenCV; frames are written as JPEG files and joined by ffmpeg at the end. Before any of
that, the process imports what the peer's `deepdream.py` imports at its start (PEER_STARTUP_IMPORTS:
torchvision's models and transforms, matplotlib, scipy, imageio, whatever the network), so that the
whole process costs what the peer's does; `--bare` leaves them out (only torch, numpy, OpenCV).

    python benchmarks/plain_loop.py still IN.png OUT.jpg [--size 600] [--model efficientnet_lite0]
    python benchmarks/plain_loop.py zoom IN.png OUT.mp4 --frames 12 [--bare]
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from torch.nn import functional as F

from dreamvid.nets.features import FeatureNet, load_model
from dreamvid.nets.registry import get_spec

# deepdream.py -> utils/utils.py (cv2, torchvision.transforms, matplotlib.pyplot, scipy.ndimage), its four
# models/definitions/*.py (torchvision.models) and utils/video_utils.py (imageio), at commit f37d99a
PEER_STARTUP_IMPORTS = ("cv2", "torchvision.transforms", "torchvision.models", "matplotlib.pyplot", "scipy.ndimage",
                        "imageio")
LEARNING_RATE = 0.09
SHIFT = 32  # px of random roll
SMOOTHING = 0.5
KERNEL = 9
IMAGE_BOUND = (0.0, 1.0)


def import_as_the_peer() -> list[str]:
    """Import what the peer imports before it starts; the names of those not installed here (not counted)."""
    missing = []
    for name in PEER_STARTUP_IMPORTS:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def plain_net(model: str, weights: str | None = None) -> tuple[FeatureNet, str]:
    """The model with hooks on its four role layers, computed through the deepest, unprepared; and its
    default layer (the one dreamed)."""
    spec = get_spec(model)
    exposed = list(dict.fromkeys(spec.roles.values()))
    return load_model(model, exposed, "cpu", weights, early_stop=True), spec.default_layer


def gaussian_2d(sigma: float) -> torch.Tensor:
    offsets = torch.arange(KERNEL, dtype=torch.float32) - (KERNEL - 1) / 2
    line = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = torch.outer(line, line)
    return (kernel / kernel.sum()).expand(3, 1, KERNEL, KERNEL)


def cascade_blur(gradient: torch.Tensor, sigma: float) -> torch.Tensor:
    """Three full 9x9 Gaussian blurs (sigma x 0.5, 1, 2) of a reflect-padded gradient, averaged."""
    padded = F.pad(gradient, [KERNEL // 2] * 4, mode="reflect")
    blurred = [F.conv2d(padded, gaussian_2d(sigma * factor), groups=3) for factor in (0.5, 1.0, 2.0)]
    return (blurred[0] + blurred[1] + blurred[2]) / 3


def plain_step(net: FeatureNet, image: torch.Tensor, layer: str, iteration: int, iterations: int,
               rng: np.random.Generator) -> torch.Tensor:
    """One ascent step of the plain loop on `image` [1, 3, H, W] in 0..1; returns the new image."""
    dy, dx = (int(v) for v in rng.integers(-SHIFT, SHIFT + 1, 2))
    rolled = torch.roll(image.detach(), (dy, dx), (2, 3)).requires_grad_(True)
    loss = net(rolled)[layer].pow(2).mean()  # MSE against zeros, as the peer writes it
    loss.backward()
    sigma = (iteration + 1) / iterations * 2.0 + SMOOTHING
    gradient = cascade_blur(rolled.grad, sigma)
    gradient = (gradient - gradient.mean()) / gradient.std()
    with torch.no_grad():
        stepped = (rolled + LEARNING_RATE * gradient).clamp(*IMAGE_BOUND)
    return torch.roll(stepped, (-dy, -dx), (2, 3))


def plain_dream(net: FeatureNet, layer: str, picture: np.ndarray, octaves: int, scale: float,
                iterations: int, rng: np.random.Generator) -> np.ndarray:
    """A float H x W x 3 RGB picture in 0..1 dreamed: the pyramid resizes the dream itself."""
    import cv2

    height, width = picture.shape[:2]
    for level in range(octaves):
        factor = scale ** (level - octaves + 1)
        picture = cv2.resize(picture, (round(width * factor), round(height * factor)))
        image = torch.from_numpy(np.ascontiguousarray(picture.transpose(2, 0, 1)))[None]
        for iteration in range(iterations):
            image = plain_step(net, image, layer, iteration, iterations, rng)
        picture = image[0].numpy().transpose(1, 2, 0)
    return picture


def load_float(path: str, width: int) -> np.ndarray:
    import cv2

    picture = cv2.imread(path)[:, :, ::-1]
    height = int(picture.shape[0] * width / picture.shape[1])
    return cv2.resize(picture, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255


def save_jpeg(picture: np.ndarray, path: str) -> None:
    import cv2

    cv2.imwrite(path, (np.clip(picture, 0, 1) * 255).astype(np.uint8)[:, :, ::-1])


def zoom_rotate(picture: np.ndarray) -> np.ndarray:
    import cv2

    height, width = picture.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), 1.5, 1.04)
    return cv2.warpAffine(picture, matrix, (width, height))


def join_frames(folder: str, output: str, fps: int = 30) -> None:
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-framerate", str(fps),
                    "-i", os.path.join(folder, "%06d.jpg"), "-c:v", "libx264", "-pix_fmt", "yuv420p", output],
                   check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("still", "zoom"))
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--size", type=int, default=600, help="width in px")
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--octaves", type=int, default=4)
    parser.add_argument("--octave-scale", type=float, default=1.8)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--bare", action="store_true", help="leave out the peer's start-up imports")
    args = parser.parse_args()
    missing = [] if args.bare else import_as_the_peer()
    if missing:
        print(f"plain_loop: not installed, so not counted: {', '.join(missing)}", file=sys.stderr)
    rng = np.random.default_rng(0)
    picture = load_float(args.input, args.size)
    if args.mode == "still":
        net, layer = plain_net(args.model, args.weights)
        save_jpeg(plain_dream(net, layer, picture, args.octaves, args.octave_scale, args.iterations, rng), args.output)
        return
    with tempfile.TemporaryDirectory() as folder:
        for frame in range(args.frames):
            net, layer = plain_net(args.model, args.weights)  # the peer builds its model for every frame
            picture = plain_dream(net, layer, picture, args.octaves, args.octave_scale, args.iterations, rng)
            save_jpeg(picture, os.path.join(folder, f"{frame:06d}.jpg"))
            picture = zoom_rotate(picture)
        join_frames(folder, args.output)


if __name__ == "__main__":
    main()
