"""Every setting of a render in one place: its default, why it has that value, and its bounds.

Numeric knobs marked `schedule` also take keyframe strings ("0: 1.0, 48: 1.05"), evaluated per
frame by `dreamvid.schedule`. Lists of allowed values come from the modules that own them.
"""

from __future__ import annotations

from dataclasses import dataclass

from dreamvid.flow import FLOW_PRESETS
from dreamvid.motion import RESAMPLING
from dreamvid.nets.device import DEVICES, PRECISIONS
from dreamvid.nets.registry import MODELS


@dataclass(frozen=True)
class Setting:
    name: str
    default: object
    help: str
    kind: str  # int | float | str | bool | choice | schedule | layers | fps
    low: float | None = None  # inclusive lower bound
    high: float | None = None  # inclusive upper bound
    above: float | None = None  # exclusive lower bound
    choices: tuple[str, ...] = ()
    group: str = "dream"  # dream | zoom | video | audio | output | files: which commands take it (settings/commands.py)
    integer: bool = False  # schedule values are rounded to int when used
    nonzero_low: float | None = None  # when not 0, the value must be at least this (0 = "off" / "auto")

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


LONGEST_SECONDS = 1e7  # times in seconds: 115 days, past any clip, and far from float overflow
SETTINGS: tuple[Setting, ...] = (
    # dream: the still-image engine (docs/DESIGN.md, "Still dream")
    Setting("model", "efficientnet_lite0", "network to dream with", "choice", choices=tuple(MODELS)),
    Setting("weights", "", "weights file for the model (default: embedded / torch hub cache)", "str"),
    Setting("layers", {}, "layers to amplify, NAME or NAME=WEIGHT (weights may be schedules); a NAME is a role "
            "(textures, ornaments, eyes, deep: each model maps it to its own layer) or a layer of the model; "
            "default: eyes", "layers"),
    Setting("channels", "", "comma-separated channel indices of the first layer to amplify (empty = all)", "str"),
    Setting("guide", "", "guide picture: grow the features it contains", "str"),
    Setting("octaves", 3, "pyramid levels (3 x 1.4 keeps 512 px dreams to ~3 s on 2 CPU cores)", "int", low=1, high=12),
    Setting("octave_scale", 1.4, "size ratio between pyramid levels (the 2015 notebook's)", "schedule", above=1.0, high=4.0),
    Setting("iterations", 10, "ascent steps per octave", "schedule", low=0, high=1000, integer=True),
    Setting("step", 0.02, "ascent step on a 0..1 image, in units of mean |gradient|", "schedule", low=0.0, high=1.0),
    Setting("jitter", 16, "random roll in px per step (hides the network's stride grid)", "schedule", low=0, high=512, integer=True),
    Setting("smooth", 0.0, "gradient smoothing sigma in px (0 = off): smoother, larger patterns", "schedule", low=0.0, high=32.0),
    Setting("seed", 0, "random seed; per-frame randomness derives from it and the frame index", "int", low=0,
            high=2**32 - 1),  # torch seeds are 64-bit and each frame's is seed x 1000003 + frame,
    Setting("device", "auto", "where to run the ascent (auto = CUDA, else Apple's MPS, else the CPU)", "choice", choices=DEVICES),
    Setting("size", 0, "longer side of the dream in px (0 = the input's own size)", "int", low=0, high=16384,
            nonzero_low=16),
    Setting("precision", "auto", "CUDA arithmetic: auto = bf16/fp16 autocast, fp32 = exact", "choice",
            choices=PRECISIONS),
    Setting("tile", 0, "octaves larger than this x this px dream in tiles of at most that area, for bounded memory "
            "(0 = auto: 1448 on the CPU, 4096 on CUDA; 16384 = never)", "int", low=0, high=16384, nonzero_low=64),
    Setting("compile", False, "torch.compile the network (CUDA; slow first frame, faster after)", "bool"),
    # masks: where to dream (docs/DESIGN.md, "Masks"); image, zoom and video
    Setting("mask", "", "where to dream: a picture (grey levels, or its alpha; white = dream), a clip or frame "
            "pattern (masks/%05d.png) matched by frame index, or (video) motion / still: what moves / the rest",
            "str"),
    Setting("mask_invert", False, "dream where the mask is black instead (everything but the region)", "bool"),
    Setting("mask_feather", 8.0, "soft edge of the mask in px (10%-90% over about this width), so patterns fade "
            "out at the edge instead of being cut", "float", low=0.0, high=1024.0),
    Setting("mask_strength", 1.0, "how much of the dream the mask lets through (0..1; a schedule fades the "
            "region in or out)", "schedule", low=0.0, high=1.0),
    # zoom: the feedback loop (docs/DESIGN.md, "Zoom loop"); rates are per second, so fps does not change the look
    Setting("frames", 0, "frames to render (0 = zoom: 5 seconds, or as long as --audio; video: the whole clip)", "int", low=0,
            high=10_000_000, group="output"),  # zoom and video both take it; 10M frames: 3.8 days at 30 fps
    Setting("fps", "30", "frames per second of a zoom video (a number or a ratio like 30000/1001)", "fps", group="zoom"),
    Setting("zoom", 1.2, "zoom factor per second (1 = still, >1 = fly in, <1 = fly out)", "schedule", above=0.0, high=100.0, group="zoom"),
    Setting("rotate", 0.0, "rotation in degrees per second (counter-clockwise)", "schedule", low=-3600.0, high=3600.0,
            group="zoom"),  # 10 turns a second: beyond it every frame is a blur
    Setting("translate_x", 0.0, "horizontal move in percent of the width per second", "schedule", low=-1000.0, high=1000.0,
            group="zoom"),  # 10 widths a second: past it a frame shares nothing with the one before
    Setting("translate_y", 0.0, "vertical move in percent of the height per second", "schedule", low=-1000.0, high=1000.0,
            group="zoom"),
    Setting("center_x", 0.5, "zoom/rotation centre, fraction of the width", "schedule", low=0.0, high=1.0, group="zoom"),
    Setting("center_y", 0.5, "zoom/rotation centre, fraction of the height", "schedule", low=0.0, high=1.0, group="zoom"),
    Setting("noise", False, "start from noise instead of a picture", "bool", group="zoom"),
    Setting("noise_size", 512, "side of the square noise start picture in px", "int", low=16, high=16384, group="zoom"),
    Setting("colour_coherence", 0.3, "pull each frame's LAB mean/std toward the reference (0 = off, 1 = full)",
            "schedule", low=0.0, high=1.0, group="zoom"),
    Setting("colour_reference", "", "picture whose colours to keep (default: the first frame)", "str", group="zoom"),
    Setting("cadence", 1, "dream every N-th frame (1 = every frame); zoom: the frames between cross-fade both "
            "keys along the exact camera move, ~N times faster, the dream ~15% weaker at 3; video (flow modes): "
            "they carry the last dream along the source's flow", "int", low=1, high=16, group="output"),
    Setting("mask_follow", False, "move the mask with the camera, so it stays on the same part of the picture "
            "(default: the mask stays put on the screen)", "bool", group="zoom"),
    Setting("interpolation", "lanczos", "resampling of the camera move (lanczos keeps loops sharp)", "choice",
            choices=tuple(RESAMPLING), group="zoom"),
    # video: dreaming an existing clip (docs/DESIGN.md, "Dreaming a clip")
    Setting("flow", "dis", "temporal method: dis / dis-fine / dis-fast (optical flow; dis-fine follows small "
            "movers before a still camera better), blend (no motion), none (per frame)",
            "choice", choices=(*FLOW_PRESETS, "blend", "none"), group="video"),
    Setting("persistence", 1.0, "share of the previous frame's dream carried into the next (its strength is held "
            "at the first frame's, so 1 does not pile up)", "schedule", low=0.0, high=1.0, group="video"),
    Setting("blend", 0.5, "--flow blend only: weight of the previous dream mixed into each frame (no motion "
            "compensation, as older tools do)", "schedule", low=0.0, high=1.0, group="video"),
    Setting("temporal_weight", 0.5, "flow modes: share of the gap to the carried dream closed after each ascent "
            "step where the flow is reliable (Ruder et al.'s temporal term; 0 = off, 1 = frozen)",
            "schedule", low=0.0, high=1.0, group="video"),
    Setting("fresh_boost", 0.0, "flow modes: unreliably tracked pixels (disoccluded, entering, fast movers) take "
            "ascent steps 1 + this x longer, so deep dreams reach full strength there sooner (more flickers in "
            "noisy footage)",
            "schedule", low=0.0, high=10.0, group="video"),
    Setting("carry_unreliable", True, "flow modes: start unreliably tracked pixels from the carried dream too "
            "(Ruder et al.'s start; not held there, only reshaped), instead of from the source, which the "
            "first release did and which regrows a mover's dream from almost nothing each frame", "bool",
            group="video"),
    Setting("local_gain", True, "flow modes: bring the carried dream's local strength back to what it was where "
            "it came from (resampling blurs a mover's dream a little every frame)", "bool", group="video"),
    Setting("wake_frames", 0, "flow modes: what a mover uncovers starts from the source instead of the mover's "
            "dream smeared into it, and grows freely over this many frames before it is held (0 = carry the "
            "smear)", "int", low=0, high=64, group="video"),
    Setting("wake_memory", True, "flow modes: what a mover uncovers takes back the dream the background had "
            "there before the mover covered it (remembered where it kept still for 8 frames, and moved along with "
            "the camera), instead of the mover's dream smeared into it", "bool", group="video"),
    Setting("noise_hold", False, "flow modes: where the flow fails its check on content that hardly changed in "
            "place (sensor noise, compression: night footage), hold the carried dream as if the check had passed "
            "(a flat mover's inside is held too, and loses some dream), on every frame; see --auto-noise-hold", "bool",
            group="video"),
    Setting("auto_noise_hold", True, "flow modes: the same hold, as far as the frame's flow follows noise: from "
            "none where it fails on under 18% of the content that kept still in place to full at 28% (dark, noisy "
            "footage; clean footage stays under it)", "bool", group="video"),
    Setting("wake_boost", 0.0, "flow modes: what a mover uncovers takes ascent steps 1 + this x longer while it "
            "grows (see --wake-frames), to reach the dream's depth sooner", "schedule", low=0.0, high=10.0, group="video"),
    Setting("iterations_next", 3, "ascent steps per octave after the first frame: the carried dream holds the "
            "rest, and these few steps reshape what it could not carry reliably",
            "schedule", low=0, high=1000, integer=True, group="video"),
    Setting("octaves_next", 2, "pyramid levels after the first frame (1 is faster; 2 renews larger patterns "
            "on new content)", "int", low=1, high=12, group="video"),
    Setting("start", 0.0, "start of the dreamed range in the clip, seconds", "float", low=0.0, high=LONGEST_SECONDS,
            group="video"),
    Setting("duration", 0.0, "length of the dreamed range in seconds (0 = to the end)", "float", low=0.0,
            high=LONGEST_SECONDS, group="video"),
    Setting("scale", 1.0, "dream at this fraction of the clip's resolution", "float", above=0.0, high=1.0, group="video"),
    Setting("cut_threshold", 0.3, "mean flow reliability below which a frame counts as a scene cut",
            "float", low=0.0, high=1.0, group="video"),
    # audio: music features for schedule expressions (docs/DESIGN.md, "Music"); zoom and video
    Setting("audio", "", "sound to read and to put under the output (zoom: needed for audio variables; "
            "video: replaces the clip's own sound)", "str", group="audio"),
    Setting("audio_attack", 0.01, "seconds the audio features take to rise (a kick lands within a frame)",
            "float", low=0.0, high=10.0, group="audio"),
    Setting("audio_release", 0.15, "seconds the audio features take to fall (~4 frames at 30 fps: no blinking)",
            "float", low=0.0, high=10.0, group="audio"),
    Setting("audio_onset_release", 0.0, "seconds the onset feature takes to fall (0 = an eighth of the beat, so it "
            "dips between eighth notes; audio_release where no tempo is found)", "float", low=0.0, high=10.0,
            group="audio"),
    Setting("audio_bpm", 0.0, "the music's tempo if you know it: beats follow the tempo nearest it in the sound "
            "(0 = find it; the search picks the wrong octave in about 1 song of 9)", "float", low=0.0, high=300.0,
            nonzero_low=30.0, group="audio"),
    Setting("audio_beat_offset", 0.0, "seconds to move every beat by (later when > 0), for a beat heard off the "
            "drums", "float", low=-5.0, high=5.0, group="audio"),
    # loops (docs/DESIGN.md, "Loops"): zoom and video
    Setting("loop", False, "end where it began, so it plays on repeat without a jump (zoom: the last 1.5 s fly "
            "into the first frame; video: a looping source's seam is dreamed over)", "bool", group="output"),
    Setting("boomerang", False, "play forward, then backward (the end frames once each); the sound plays backward "
            "on the way back", "bool", group="output"),
    # output
    Setting("crf", -1, "encoder quality, lower = better (-1 = the format's default: 18 for mp4)", "int", low=-1, high=63, group="output"),
    Setting("codec", "", "ffmpeg encoder, e.g. libx265 or h264_nvenc (default: by extension)", "str", group="output"),
    Setting("checkpoint_frames", 24, "frames between resume checkpoints (each closes one output segment)",
            "int", low=1, high=100000, group="output"),
    # files: what is written besides the output
    Setting("sidecar", True, "write the settings beside the output as OUT.dreamvid.toml, so that `dreamvid render` "
            "can render it again", "bool", group="files"),
    # distributed clips: shots on Ray workers (docs/DESIGN.md, "More GPUs or machines"); needs dreamvid[ray]
    Setting("workers", 1, "dream the clip's shots in this many local processes (one per GPU, else the CPU cores "
            "split between them); the output is the same frame for frame", "int", low=1, high=1024, group="video"),
    Setting("ray", "", "address of a running Ray cluster to spread the shots over (auto = the one this machine "
            "joined); the input and output must be on a filesystem every machine sees", "str", group="video"),
    Setting("max_shot_seconds", 0.0, "split shots longer than this between workers: each piece starts dreaming "
            "1 s early and cross-fades there with the piece before (0 = never; unlike one process at the seams)",
            "float", low=0.0, high=LONGEST_SECONDS, group="video"),
)
BY_NAME = {setting.name: setting for setting in SETTINGS}


def defaults() -> dict[str, object]:
    return {setting.name: setting.default for setting in SETTINGS}


def allowed_keys_message() -> str:
    return "allowed keys: " + ", ".join(BY_NAME)
