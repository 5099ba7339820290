"""`dreamvid video --workers N`: a clip's shots on Ray workers give the one-process video frame for frame
and in sound, a worker killed mid-shot is retried from its checkpoint, a resume after the driver died
dreams only the unfinished shots, and `dreamvid render` runs job files side by side. Ray runs on the
CPU here, started once for the module with 2 CPUs."""

from contextlib import contextmanager
from functools import partial
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from conftest import REPO, SAMPLES, decoded, write_vfr_clip
from dreamvid.cli import run
from dreamvid.distributed import shots, workers
from dreamvid.distributed.faults import Faults
from dreamvid.distributed.shots import Shot, fade_weights, fresh_starts, plan_shots
from dreamvid.media.pictures import load_picture
from dreamvid.media.synthetic import cut_clip, pan_clip, write_clip
from dreamvid.render.clip import prepare_clip
from dreamvid.settings import merge
from dreamvid.settings.files import read_toml_file

FAST = ["--octaves", "1", "--iterations", "1", "--iterations-next", "1", "--device", "cpu", "--checkpoint-frames", "4"]
SIZE = (64, 48)
pytestmark = pytest.mark.slow  # Ray clusters and renders on workers

FRAMES = 18  # cuts at 6 (inside segment [4, 8): its frames come from two shots) and at 12 (a segment boundary)
SHOTS = [(0, 6), (6, 12), (12, 18)]


def video(source, out, *extra):
    return run(["video", str(source), "-o", str(out), *FAST, *extra])


@contextmanager
def worker_threads():
    """The one-process render with the torch threads of each worker (2 CPUs / 2 workers): another thread
    count sums in another order, and the dream's feedback grows the rounding into visible differences."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def one_process(source, out, *extra):
    with worker_threads():
        assert video(source, out, *extra) == 0


def sound(path):
    from dreamvid.media.process import ffmpeg_exe

    pcm = subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(path), "-map", "0:a:0", "-f", "f32le", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(pcm, np.float32)


def dreamed(log):
    """The frames dreamed by any worker, one entry per dream (faults.py writes a file for each)."""
    return sorted(int(name.split("-")[1]) for name in os.listdir(log) if name.startswith("dream-"))


def assert_same_video(path, reference):
    a, b = decoded(reference), decoded(path)
    assert a.shape == b.shape == (FRAMES, SIZE[1], SIZE[0], 3)
    for index, (frame_a, frame_b) in enumerate(zip(a, b)):
        assert np.array_equal(frame_a, frame_b), f"frame {index} differs"
    assert np.array_equal(sound(reference), sound(path))


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="the Ray tests need the extra: pip install \".[test,ray]\"")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """18 frames at 12 fps over a 440 Hz tone: pans over three pictures, two hard cuts; with the one-process
    render of it (the reference every distributed render must equal)."""
    folder = tmp_path_factory.mktemp("clip")
    cat, coffee, rocket = (load_picture(os.path.join(SAMPLES, name)) for name in ("chelsea.jpg", "coffee.jpg",
                                                                                 "rocket.jpg"))
    write_clip(cut_clip(cat, coffee, 12, SIZE) + pan_clip(rocket, 6, SIZE, 1.0), str(folder / "cuts.mp4"), fps=12)
    one_process(folder / "cuts.mp4", folder / "one.mp4")
    one_process(folder / "cuts.mp4", folder / "one" / "%05d.png")  # PNG: lossless, and its segments are folders
    return folder / "cuts.mp4", folder / "one.mp4"


def png_reference(clip):
    return png_frames(clip[1].parent / "one")


def inject_faults(monkeypatch, **faults):
    """Every render on workers in this test runs with these faults (distributed/faults.py)."""
    monkeypatch.setattr(workers, "render_shots", partial(workers.render_shots, faults=Faults(**faults)))


@pytest.fixture
def log(tmp_path, monkeypatch):
    folder = tmp_path / "log"
    folder.mkdir()
    inject_faults(monkeypatch, log=str(folder))
    return folder


def test_the_shots_start_where_the_renderer_starts_afresh(clip, tmp_path):
    source, _ = clip
    for flow, starts in (("dis", [0, 6, 12]), ("blend", [0]), ("none", [0])):
        settings = merge(("test", {"flow": flow, "checkpoint_frames": 4}))
        _, work = prepare_clip(str(source), str(tmp_path / "x.mp4"), settings)
        assert list(fresh_starts(work)) == starts, flow


def test_long_shots_split_on_segment_boundaries_and_warm_up_before_each_piece():
    assert list(plan_shots([0, 6, 12], 18)) == [Shot(a, b, a) for a, b in SHOTS]
    # pieces of about 5 frames ending on multiples of 4; the second warms up over the 3 frames before it,
    # cross-fading there with the first
    assert list(plan_shots(iter([0, 14]), 20, piece=5, warmup=3, segment=4)) == [
        Shot(0, 8, 0, fade_out_from=5), Shot(8, 14, 5, fades_in=True), Shot(14, 20, 14)]
    # a warm-up reaching back to the shot's start is the unsplit dream (no fade); one never reaches back
    # past the previous piece
    pieces = list(plan_shots([0], 10, piece=4, warmup=6, segment=2))
    assert pieces == [Shot(0, 4, 0), Shot(4, 8, 0, fade_out_from=4), Shot(8, 10, 4, fades_in=True)]
    assert fade_weights(pieces) == {4: 0.2, 5: 0.4, 6: 0.6, 7: 0.8}


def test_two_workers_give_the_one_process_video(ray_cluster, clip, tmp_path, log, capsys):
    source, reference = clip
    out = tmp_path / "two.mp4"
    assert video(source, out, "--workers", "2") == 0, capsys.readouterr().err
    assert_same_video(out, reference)
    assert out.read_bytes() == reference.read_bytes()  # the same segments, encoded alike, joined alike
    assert dreamed(log) == list(range(FRAMES))
    assert sorted(os.listdir(tmp_path)) == ["log", "two.mp4", "two.mp4.dreamvid.toml"]  # no state left
    assert read_toml_file(str(tmp_path / "two.mp4.dreamvid.toml"))["workers"] == 2


def png_frames(folder):
    return np.stack([load_picture(str(folder / name)) for name in sorted(os.listdir(folder))])


def test_a_variable_rate_clip_keeps_its_held_frames_across_shots(ray_cluster, tmp_path, capsys):
    cat, coffee = (load_picture(os.path.join(SAMPLES, name)) for name in ("chelsea.jpg", "coffee.jpg"))
    held = [1, 3, 2, 1, 4, 1, 2]  # a cut after the third stored frame, inside the first 4-frame segment
    source = tmp_path / "vfr.mp4"
    write_vfr_clip(source, pan_clip(cat, 3, SIZE, 1.0) + pan_clip(coffee, 4, SIZE, 1.0), held, 12)
    _, work = prepare_clip(str(source), str(tmp_path / "x.mp4"), merge(("test", {"checkpoint_frames": 4})))
    assert list(fresh_starts(work)) == [0, 3] and work.plan.repeats == tuple(held)
    one_process(source, tmp_path / "one.mp4")
    assert video(source, tmp_path / "two.mp4", "--workers", "2") == 0, capsys.readouterr().err
    assert len(decoded(tmp_path / "two.mp4")) == sum(held)
    assert (tmp_path / "two.mp4").read_bytes() == (tmp_path / "one.mp4").read_bytes()


def test_a_worker_killed_mid_shot_is_retried_from_its_checkpoint(ray_cluster, clip, tmp_path, log, monkeypatch,
                                                                 capsys):
    source, _ = clip
    inject_faults(monkeypatch, log=str(log), exit_at=9)  # shot [6, 12) checkpoints after frame 7, dies before 9
    assert video(source, tmp_path / "two" / "%05d.png", "--workers", "2") == 0, capsys.readouterr().err
    assert np.array_equal(png_frames(tmp_path / "two"), png_reference(clip))
    assert len(os.listdir(tmp_path / "two")) == FRAMES
    assert (log / "exit-9").exists()  # a worker did end itself there
    assert dreamed(log) == sorted([*range(FRAMES), 8])  # frame 8 again: the retry started at the checkpoint


def shot_states(state_folder):
    """{(first, stop): next frame} of each shot that has a checkpoint."""
    states = {}
    for name in os.listdir(state_folder / "shots"):
        path = state_folder / "shots" / name / "state.json"
        if path.exists():
            saved = json.loads(path.read_text())
            _, first, stop = map(int, saved["fingerprint"].split("-"))
            states[first, stop] = saved["next_frame"]
    return states


def wait_until_quiet(log, seconds=1.5, deadline=30):
    """Until no worker of the dead driver dreams any more (Ray ends them when their driver is gone)."""
    start, count, since = time.monotonic(), -1, time.monotonic()
    while time.monotonic() - start < deadline:
        now = len(os.listdir(log))
        if now != count:
            count, since = now, time.monotonic()
        elif time.monotonic() - since > seconds:
            return
        time.sleep(0.1)


# The CLI in a child process whose driver ends itself once the first shot is in.
DYING_DRIVER = """
import functools, sys
from dreamvid.cli import run
from dreamvid.distributed import workers
from dreamvid.distributed.faults import Faults
workers.render_shots = functools.partial(workers.render_shots, faults=Faults(log={log!r}, driver_exit_after=1))
sys.exit(run(sys.argv[1:]))
"""


def test_resume_after_the_driver_died_dreams_only_unfinished_shots(ray_cluster, clip, tmp_path, log, capsys):
    source, reference = clip
    out = tmp_path / "resumed.mp4"
    env = {**os.environ, "PYTHONPATH": REPO}
    address = ray_cluster.get_runtime_context().gcs_address
    driver = subprocess.run([sys.executable, "-c", DYING_DRIVER.format(log=str(log)), "video", str(source), "-o",
                             str(out), *FAST, "--ray", address], env=env, capture_output=True, text=True, timeout=120)
    assert driver.returncode == 17, driver.stderr  # the driver ended itself once the first shot was in
    wait_until_quiet(log)
    states = shot_states(tmp_path / "resumed.mp4.dreamvid-state")
    finished = [shot for shot in SHOTS if states.get(shot) == shot[1]]
    assert finished and not out.exists()
    expected = sorted(t for first, stop in SHOTS if (first, stop) not in finished
                      for t in range(states.get((first, stop), first), stop))
    assert 0 < len(expected) < FRAMES
    print("finished before the resume:", finished, "checkpoints:", states, "to dream:", expected)

    for name in os.listdir(log):
        os.remove(log / name)
    assert video(source, out, "--ray", address, "--resume") == 0, capsys.readouterr().err
    assert dreamed(log) == expected  # the finished shots were kept, the others went on from their checkpoints
    assert_same_video(out, reference)


def test_a_resume_with_a_finished_shots_segment_missing_dreams_that_shot_again(ray_cluster, clip, tmp_path, log,
                                                                               monkeypatch, capsys):
    from dreamvid.distributed import workers

    source, reference = clip
    out = tmp_path / "out.mp4"

    def stop(*args):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(workers, "finish_render", stop)  # every shot finished, the join not begun
        assert video(source, out, "--workers", "2") == 130
    (tmp_path / "out.mp4.dreamvid-state" / "segment_00000.mp4").unlink()  # inside shot [0, 6)
    for name in os.listdir(log):
        os.remove(log / name)
    capsys.readouterr()
    assert video(source, out, "--workers", "2", "--resume") == 0, capsys.readouterr().err
    assert "shot_000000: segment_00000.mp4 is missing" in capsys.readouterr().err
    assert dreamed(log) == list(range(6))  # that shot only
    assert_same_video(out, reference)


# The CLI as a Ray driver in a child process whose workers log each frame they dream.
LOGGING_DRIVER = """
import functools, sys
from dreamvid.cli import run
from dreamvid.distributed import workers
from dreamvid.distributed.faults import Faults
workers.render_shots = functools.partial(workers.render_shots, faults=Faults(log={log!r}))
sys.exit(run(sys.argv[1:]))
"""


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_sigterm_on_a_workers_driver_exits_143_with_one_line(ray_cluster, clip, tmp_path, log):
    source, _ = clip
    out = tmp_path / "out.mp4"
    address = ray_cluster.get_runtime_context().gcs_address
    driver = subprocess.Popen([sys.executable, "-c", LOGGING_DRIVER.format(log=str(log)), "video", str(source),
                               "-o", str(out), *FAST, "--ray", address], env={**os.environ, "PYTHONPATH": REPO},
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not dreamed(log) and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    driver.terminate()
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 143, err
    lines = [line for line in err.splitlines() if line.startswith("dreamvid")]
    assert lines[0].startswith("dreamvid: video: 18 frames at 64x48"), err  # the render's first line (report.py)
    assert len(lines) == 2 and "--resume" in lines[1] and "Traceback" not in err, err
    wait_until_quiet(log)


def test_render_runs_job_files_side_by_side(ray_cluster, cat_path, tmp_path, capsys):
    jobs, outputs = [], []
    for zoom in ("1.2", "0.8"):
        out = tmp_path / f"zoom{zoom}.mp4"
        assert run(["zoom", cat_path, "-o", str(out), "--size", "48", "--octaves", "1", "--iterations", "1",
                    "--device", "cpu", "--frames", "3", "--zoom", zoom]) == 0
        jobs.append(str(out) + ".dreamvid.toml")
        outputs.append(decoded(out))
    assert run(["render", *jobs, "--workers", "2", "--overwrite"]) == 0, capsys.readouterr().err
    for job, frames in zip(jobs, outputs):
        assert np.array_equal(decoded(job.removesuffix(".dreamvid.toml")), frames)


def test_max_shot_seconds_dreams_each_piece_after_a_warm_up(ray_cluster, clip, tmp_path, log, monkeypatch, capsys):
    source, _ = clip
    monkeypatch.setattr(shots, "WARMUP_SECONDS", 0.1)  # 1 frame at 12 fps (the driver plans the pieces)
    out = tmp_path / "pieces" / "%05d.png"
    # 0.3 s = 4 frames at 12 fps, pieces ending on segment boundaries: [0, 4) [4, 6), [6, 12), [12, 16) [16, 18);
    # [4, 6) warms up over frame 3 and [16, 18) over 15, each cross-fading there with the piece before
    assert video(source, out, "--workers", "2", "--max-shot-seconds", "0.3") == 0, capsys.readouterr().err
    assert dreamed(log) == sorted([*range(FRAMES), 3, 15])
    a, b = png_reference(clip), png_frames(tmp_path / "pieces")
    assert len(b) == FRAMES
    exact = [t for t in range(FRAMES) if np.array_equal(a[t], b[t])]
    assert exact == [0, 1, 2, *range(6, 15)]  # every frame before a warm-up; the fades and the pieces differ


def test_without_ray_the_message_says_how_to_install_it(clip, tmp_path, monkeypatch, capsys):
    source, _ = clip
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    assert video(source, tmp_path / "out.mp4", "--workers", "2") == 2
    err = capsys.readouterr().err
    assert 'pip install "dreamvid[ray]"' in err and err.count("\n") == 1, err
    assert os.listdir(tmp_path) == []


def test_an_address_that_does_not_answer_is_one_line():
    pytest.importorskip("ray", reason="the Ray tests need the extra: pip install \".[test,ray]\"")
    from dreamvid.errors import UserError
    from dreamvid.distributed.cluster import check_reachable

    with pytest.raises(UserError, match="cannot reach the Ray cluster at '127.0.0.1:1'"):
        check_reachable("127.0.0.1:1")  # Ray itself would retry it for minutes


def test_help_does_not_import_ray():
    probe = "import sys; from dreamvid.cli import run; run(['video', '--help']); print('ray' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONPATH": REPO})
    assert result.stdout.strip().splitlines()[-1] == "False"
