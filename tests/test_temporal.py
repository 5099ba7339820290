"""The temporal term of a dreamed clip (docs/DESIGN.md, "Dreaming a clip"): the hold after each step,
where each frame starts from, and what it buys on small synthetic clips dreamed by the embedded model:
a mover keeps its dream, and a reliably tracked static region stays put."""

import os

import numpy as np
import pytest
import torch

from dreamvid.ascent.dream import Anchor, dream
from dreamvid.ascent.objectives import layer_l2
from dreamvid.cli import run
from dreamvid.flow import FlowEstimator, RoundTrip, backward_forward, lands_inside, reliability
from dreamvid.media.pictures import load_picture
from dreamvid.media.reader import read_frames
from dreamvid.media.synthetic import Mover, crop_window, paste_mover, picture_patch, write_clip
from dreamvid.metrics import masked_strength, moving_masks, source_motion, trail
from dreamvid import temporal
from dreamvid.render import clip
from dreamvid.render.clip import SourceFrame, start_image
from dreamvid.settings import Resolved, merge
from dreamvid.render.dreaming import default_params
from conftest import SAMPLES

SIZE = (96, 64)
WALKER_SIZE = (160, 96)  # smaller frames let DIS spread the walkers' motion over the whole scene
ONE_STEP = ["--temporal-weight", "0", "--fresh-boost", "0", "--iterations-next", "1", "--octaves-next", "1",
            "--no-carry-unreliable"]


def test_the_hold_closes_its_share_of_the_gap_where_reliable():
    image, target = torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4)
    weight = torch.zeros(1, 1, 4, 4)
    weight[..., :2] = 1.0  # the left half is reliable
    held = Anchor(target, weight, pull=0.25).hold(image.clone())
    assert torch.allclose(held[..., :2], torch.full_like(held[..., :2], 0.25))
    assert torch.equal(held[..., 2:], image[..., 2:])  # unreliable pixels are the ascent's alone


def test_unreliable_pixels_take_longer_steps():
    weight = torch.tensor([[[[1.0, 0.5, 0.0]]]])
    anchor = Anchor(torch.zeros(1, 3, 1, 3), weight, pull=0.5, boost=2.0)
    assert torch.allclose(anchor.step_map(), torch.tensor([[[[1.0, 2.0, 3.0]]]]))
    assert Anchor(torch.zeros(1, 3, 1, 3), weight, pull=0.5).step_map() is None


def test_a_full_hold_on_a_reliable_frame_keeps_the_target(tiny_net):
    target = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(1))
    anchor = Anchor(target, torch.ones(1, 1, 40, 40), pull=1.0)
    params = default_params(octaves=2, iterations=3, step=0.05, jitter=4)
    held = dream(tiny_net, target, layer_l2("top"), params, torch.Generator().manual_seed(0), anchor=anchor)
    free = dream(tiny_net, target, layer_l2("top"), params, torch.Generator().manual_seed(0))
    assert (held - target).abs().max() < 1e-5
    assert (free - target).abs().mean() > 0.01


def test_flow_mode_starts_from_the_carried_dream_except_where_content_enters():
    picture = load_picture(os.path.join(SAMPLES, "coffee.jpg"))
    previous, current = crop_window(picture, 10, 10, *SIZE), crop_window(picture, 12, 10, *SIZE)  # a 2 px pan
    backward, forward = backward_forward(FlowEstimator(), previous, current)
    weights = reliability(backward, forward)
    dream_residual = np.full(previous.shape, 0.1, np.float32)
    state = {"source": previous, "output": previous / 255.0 + dream_residual, "strength": np.float64(0.1)}
    settings = Resolved(merge(("test", {"flow": "dis"})), fps=12)
    start = start_image(clip.FLOW_METHODS["dis"], 1, SourceFrame(current, backward, weights, lands_inside(backward)), state, settings)
    assert not start.fresh and start.weights is weights  # the temporal term holds by reliability
    base = current / 255.0
    assert np.allclose(start.target, np.clip(base + 0.1, 0, 1), atol=1e-3)  # the whole carried residual
    entering = ~lands_inside(backward)
    assert entering[:, -1].all() and entering[:, :-4].mean() < 0.02  # the pan brings in columns on the right
    assert np.allclose(start.image[~entering], start.target[~entering])
    assert np.allclose(start.image[entering], base[entering])  # new content starts from the source
    assert weights[:, -2:].max() < 0.5 < weights[:, :-4].min()


def walker_clip(frames: int) -> list[np.ndarray]:
    """A static scene with two small textured objects walking across it at 3.5-4 px per frame, the way
    people cross a street seen from a tripod: the flow on and behind them is often unreliable."""
    background = crop_window(load_picture(os.path.join(SAMPLES, "coffee.jpg")), 10, 10, *WALKER_SIZE)
    astronaut = load_picture(os.path.join(SAMPLES, "astronaut.jpg"))
    walkers = [Mover(picture_patch(astronaut, 9, (0.3, 0.3)), 2.0, 25.0, 4.0, 0.5),  # rows 25-41
               Mover(picture_patch(astronaut, 9, (0.5, 0.3)), 150.0, 60.0, -3.5, 0.0)]  # rows 60-69
    clip_frames = [background.copy() for _ in range(frames)]
    for t, frame in enumerate(clip_frames):
        for walker in walkers:
            paste_mover(frame, walker, t)
    return clip_frames


@pytest.fixture(scope="module")
def walker_renders(tmp_path_factory):
    """The walker clip dreamed naive, with the one-step touch-up and with the temporal term (PNG frames)."""
    folder = tmp_path_factory.mktemp("walker")
    write_clip(walker_clip(14), str(folder / "walker.mkv"), fps=12, tone_hz=None, crf=0)
    source = list(read_frames(str(folder / "walker.mkv")))
    common = ["--octaves", "2", "--iterations", "6", "--device", "cpu", "--layers", "eyes"]
    modes = {"naive": ["--flow", "none"], "one-step": ONE_STEP, "temporal": ["--iterations-next", "3", "--fresh-boost", "0"],
             "smeared wake": ["--iterations-next", "3", "--fresh-boost", "0", "--no-wake-memory"]}
    outputs = {}
    for mode, flags in modes.items():
        out = folder / mode
        assert run(["video", str(folder / "walker.mkv"), "-o", str(out / "%05d.png"), *common, *flags]) == 0
        outputs[mode] = [np.asarray(frame) for frame in read_frames(str(out / "%05d.png"))]
    return source, outputs


def test_a_mover_keeps_its_dream_with_the_temporal_term(walker_renders):
    source, outputs = walker_renders
    moving = moving_masks(source)
    later = slice(4, None)  # after a few frames the one-step method has lost the mover's dream
    strength = {mode: masked_strength(source[later], frames[later], moving[later]) for mode, frames in outputs.items()}
    assert strength["temporal"] > 1.4 * strength["one-step"], strength  # measured: 0.93 vs 0.53 x naive
    assert strength["temporal"] > 0.85 * strength["naive"], strength


def test_what_a_walker_uncovers_shows_the_backgrounds_dream_not_the_walkers(walker_renders):
    source, outputs = walker_renders
    motions = source_motion(source)
    trails = {mode: trail(source, frames, motions) for mode, frames in outputs.items()}
    assert trails["smeared wake"] > 0.5 and trails["temporal"] < 0.5 * trails["smeared wake"], trails


def test_a_reliable_static_region_stays_where_it_was(walker_renders):
    source, outputs = walker_renders
    static = np.ones(source[0].shape[:2], bool)
    static[15:78, :] = False  # the walkers' rows (25-69), with a margin for the flow's spread

    def change(frames):  # a static camera: the warped previous frame is the previous frame itself
        return np.mean([((frames[t].astype(float) - frames[t - 1]) / 255.0)[static].mean(axis=-1) ** 2
                        for t in range(1, len(frames))])

    assert change(outputs["temporal"]) < 0.1 * change(outputs["naive"]), (change(outputs["temporal"]),
                                                                         change(outputs["naive"]))  # measured: 0.03
    assert masked_strength(source, outputs["temporal"], [static] * len(source)) > \
        0.9 * masked_strength(source, outputs["naive"], [static] * len(source))


def test_the_follow_up_budget_is_what_the_settings_say(tmp_path, monkeypatch, capsys):
    write_clip(walker_clip(4), str(tmp_path / "walker.mkv"), fps=12, tone_hz=None, crf=0)
    anchors = []
    original = clip.FrameDreamer.dream

    def spied(self, image, frame=0, iterations=None, *args, octaves=None, anchor=None, **kwargs):
        anchors.append((frame, iterations, octaves, None if anchor is None else (anchor.pull, anchor.boost)))
        return original(self, image, frame, iterations, *args, octaves=octaves, anchor=anchor, **kwargs)

    monkeypatch.setattr(clip.FrameDreamer, "dream", spied)
    argv = ["video", str(tmp_path / "walker.mkv"), "-o", str(tmp_path / "out" / "%05d.png"), "--octaves", "3",
            "--iterations", "1", "--iterations-next", "2", "--octaves-next", "2", "--temporal-weight", "0.4",
            "--fresh-boost", "0 + 2*s"]  # the boost is a schedule: 2 per second at 12 fps
    assert run(argv) == 0, capsys.readouterr().err
    assert anchors[0] == (0, None, None, None)  # the first frame: a full dream, nothing to hold
    assert [a[:3] for a in anchors[1:]] == [(t, 2, 2) for t in (1, 2, 3)]
    assert [a[3][0] for a in anchors[1:]] == [0.4] * 3
    assert np.allclose([a[3][1] for a in anchors[1:]], [2 * t / 12 for t in (1, 2, 3)])


def test_video_cadence_dreams_every_nth_frame_and_carries_the_rest(tmp_path, dream_calls, capsys):
    calls, _ = dream_calls
    write_clip(walker_clip(7), str(tmp_path / "walker.mkv"), fps=12, tone_hz=None, crf=0)
    argv = ["video", str(tmp_path / "walker.mkv"), "--octaves", "1", "--iterations", "2", "--iterations-next", "1"]
    assert run([*argv, "-o", str(tmp_path / "c3" / "%05d.png"), "--cadence", "3"]) == 0, capsys.readouterr().err
    assert calls == [0, 3, 6]
    source = list(read_frames(str(tmp_path / "walker.mkv")))
    carried = list(read_frames(str(tmp_path / "c3" / "%05d.png")))
    assert len(carried) == 7
    assert all(np.abs(out.astype(int) - src).mean() > 2 for out, src in zip(carried, source))  # all dreamed


def test_video_cadence_needs_a_flow_method(tmp_path, capsys):
    write_clip(walker_clip(3), str(tmp_path / "walker.mkv"), fps=12, tone_hz=None, crf=0)
    code = run(["video", str(tmp_path / "walker.mkv"), "-o", str(tmp_path / "out.mp4"), "--cadence", "2",
                "--flow", "blend"])
    err = capsys.readouterr().err
    assert code == 2 and "--cadence 2 needs an optical-flow method" in err and err.count("\n") == 1, err
    assert sorted(os.listdir(tmp_path)) == ["walker.mkv"]


def test_resume_with_video_cadence_is_frame_exact(tmp_path, dream_calls, capsys):
    calls, stop_at = dream_calls
    write_clip(walker_clip(9), str(tmp_path / "walker.mkv"), fps=12, tone_hz=None, crf=0)
    argv = ["video", str(tmp_path / "walker.mkv"), "--octaves", "1", "--iterations", "2", "--iterations-next", "1",
            "--cadence", "2", "--checkpoint-frames", "3"]
    assert run([*argv, "-o", str(tmp_path / "whole.mp4")]) == 0, capsys.readouterr().err
    stop_at.add(6)  # a dreamed frame after the checkpoint at frame 3, which is an in-between
    assert run([*argv, "-o", str(tmp_path / "resumed.mp4")]) == 130
    calls.clear()
    assert run([*argv, "-o", str(tmp_path / "resumed.mp4"), "--resume"]) == 0, capsys.readouterr().err
    assert calls == [6, 8]  # frames 0-5 came from the checkpoints; 7 is carried, not dreamed
    whole, resumed = (np.stack(list(read_frames(str(tmp_path / name)))) for name in ("whole.mp4", "resumed.mp4"))
    assert whole.shape == resumed.shape and np.array_equal(whole, resumed)


def square_pair(step: int = 6, noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A patch of the astronaut crossing a still coffee scene `step` px to the right, with sensor noise."""
    background = crop_window(load_picture(os.path.join(SAMPLES, "coffee.jpg")), 10, 10, *WALKER_SIZE)
    patch = picture_patch(load_picture(os.path.join(SAMPLES, "astronaut.jpg")), 30, (0.3, 0.3))
    rng = np.random.default_rng(0)
    frames = []
    for left in (40, 40 + step):
        frame = background.astype(np.float32)
        frame[30:60, left:left + 30] = patch
        frames.append(np.clip(frame + rng.normal(0, noise, frame.shape), 0, 255).astype(np.uint8))
    return frames[0], frames[1]


def test_the_wake_is_what_a_mover_uncovers_not_where_noise_fails_the_check():
    previous, current = square_pair(noise=3.0)
    source = temporal.analyse(FlowEstimator(), previous, current)
    assert source.wake[30:60, 38:48].mean() > 0.3, source.wake[30:60, 38:48].mean()  # the strip left behind
    near_the_mover = np.zeros_like(source.wake)
    near_the_mover[26:64, 34:82] = True
    assert not (source.wake & ~near_the_mover).any()  # the noise elsewhere is no wake
    assert (source.weights < 0.5).sum() > 2 * source.wake.sum()  # the check fails in more places than the wake


def test_maturity_grows_along_the_flow_and_starts_again_in_the_wake_and_where_content_enters():
    previous, current = square_pair()
    source = temporal.analyse(FlowEstimator(), previous, current)
    assert temporal.grown(None, source, 0) is None  # off: everything is held at once, as before
    first = temporal.grown(None, source, 4)  # after a fresh dream everything is grown ...
    assert np.all(first[source.wake | ~source.inside] == 0) and first[~source.wake & source.inside].min() == 1
    half = np.full(first.shape, 0.5, np.float32)
    older = temporal.grown(half, source, 4)  # ... and a young dream is a frame older next time
    assert np.allclose(older[10:-10, 5:20], 0.75) and np.all(older[source.wake] == 0)


def test_the_carried_dream_keeps_its_local_strength_where_resampling_blurs_it():
    rng = np.random.default_rng(1)
    residual = rng.normal(0, 0.1, (64, 96, 3)).astype(np.float32)  # the finest pattern resampling can lose
    half_pixel = np.full((64, 96, 2), 0.5, np.float32)
    plain = temporal.carried_residual(residual, half_pixel, local=False)
    kept = temporal.carried_residual(residual, half_pixel, local=True)
    inner = np.s_[8:-8, 8:-8]
    assert np.abs(plain[inner]).mean() < 0.85 * np.abs(residual).mean()
    assert np.abs(kept[inner]).mean() == pytest.approx(np.abs(residual).mean(), rel=0.05)
    whole_pixel = np.ones((64, 96, 2), np.float32)  # an exact move loses nothing and gains nothing
    far_from_the_edges = np.s_[16:-16, 16:-16]  # where the local strength's blur sees no border
    assert np.allclose(temporal.carried_residual(residual, whole_pixel, local=True)[far_from_the_edges],
                       residual[17:-15, 17:-15], atol=1e-5)


def test_the_wake_starts_from_the_source_and_is_held_as_it_grows():
    previous, current = square_pair()
    source = temporal.analyse(FlowEstimator(), previous, current)
    state = {"source": previous, "output": np.clip(previous / 255.0 + 0.1, 0, 1).astype(np.float32),
             "strength": np.float64(0.1), "maturity": np.full(previous.shape[:2], 0.5, np.float32)}
    settings = Resolved(merge(("test", {"flow": "dis", "wake_frames": 4})), fps=12)
    start = start_image(clip.FLOW_METHODS["dis"], 1, source, state, settings)
    base = current / 255.0
    assert np.allclose(start.image[source.wake], base[source.wake])  # not the square's dream smeared into it
    carried = source.inside & ~source.wake
    assert np.allclose(start.image[carried], start.target[carried])
    assert np.allclose(start.weights, source.weights * start.maturity) and start.maturity.max() == 0.75
    carried_only = Resolved(merge(("test", {"flow": "dis"})), fps=12)
    smeared = start_image(clip.FLOW_METHODS["dis"], 1, source, state, carried_only)
    assert smeared.maturity is None and smeared.weights is source.weights
    assert np.allclose(smeared.image[source.wake], smeared.target[source.wake])


def test_young_pixels_take_longer_steps_on_top_of_the_unreliable_boost():
    target = torch.zeros(1, 3, 4, 4)
    weight, young = torch.ones(1, 1, 4, 4), torch.zeros(1, 1, 4, 4)
    weight[..., 0, 0], young[..., 1, 1] = 0.0, 1.0
    steps = Anchor(target, weight, 0.5, boost=1.0, young=young, young_boost=2.0).step_map()
    assert steps[0, 0, 0, 0] == 2.0 and steps[0, 0, 1, 1] == 3.0 and steps[0, 0, 2, 2] == 1.0
    assert Anchor(target, weight, 0.5, young=young).step_map() is None  # no boost asked: plain steps
    assert Anchor(target, weight, 0.5, young=young, young_boost=2.0).resized((2, 2)).young.shape[-2:] == (2, 2)


def test_resume_keeps_the_dreams_maturity_and_remembered_background_and_is_frame_exact(tmp_path, dream_calls, capsys):
    calls, stop_at = dream_calls
    write_clip(walker_clip(7), str(tmp_path / "walker.mkv"), fps=12, tone_hz=None, crf=0)
    argv = ["video", str(tmp_path / "walker.mkv"), "--octaves", "1", "--iterations", "2", "--iterations-next", "1",
            "--wake-frames", "3", "--wake-boost", "1", "--wake-memory", "--checkpoint-frames", "3"]
    assert run([*argv, "-o", str(tmp_path / "whole.mp4")]) == 0, capsys.readouterr().err
    stop_at.add(4)
    assert run([*argv, "-o", str(tmp_path / "resumed.mp4")]) == 130
    with np.load(str(tmp_path / "resumed.mp4.dreamvid-state" / "loop.npz")) as checkpoint:
        assert checkpoint["maturity"].shape == WALKER_SIZE[::-1] and checkpoint["maturity"].min() < 1
        assert checkpoint["background"].shape == (*WALKER_SIZE[::-1], 3)
        assert checkpoint["still_age"].max() >= 2 and checkpoint["still_age"].min() == 0  # the walkers move
    calls.clear()
    assert run([*argv, "-o", str(tmp_path / "resumed.mp4"), "--resume"]) == 0, capsys.readouterr().err
    assert calls == [3, 4, 5, 6]
    whole, resumed = (np.stack(list(read_frames(str(tmp_path / name)))) for name in ("whole.mp4", "resumed.mp4"))
    assert whole.shape == resumed.shape and np.array_equal(whole, resumed)


def test_the_wake_takes_back_the_backgrounds_dream_not_the_movers_smear():
    previous, current = square_pair()
    source = temporal.analyse(FlowEstimator(), previous, current)
    rng = np.random.default_rng(2)
    remembered, dreamed = (rng.normal(0, 0.04, previous.shape).astype(np.float32) for _ in range(2))
    state = {"source": previous, "output": np.clip(previous / 255.0 + dreamed, 0, 1).astype(np.float32),
             "strength": np.float64(0.04), "background": remembered}
    base = current / 255.0
    correlations = {}
    for memory in (True, False):
        settings = Resolved(merge(("test", {"flow": "dis", "wake_memory": memory})), fps=12)
        start = start_image(clip.FLOW_METHODS["dis"], 1, source, state, settings)
        in_the_wake = (start.target - base)[source.wake].ravel()
        correlations[memory] = np.corrcoef(in_the_wake, remembered[source.wake].ravel())[0, 1]
        assert np.allclose(start.image[source.wake], start.target[source.wake])  # it starts there too
    assert correlations[True] > 0.95 and abs(correlations[False]) < 0.2, correlations
    smear = temporal.carried_residual(state["output"] - previous / 255.0, source.backward, local=True)
    elsewhere = source.inside & ~source.wake  # the rest is carried as before
    assert np.corrcoef((start.target - base)[elsewhere].ravel(), smear[elsewhere].ravel())[0, 1] > 0.95


def test_the_background_is_remembered_where_it_shows_and_kept_where_a_mover_covers_it():
    previous, current = square_pair()
    source = temporal.analyse(FlowEstimator(), previous, current)
    assert np.abs(source.camera).max() < 0.3  # a still camera: the square's motion is not the camera's
    assert np.median(source.uncertainty[:20]) < 0.5  # the still scene is tracked to well within a pixel
    settled = temporal.settled(source)
    assert not settled[30:60, 46:76].any()  # the square
    assert settled[:20].mean() > 0.9 and settled[70:].mean() > 0.9  # the still scene around it
    old, new = np.zeros((*previous.shape[:2], 3), np.float32), np.ones((*previous.shape[:2], 3), np.float32)
    age = np.where(settled, temporal.STILL_FRAMES, 0).astype(np.float32)  # kept still long enough, or never
    after = temporal.background_after(temporal.Start(current, False, background=old, still_age=age), new)
    assert np.array_equal(after[settled], new[settled]) and np.array_equal(after[~settled], old[~settled])
    fresh = temporal.background_after(temporal.Start(current, True), new)  # a fresh dream: all of it
    assert np.array_equal(fresh, new)


def test_a_pixel_is_remembered_as_background_once_it_has_kept_still_for_a_while():
    previous, current = square_pair()
    source = temporal.analyse(FlowEstimator(), previous, current)
    state = {"source": previous, "output": (previous / 255.0).astype(np.float32), "strength": np.float64(0.05),
             "background": np.zeros((*previous.shape[:2], 3), np.float32)}
    settings = Resolved(merge(("test", {"flow": "dis"})), fps=12)
    ages = []
    for _ in range(temporal.STILL_FRAMES):
        start = start_image(clip.FLOW_METHODS["dis"], 1, source, state, settings)
        ages.append(start.still_age)
        state = {**state, "still_age": start.still_age}
    assert np.array_equal(ages[0], temporal.settled(source).astype(np.float32))  # a fresh start counts from 0
    assert not (start.still_age[30:60, 46:76] >= temporal.STILL_FRAMES).any()  # the square never keeps still
    scene = np.s_[2:12, 4:-4]  # still, away from the square (its motion spreads some 14 px) and the edges
    assert ages[-2][scene].min() == temporal.STILL_FRAMES - 1 and ages[-2].max() < temporal.STILL_FRAMES
    assert (start.still_age[scene] >= temporal.STILL_FRAMES).all()  # remembered from its STILL_FRAMES-th frame on


def test_the_carried_dream_is_as_sharp_as_the_motion_is_known():
    residual = np.random.default_rng(3).normal(0, 0.1, (48, 64, 3)).astype(np.float32)  # the finest grain
    uncertainty = np.zeros((48, 64), np.float32)
    uncertainty[:, 32:] = 4.0  # the two flows miss each other by 4 px on the right half
    carried = temporal.as_sharp_as_known(residual, uncertainty)
    assert np.array_equal(carried[:, :28], residual[:, :28])  # known to a pixel: untouched
    assert np.abs(carried[:, 40:]).mean() < 0.3 * np.abs(residual[:, 40:]).mean()  # a fine grain averages out
    assert temporal.as_sharp_as_known(residual, np.full((48, 64), 0.9, np.float32)) is residual


def test_the_flows_round_trip_error_is_how_far_they_miss():
    backward = np.full((20, 30, 2), 2.0, np.float32)
    assert np.allclose(RoundTrip.of(backward, -backward).error(), 0.0)  # each undoes the other
    forward = -backward
    forward[..., 0] += 3.0  # the forward flow is 3 px off horizontally
    assert np.allclose(RoundTrip.of(backward, forward).error()[5:-5, 5:-5], 3.0)


def test_noise_hold_holds_the_carried_dream_where_the_check_fails_on_noise_not_motion():
    previous, current = square_pair(noise=3.0)
    plain = temporal.analyse(FlowEstimator(), previous, current)
    source = temporal.analyse(FlowEstimator(), previous, current, "on")
    assert plain.steady is None and plain.held() is plain.weights  # off: the hold is the reliability
    away = np.ones_like(source.wake)
    away[26:64, 34:82] = False  # the square and the strip its motion spreads over
    failed_on_noise = (source.weights < 0.5) & away
    assert source.steady[failed_on_noise].mean() > 0.5, source.steady[failed_on_noise].mean()
    # what the mover uncovers changed in place: motion, not noise (but for a few pixels between 6/255 and 10/255)
    assert (source.steady & source.wake).sum() < 0.1 * source.wake.sum()
    held, steady = source.held(), source.steady
    assert held[steady].mean() > source.weights[steady].mean() + 0.2 and (held >= source.weights).all()
    assert np.array_equal(held[source.weights == 1], source.weights[source.weights == 1])


def night_pair(noise: float) -> tuple[np.ndarray, np.ndarray]:
    """square_pair at a quarter of its light, with sensor noise of `noise` grey levels added after."""
    rng = np.random.default_rng(1)
    return tuple(np.clip(frame * 0.25 + rng.normal(0, noise, frame.shape), 0, 255).astype(np.uint8)
                 for frame in square_pair())


def test_the_automatic_noise_hold_engages_where_the_flow_follows_noise_and_not_on_clean_footage():
    clean = temporal.analyse(FlowEstimator(), *square_pair(), "auto")
    bright_noisy = temporal.analyse(FlowEstimator(), *square_pair(noise=3.0), "auto")
    night = temporal.analyse(FlowEstimator(), *night_pair(noise=6.0), "auto")
    # the mover's inside fails the check on still content in every case: a share of it, under NOISY_SHARE's start
    assert clean.steady.any() and clean.noise == 0.0 and bright_noisy.noise == 0.0
    assert clean.held() is clean.weights and bright_noisy.held() is bright_noisy.weights  # held as without it
    assert night.noise == 1.0, night.noise  # dark and noisy: the flow follows the noise on much of the still scene
    assert night.held()[night.steady].mean() > night.weights[night.steady].mean() + 0.2
    always = temporal.analyse(FlowEstimator(), *square_pair(), "on")
    assert always.noise == 1.0 and (always.held() > always.weights).any()  # `noise_hold`: whatever the frame


def test_the_noise_share_ramps_between_its_bounds():
    still = np.ones((10, 10), bool)
    steady = np.zeros((10, 10), bool)
    low, high = temporal.NOISY_SHARE
    shares = []
    for count in (int(100 * low), round(100 * (low + high) / 2), int(np.ceil(100 * high))):
        steady.flat[:count] = True
        shares.append(temporal.noise_share(steady, still))
    assert shares[0] == 0.0 and 0.4 < shares[1] < 0.6 and shares[2] == 1.0, shares
    assert temporal.noise_share(np.zeros_like(steady), np.zeros_like(still)) == 0.0  # nothing kept still
    moving = np.zeros((10, 10), np.float32)
    moving[:, 5:] = 1.0  # half the picture changed in place: only the other half is still content
    assert temporal.kept_still(moving, np.zeros((10, 10, 2), np.float32)).sum() == 50


def test_clips_hold_noise_automatically_by_default_and_the_settings_choose_the_mode():
    def mode(**given):
        return clip.noise_mode(Resolved(merge(("test", {"flow": "dis", **given})), fps=12))

    assert mode() == "auto"
    assert mode(noise_hold=True) == "on" and mode(noise_hold=True, auto_noise_hold=False) == "on"
    assert mode(auto_noise_hold=False) == "off"
