"""Which settings each command takes (settings/commands.py): refused alike from the CLI and from Python,
near misses named, presets matched to their commands, --help showing the preset's values, and sidecars
holding only the command's settings."""

import pytest

import dreamvid
from dreamvid.cli import run
from dreamvid.settings import merge
from dreamvid.settings.commands import COMMAND_GROUPS, preset_commands, sidecar_values
from dreamvid.settings.files import load_preset, read_toml_file
from dreamvid.settings.table import BY_NAME

FAST = ["--size", "48", "--iterations", "1", "--octaves", "1", "--device", "cpu"]


def cli_error(argv, capsys):
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err.strip()


def test_a_setting_of_another_command_is_refused_alike_from_the_cli_and_python(cat_path, tmp_path, capsys):
    err = cli_error(["image", cat_path, "-o", str(tmp_path / "x.png"), "--zoom", "1.5"], capsys)
    with pytest.raises(dreamvid.UserError) as refused:
        dreamvid.dream_image(cat_path, zoom=1.5)
    assert err == f"dreamvid image: error: {refused.value}"
    assert "zoom (--zoom) does not apply to image" in err
    with pytest.raises(dreamvid.UserError, match="workers .* does not apply to zoom"):
        dreamvid.render_zoom(cat_path, str(tmp_path / "z.mp4"), workers=2)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("argv, hint", [
    (["image", "IN", "-o", "OUT.png", "--sise", "48"], "did you mean '--size'?"),
    (["zom", "IN"], "did you mean 'zoom'?"),
    (["image", "IN", "-o", "OUT.png", "--preset", "eyse"], "did you mean 'eyes'?"),
    (["image", "IN", "-o", "OUT.png", "--layers", "blocks.44"], "did you mean 'blocks.4'?"),
    (["image", "IN", "-o", "OUT.png", "--model", "googlenett"], "did you mean 'googlenet'?"),
])
def test_a_typo_gets_a_did_you_mean(argv, hint, cat_path, tmp_path, capsys):
    argv = [cat_path if a == "IN" else str(tmp_path / a) if a.startswith("OUT") else a for a in argv]
    assert hint in cli_error(argv, capsys)


def test_a_misspelt_key_in_a_file_gets_a_did_you_mean(cat_path, tmp_path, capsys):
    config = tmp_path / "my.toml"
    config.write_text("iteration = 3\n")
    assert "did you mean 'iterations'?" in cli_error(
        ["image", cat_path, "-o", str(tmp_path / "x.png"), "--config", str(config)], capsys)


def test_a_flag_error_names_the_command_it_was_given_to(cat_path, tmp_path, capsys):
    assert cli_error(["image", cat_path, "-o", str(tmp_path / "x.png"), "--sise", "4"], capsys).startswith(
        "dreamvid image: error: unrecognized arguments: --sise 4")


def test_presets_say_which_commands_they_are_for(capsys):
    assert preset_commands(load_preset("eyes")) == ["image", "zoom", "video"]
    assert preset_commands(load_preset("music-tunnel")) == ["zoom"]  # zoom keys, and it reads the music
    assert preset_commands(load_preset("video-subtle")) == ["video"]
    assert run(["presets"]) == 0
    listing = capsys.readouterr().out
    assert "for: zoom;" in listing.split("music-tunnel", 1)[1].splitlines()[1]


def test_a_preset_for_another_command_is_refused(cat_path, tmp_path, capsys):
    err = cli_error(["image", cat_path, "-o", str(tmp_path / "x.png"), "--preset", "music-tunnel"], capsys)
    assert "preset music-tunnel is for zoom, not image" in err and "eyes" in err


def test_help_shows_the_values_of_the_preset_the_command_uses(capsys):
    assert run(["zoom", "--help"]) == 0
    zoom_help = " ".join(capsys.readouterr().out.split())
    assert "(default: 5, from preset tunnel)" in zoom_help and "(default: 1.25, from preset tunnel)" in zoom_help
    assert run(["zoom", "--preset", "spiral", "--help"]) == 0
    spiral_help = " ".join(capsys.readouterr().out.split())
    assert "(default: smooth: 0: 0, 60: 12, 180: 6, from preset spiral)" in spiral_help
    assert run(["image", "--help"]) == 0
    assert "(default: 10)" in " ".join(capsys.readouterr().out.split())  # no preset: dreamvid's own


def test_a_sidecar_holds_only_the_settings_of_its_command():
    values = merge(("test", {}))
    still = sidecar_values("image", values)
    assert set(still) == {name for name, s in BY_NAME.items() if s.group == "dream"}
    assert len(still) < len(values) / 2
    clip = sidecar_values("video", values)
    assert "persistence" in clip and "zoom" not in clip and "sidecar" not in clip
    assert set(COMMAND_GROUPS) == {"image", "zoom", "video"}


def test_no_sidecar_writes_none(cat_path, tmp_path, capsys):
    out = tmp_path / "cat.png"
    assert run(["image", cat_path, "-o", str(out), *FAST, "--no-sidecar"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat.png"]
    dreamvid.render_image(cat_path, str(tmp_path / "api.png"), size=48, iterations=1, octaves=1, device="cpu",
                          sidecar=False, progress=False)
    assert not (tmp_path / "api.png.dreamvid.toml").exists()


def test_a_zoom_rendered_again_from_its_sidecar_is_the_same(cat_path, tmp_path, capsys):
    from conftest import decoded

    out = tmp_path / "z.mp4"
    assert run(["zoom", cat_path, "-o", str(out), *FAST, "--frames", "4", "--rotate", "10", "--checkpoint-frames", "2"]) == 0
    first = decoded(out)
    saved = read_toml_file(str(out) + ".dreamvid.toml")
    assert saved["rotate"] == 10 and "persistence" not in saved and "workers" not in saved
    assert run(["render", str(out) + ".dreamvid.toml", "--overwrite"]) == 0
    assert (decoded(out) == first).all()
