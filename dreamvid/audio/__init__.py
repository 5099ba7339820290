"""Music features for schedules: decode a soundtrack, analyse it once, read it at each frame's time."""

from dreamvid.audio.decode import decode_pcm
from dreamvid.audio.features import NAMES, Features, analyse, at_frames

__all__ = ["NAMES", "Features", "analyse", "at_frames", "decode_pcm"]
