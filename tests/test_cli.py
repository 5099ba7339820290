import os
import struct
import subprocess
import sys
import zlib

from PIL import Image
import numpy as np
import pytest

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
    tile_height, tile_width = 27 + 28, 40  # 40 px wide cat is 27 px tall, plus the label strip
    assert atlas.shape == (2 * tile_height, 4 * tile_width, 3)  # input + 7 layers on a 4-wide grid


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
    assert code == 2 and err == "dreamvid: error: unrecognized arguments: --bogus\n"
    code, _, err = run_cli(["image"], capsys)
    assert code == 2 and err.startswith("dreamvid image: error: the following arguments are required")


def test_a_bare_dreamvid_shows_the_usage_and_the_commands(capsys):
    code, out, err = run_cli([], capsys)
    assert code == 0 and err == "" and out.startswith("usage: dreamvid")
    for command in ("image", "zoom", "video", "render", "audio", "presets", "layers"):
        assert command in out
