import os
import shutil
import struct
import subprocess
import sys
import zlib

from PIL import Image
import numpy as np
import pytest

from conftest import SAMPLES
from dreamvid.cli import run
from dreamvid.media.pictures import load_picture
from dreamvid.settings.files import read_toml_file

FAST = ["--size", "48", "--iterations", "2", "--octaves", "2", "--device", "cpu"]


def run_cli(argv, capsys):
    code = run(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_image_end_to_end_writes_picture_and_settings(cat_path, tmp_path, capsys):
    out = tmp_path / "cat.png"
    code, _, err = run_cli(["image", cat_path, "-o", str(out), *FAST, "--seed", "3"], capsys)
    assert code == 0, err
    dreamed = load_picture(str(out))
    assert dreamed.shape == (32, 48, 3)
    saved = read_toml_file(str(out) + ".dreamvid.toml")
    assert saved["mode"] == "image" and saved["iterations"] == 2 and saved["seed"] == 3
    assert saved["layers"] == {"blocks.4": 1.0}
    assert run(["image", cat_path, "-o", str(tmp_path / "soft.png"), *FAST, "--preset", "soft"]) == 0
    assert read_toml_file(str(tmp_path / "soft.png.dreamvid.toml"))["layers"] == {"blocks.3": 0.5, "blocks.4": 0.5}


def test_saved_settings_reproduce_the_render(cat_path, tmp_path, capsys):
    out = tmp_path / "cat.png"
    assert run(["image", cat_path, "-o", str(out), *FAST]) == 0
    again = tmp_path / "again.png"
    assert run(["image", cat_path, "-o", str(again), "--config", str(out) + ".dreamvid.toml"]) == 0
    assert np.array_equal(load_picture(str(out)), load_picture(str(again)))


def test_existing_output_needs_overwrite(cat_path, tmp_path, capsys):
    out = tmp_path / "cat.png"
    out.write_bytes(b"keep me")
    code, _, err = run_cli(["image", cat_path, "-o", str(out), *FAST], capsys)
    assert code == 2 and "--overwrite" in err and out.read_bytes() == b"keep me"
    assert run(["image", cat_path, "-o", str(out), *FAST, "--overwrite"]) == 0


def bad_inputs(tmp_path, cat_path):
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture")
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (8, 8)).save(tiny)
    out = str(tmp_path / "out.png")
    bomb = str(tmp_path / "bomb.png")
    png_claiming(tmp_path / "bomb.png", 40000, 40000)
    return [
        (["image", str(tmp_path / "missing.png"), "-o", out], "input not found"),
        (["image", str(text), "-o", out], "not a picture"),
        (["image", str(tmp_path), "-o", out], "folder"),
        (["image", str(tiny), "-o", out], "too small"),
        (["image", cat_path, "-o", out, "--model", "alexnet"], "googlenet"),
        (["image", cat_path, "-o", out, "--layers", "blocks.12"], "blocks.4"),
        (["image", cat_path, "-o", out, "--preset", "nope"], "textures"),
        (["image", cat_path, "-o", out, "--octaves", "0"], "octaves"),
        (["image", cat_path, "-o", out, "--octave-scale", "1"], "octave_scale"),
        (["image", cat_path, "-o", out, "--iterations", "-1"], "iterations"),
        (["image", cat_path, "-o", out, "--size", "8"], "size"),
        (["image", cat_path, "-o", out, "--step", "abc"], "step"),
        (["image", cat_path, "-o", str(tmp_path / "no" / "such" / "out.png")], "folder does not exist"),
        (["image", cat_path, "-o", str(tmp_path / "out.xyz")], "extension"),
        (["image", cat_path, "-o", out, "--config", str(tmp_path / "none.toml")], "not found"),
        (["image", cat_path, "-o", out, "--model", "googlenet"], "googlenet-1378be20.pth"),
        (["image", cat_path, "-o", out, "--guide", str(tmp_path / "none.jpg")], "not found"),
        (["image", cat_path, "-o", out, "--channels", "9999", *FAST], "channels"),
        (["image", cat_path, "-o", out, "--bogus"], "unrecognized arguments"),
        (["image", cat_path], "required"),
        (["image", bomb, "-o", out], "claims 1,600,000,000 pixels"),
        (["image", cat_path, "-o", out, "--guide", bomb, *FAST], "claims 1,600,000,000 pixels"),
    ]


def test_every_bad_input_is_one_line_exit_2_and_no_output(cat_path, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for argv, fragment in bad_inputs(tmp_path, cat_path):
        code, out, err = run_cli(argv, capsys)
        assert code == 2, (argv, err)
        assert fragment in err, (argv, err)
        assert err.count("\n") == 1 and "Traceback" not in err, (argv, err)
        leftovers = [name for name in os.listdir(tmp_path) if name.startswith(("out", ".dreamvid"))]
        assert not leftovers, (argv, leftovers)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(path, width, height):
    """A tiny PNG whose header claims width x height RGB pixels (a decompression bomb's header)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(b"\0" * 1000))
                     + png_chunk(b"IEND", b""))


def png_16bit_grey(path, width=40, height=30):
    """Write a 16-bit greyscale PNG by hand (a gradient up to 65535)."""
    rows = b"".join(b"\x00" + b"".join(struct.pack(">H", x * 65535 // (width - 1)) for x in range(width))
                    for _ in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
                     + chunk(b"IEND", b""))


def test_odd_picture_modes_become_rgb(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    Image.fromarray(rgb).convert("L").save(tmp_path / "grey.png")
    rgba = Image.fromarray(rgb).convert("RGBA")
    rgba.putalpha(0)
    rgba.save(tmp_path / "clear.png")
    Image.fromarray(rgb).convert("P").save(tmp_path / "palette.png")
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg")
    png_16bit_grey(tmp_path / "deep.png")
    for name in ("grey.png", "clear.png", "palette.png", "cmyk.jpg", "deep.png"):
        frame = load_picture(str(tmp_path / name))
        assert frame.shape == (30, 40, 3) and frame.dtype == np.uint8, name
    assert (load_picture(str(tmp_path / "clear.png")) == 255).all()  # transparent -> white, not black
    deep = load_picture(str(tmp_path / "deep.png"))
    assert deep[0, 0, 0] == 0 and deep[0, -1, 0] == 255 and 100 < deep[0, 20, 0] < 155  # scaled, not clipped
    cmyk = load_picture(str(tmp_path / "cmyk.jpg")).astype(int)
    assert np.abs(cmyk - rgb).mean() < 40


def test_exif_orientation_is_respected(tmp_path):
    wide = np.zeros((20, 40, 3), np.uint8)
    wide[:, :20] = 255  # white on the left half
    picture = Image.fromarray(wide)
    exif = picture.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    picture.save(tmp_path / "rotated.jpg", exif=exif.tobytes())
    frame = load_picture(str(tmp_path / "rotated.jpg"))
    assert frame.shape == (40, 20, 3)
    assert frame[:20].mean() > 200 and frame[20:].mean() < 50  # the left half is now on top


def test_rgba_dreams_end_to_end(tmp_path, capsys):
    Image.new("RGBA", (50, 40), (200, 30, 30, 128)).save(tmp_path / "a.png")
    assert run(["image", str(tmp_path / "a.png"), "-o", str(tmp_path / "a.jpg"), *FAST]) == 0


def test_presets_and_layers_commands(capsys):
    code, out, _ = run_cli(["presets"], capsys)
    assert code == 0 and "eyes" in out and "classic DeepDream look" in out
    assert "layers for efficientnet_lite0: blocks.3=0.5 blocks.4=0.5" in out  # video-subtle's roles, resolved
    code, out, _ = run_cli(["presets", "--model", "googlenet"], capsys)
    assert code == 0 and "layers for googlenet: inception4a=0.5 inception4c=0.5" in out
    code, out, _ = run_cli(["layers"], capsys)
    assert code == 0 and "blocks.4   (default)" in out and "blocks.2" in out
    code, out, _ = run_cli(["layers", "--model", "googlenet"], capsys)
    assert code == 0 and "inception4c   (default)" in out
    code, _, err = run_cli(["layers", "--model", "nope"], capsys)
    assert code == 2 and "googlenet" in err


def test_layer_atlas_is_a_labelled_contact_sheet(cat_path, tmp_path, capsys):
    out = tmp_path / "atlas.png"
    code, _, err = run_cli(["layers", "--atlas", cat_path, "-o", str(out), "--size", "40"], capsys)
    assert code == 0, err
    atlas = load_picture(str(out))
    tile_height, tile_width = atlas.shape[0] // 2, 40  # input + 7 layers on a 4-wide grid
    assert atlas.shape == (2 * tile_height, 4 * tile_width, 3) and tile_height >= 27 + 14  # the cat, then its label
    assert (atlas[0] < 250).any() and (atlas[tile_height - 1] == 255).all()  # the picture on top, the label below


@pytest.mark.parametrize("size", ["0", "-5", "99999999"])
def test_an_atlas_tile_size_out_of_range_is_one_line(cat_path, tmp_path, capsys, size):
    out = tmp_path / "atlas.png"  # 0 and -5 dreamed the picture whole (minutes); 99999999 was a MemoryError
    code, _, err = run_cli(["layers", "--atlas", cat_path, "-o", str(out), "--size", size], capsys)
    assert code == 2 and "--size" in err and err.count("\n") == 1 and not out.exists(), err


def test_help_returns_zero(capsys):
    assert run(["--help"]) == 0
    assert "image" in capsys.readouterr().out


def child_python(code, **options):
    """Run `code` in a fresh interpreter on this checkout (start-up is about what a new process imports)."""
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    return subprocess.run([sys.executable, "-c", code], env=env, **options)


def test_the_light_commands_import_neither_torch_nor_cv2():
    probe = ("import sys; from dreamvid.cli import run; import dreamvid; "
             "codes = [run(argv) for argv in (['presets'], ['layers'], ['layers', '--model', 'vgg16'])]; "
             "print(codes, sorted(m for m in ('torch', 'torchvision', 'cv2') if m in sys.modules))")
    result = child_python(probe, capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[0, 0, 0] []", result.stdout + result.stderr


def test_the_api_still_offers_dream_image():
    import dreamvid
    from dreamvid.api import dream_image

    assert dreamvid.dream_image is dream_image and "dream_image" in dreamvid.__all__
    with pytest.raises(AttributeError):
        dreamvid.no_such_thing


def test_a_reader_that_closed_the_pipe_gets_no_traceback():
    """`dreamvid presets | head -1`: the reader is gone before the first line; exit quietly."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # closed before anything is written, so every write fails (no race with a buffer)
    try:
        code = "import sys; sys.argv = ['dreamvid', 'presets']; from dreamvid.cli import run_main; run_main()"
        result = child_python(code, stdout=write_end, stderr=subprocess.PIPE, text=True)
    finally:
        os.close(write_end)
    assert result.stderr == "" and result.returncode == 141, result.stderr


def test_a_parse_error_names_its_command_once(cat_path, tmp_path, capsys):
    code, _, err = run_cli(["image", cat_path, "-o", str(tmp_path / "x.png"), "--bogus"], capsys)
    assert code == 2 and err == "dreamvid image: error: unrecognized arguments: --bogus\n"
    code, _, err = run_cli(["image"], capsys)
    assert code == 2 and err.startswith("dreamvid image: error: the following arguments are required")


def test_a_bare_dreamvid_shows_the_usage_and_the_commands(capsys):
    code, out, err = run_cli([], capsys)
    assert code == 0 and err == "" and out.startswith("usage: dreamvid")
    for command in ("image", "zoom", "video", "render", "audio", "presets", "layers"):
        assert command in out


def test_every_path_in_a_job_file_resolves_against_the_job_file(cat_path, tmp_path, monkeypatch, capsys):
    jobs, elsewhere = tmp_path / "jobs", tmp_path / "elsewhere"
    jobs.mkdir()
    elsewhere.mkdir()
    shutil.copyfile(cat_path, jobs / "cat.jpg")
    shutil.copyfile(os.path.join(SAMPLES, "coffee.jpg"), jobs / "guide.jpg")
    shutil.copyfile(os.path.join(SAMPLES, "rocket.jpg"), elsewhere / "guide.jpg")  # the wrong one, if looked up here
    settings = 'size = 48\niterations = 2\noctaves = 1\ndevice = "cpu"\n'
    (jobs / "job.toml").write_text(f'mode = "image"\ninput = "cat.jpg"\noutput = "out.png"\nguide = "guide.jpg"\n'
                                   f'{settings}')
    reference = tmp_path / "reference.png"
    assert run(["image", cat_path, "-o", str(reference), *FAST[:2], "--iterations", "2", "--octaves", "1",
                "--device", "cpu", "--guide", str(jobs / "guide.jpg")]) == 0
    monkeypatch.chdir(elsewhere)
    assert run(["render", str(jobs / "job.toml")]) == 0, capsys.readouterr().err
    assert np.array_equal(load_picture(str(jobs / "out.png")), load_picture(str(reference)))

    saved = read_toml_file(str(jobs / "out.png.dreamvid.toml"))  # paths relative to the sidecar itself
    assert (saved["input"], saved["output"], saved["guide"]) == ("cat.jpg", "out.png", "guide.jpg")
    shutil.copytree(jobs, tmp_path / "moved")
    assert run(["render", str(tmp_path / "moved" / "out.png.dreamvid.toml"), "--overwrite"]) == 0
    assert np.array_equal(load_picture(str(tmp_path / "moved" / "out.png")), load_picture(str(reference)))


def test_a_job_files_sound_weights_and_colour_reference_are_found_beside_it(tmp_path, monkeypatch):
    from dreamvid.settings.files import load_job

    (tmp_path / "job.toml").write_text('mode = "zoom"\noutput = "out.mp4"\naudio = "music.wav"\n'
                                       'weights = "net.pth"\ncolour_reference = "colours.png"\nguide = ""\n')
    monkeypatch.chdir("/")
    _, _, output, settings = load_job(str(tmp_path / "job.toml"))
    assert output == str(tmp_path / "out.mp4") and settings["guide"] == ""
    assert [settings[name] for name in ("audio", "weights", "colour_reference")] == [
        str(tmp_path / "music.wav"), str(tmp_path / "net.pth"), str(tmp_path / "colours.png")]


def extreme_shapes(tmp_path):
    panorama, strip = tmp_path / "panorama.png", tmp_path / "strip.png"
    Image.new("RGB", (16000, 100), (90, 120, 150)).save(panorama)
    Image.new("RGB", (400, 40), (90, 120, 150)).save(strip)
    from dreamvid.media.synthetic import write_clip

    write_clip([np.full((16, 320, 3), 40 * t, np.uint8) for t in range(3)], str(tmp_path / "strip.mp4"), fps=12)
    return [(["image", str(panorama), "--size", "192"], "16:1"), (["zoom", str(panorama), "--frames", "2"], "16:1"),
            (["image", str(strip), "--size", "96"], "at least 16 px"),
            (["zoom", str(strip), "--size", "96", "--frames", "2"], "at least 16 px"),
            (["video", str(tmp_path / "strip.mp4")], "16:1")]


def test_extreme_shapes_are_one_line_for_every_command(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    for argv, reason in extreme_shapes(tmp_path):
        name = "out.png" if argv[0] == "image" else "out.mp4"
        code, _, err = run_cli([*argv, "-o", str(out / name), "--device", "cpu", "--octaves", "1"], capsys)
        assert code == 2 and reason in err and err.count("\n") == 1, (argv, err)
        assert os.listdir(out) == [], argv


def test_two_jobs_with_one_output_are_refused_up_front(cat_path, tmp_path, capsys):
    for name in ("a.toml", "b.toml"):
        (tmp_path / name).write_text(f'mode = "zoom"\ninput = "{cat_path}"\noutput = "same.mp4"\nsize = 48\n'
                                     'frames = 2\noctaves = 1\niterations = 1\ndevice = "cpu"\n')
    code, _, err = run_cli(["render", str(tmp_path / "a.toml"), str(tmp_path / "b.toml")], capsys)
    assert code == 2 and "a.toml and" in err and "same.mp4" in err and err.count("\n") == 1, err
    assert sorted(os.listdir(tmp_path)) == ["a.toml", "b.toml"]  # nothing rendered
