"""Shared fixtures: tiny random-weight networks, the embedded model, small pictures. Nothing downloads."""

import os
import subprocess

# idle OpenMP threads yield, so a busy CI box stays fast; OpenMP reads this once, when `import torch`
# loads it, so it must be set before that import (after it, a 2-thread step measured 1.5 s, not 13 ms)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from PIL import Image  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

os.environ["DREAMVID_OFFLINE"] = "1"  # torchvision weights are never downloaded by the tests
torch.set_num_threads(min(2, os.cpu_count() or 1))

from dreamvid.cli import run  # noqa: E402
from dreamvid.media.process import ffmpeg_exe  # noqa: E402
from dreamvid.render.dreaming import FrameDreamer  # noqa: E402
from dreamvid.media.pictures import load_picture, resize_frame  # noqa: E402
from dreamvid.nets.features import FeatureNet, load_model  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(REPO, "samples")


def decoded(path) -> np.ndarray:
    """Every frame of a video (or frame pattern), as one uint8 array."""
    from dreamvid.media.reader import read_frames

    return np.stack(list(read_frames(str(path))))


def slowed_cli(from_frame: int, seconds: float) -> str:
    """Code for `python -c CODE ARGS...`: the real CLI, each dream from frame `from_frame` on slowed by
    `seconds`, so that a test can act while the render is at a known stage."""
    return f"""
import os, runpy, sys, time
import torch
torch.set_num_threads(min(2, os.cpu_count() or 1))  # as tests/conftest.py: the same arithmetic
from dreamvid.render.dreaming import FrameDreamer
original = FrameDreamer.dream
def slowed(self, image, frame=0, *args, **kwargs):
    if frame >= {from_frame}:
        time.sleep({seconds})
    return original(self, image, frame, *args, **kwargs)
FrameDreamer.dream = slowed
sys.argv = ["dreamvid", *sys.argv[1:]]
runpy.run_module("dreamvid", run_name="__main__", alter_sys=True)
"""


def tiny_network() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
    )


@pytest.fixture
def tiny_net() -> FeatureNet:
    """A random-weight 3-conv network; layer "mid" is the second ReLU, "top" the last."""
    return FeatureNet(tiny_network(), {"mid": "3", "top": "5"}, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


@pytest.fixture(scope="session")
def lite0_blocks4() -> FeatureNet:
    return load_model("efficientnet_lite0", ["blocks.4"], "cpu")


@pytest.fixture(scope="session")
def cat_frame() -> np.ndarray:
    return load_picture(os.path.join(SAMPLES, "chelsea.jpg"))


@pytest.fixture
def small_cat(cat_frame) -> np.ndarray:
    return resize_frame(cat_frame, 96)


@pytest.fixture
def cat_path() -> str:
    return os.path.join(SAMPLES, "chelsea.jpg")


@pytest.fixture
def dream_calls(monkeypatch):
    """Records the frame of every FrameDreamer.dream call; frames in `stop_at` raise KeyboardInterrupt once."""
    original = FrameDreamer.dream
    calls, stop_at = [], set()

    def dream(self, image, frame=0, *args, **kwargs):
        calls.append(frame)
        if frame in stop_at:
            stop_at.discard(frame)
            raise KeyboardInterrupt
        return original(self, image, frame, *args, **kwargs)

    monkeypatch.setattr(FrameDreamer, "dream", dream)
    return calls, stop_at


def run_ffmpeg(*args):
    from dreamvid.media.process import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="session")
def clip_with_audio(tmp_path_factory):
    """2 s of test pattern over a 440 Hz tone whose amplitude rises as 0.4 * t, so the time is audible."""
    path = tmp_path_factory.mktemp("src") / "src.mp4"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-f", "lavfi", "-i",
               "aevalsrc=0.4*t*sin(2*PI*440*t):s=44100", "-t", "2", "-pix_fmt", "yuv420p", str(path))
    return path


# ---- clips: tiny `dreamvid video` runs and checks of their output (test_clip, test_names, test_timing)

CLIP_FAST = ["--octaves", "1", "--iterations", "1", "--iterations-next", "1", "--device", "cpu"]
NO_DREAM = ["--iterations", "0", "--iterations-next", "0"]
CLIP_SIZE = (64, 48)
TONE = 440.0  # write_clip's tone


def video(source, out, *extra):
    """Run `dreamvid video` on tiny settings (later flags win); returns the exit code."""
    return run(["video", str(source), "-o", str(out), *CLIP_FAST, *extra])


def png_frames(folder):
    return np.stack([np.asarray(Image.open(folder / name)) for name in sorted(os.listdir(folder))])


def check_sound(path, frames, fps):
    """The output's sound is the source's tone and lasts as long as its video."""
    samples = audio(path)
    seconds = frames / fps
    assert abs(len(samples) / RATE - seconds) < 0.1, (len(samples) / RATE, float(seconds))
    assert np.sqrt(np.mean(samples**2)) > 0.05  # a tone (lavfi sine: amplitude 1/8), not silence
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    peak = np.fft.rfftfreq(len(samples), 1 / RATE)[spectrum.argmax()]
    assert abs(peak - TONE) < 2 * RATE / len(samples) + 5, peak


def nearest(frames, among):
    """For each frame, the index of the most similar frame of `among` (mean absolute difference)."""
    return [int(np.argmin([np.abs(frame.astype(int) - other).mean() for other in among])) for frame in frames]


def write_vfr_clip(path, pictures, held: list[int], fps: int):
    """Each picture shown for `held` frames at `fps`, stored once with its own time (a variable-rate mp4)."""
    listing = path.parent / "frames.txt"
    lines = []
    for index, (picture, count) in enumerate(zip(pictures, held)):
        name = path.parent / f"held_{index}.png"
        subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s",
                        f"{CLIP_SIZE[0]}x{CLIP_SIZE[1]}", "-i", "-", str(name)], input=picture.tobytes(), check=True)
        lines += [f"file '{name}'", f"duration {count / fps:.6f}"]
    listing.write_text("\n".join(lines + [lines[-2]]) + "\n")  # the last file again: its duration counts
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
                    "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={sum(held) / fps}",
                    "-map", "0:v", "-map", "1:a", "-fps_mode", "vfr", "-video_track_timescale", str(fps),
                    "-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)], check=True)



# ---- frames and sound for the writer and segment tests (test_video, test_segments)

RAMP_W, RAMP_H = 64, 48


def ramp_frames(n, width=RAMP_W, height=RAMP_H):
    """Frames whose brightness rises with their index, over a horizontal gradient, so order is checkable."""
    ramp = np.linspace(0, 40, width)[None, :, None]
    return [np.clip(ramp + 10 + 20 * i, 0, 255).astype(np.uint8).repeat(height, 0).repeat(3, 2) for i in range(n)]


RATE = 8000  # audio is decoded at this rate for checking


def audio(path):
    """A clip's audio as mono float samples at RATE."""
    pcm = subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(path), "-map", "0:a:0",
                          "-f", "f32le", "-ac", "1", "-ar", str(RATE), "-"], capture_output=True, check=True).stdout
    return np.frombuffer(pcm, np.float32)


def rms(samples, start, end):
    return float(np.sqrt(np.mean(samples[int(start * RATE):int(end * RATE)] ** 2)))
