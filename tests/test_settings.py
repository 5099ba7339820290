import pytest

from dreamvid.cli import build_parser, given_settings
from dreamvid.settings.files import command_settings
from dreamvid.errors import UserError
from dreamvid.settings import SETTINGS, Resolved, check_schedules, defaults, merge
from dreamvid.settings.files import description, load_preset, preset_names, preset_text


def resolve(argv):
    args = build_parser().parse_args(argv)
    return command_settings(args.command, args.preset, args.config, given_settings(args), "the command line")


def test_defaults_preset_config_flags_in_that_order(tmp_path):
    config = tmp_path / "mine.toml"
    config.write_text("iterations = 7\nstep = 0.03\n")
    base = ["image", "in.png", "-o", "out.png"]
    assert resolve(base)["iterations"] == 10
    assert resolve(base + ["--preset", "eyes"])["iterations"] == 12
    from_config = resolve(base + ["--preset", "eyes", "--config", str(config)])
    assert from_config["iterations"] == 7 and from_config["octaves"] == 4  # octaves still from the preset
    from_flags = resolve(base + ["--preset", "eyes", "--config", str(config), "--iterations", "3"])
    assert from_flags["iterations"] == 3 and from_flags["step"] == 0.03


def test_flags_not_given_never_override_a_file(tmp_path):
    config = tmp_path / "mine.toml"
    config.write_text("jitter = 5\nnoise = true\n")
    settings = resolve(["zoom", "-o", "out.mp4", "--config", str(config)])
    assert settings["jitter"] == 5 and settings["noise"] is True


def test_unknown_keys_are_rejected_with_the_allowed_keys(tmp_path):
    config = tmp_path / "mine.toml"
    config.write_text("iteratons = 7\n")
    with pytest.raises(UserError) as error:
        resolve(["image", "a.png", "-o", "b.png", "--config", str(config)])
    assert "iteratons" in str(error.value) and "allowed keys: model, weights, layers" in str(error.value)


def test_a_file_nested_too_deeply_is_one_line(tmp_path):
    config = tmp_path / "deep.toml"
    config.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")  # tomllib recursed into a RecursionError
    with pytest.raises(UserError, match="deep.toml is not valid TOML: it nests arrays or tables too deeply"):
        resolve(["image", "a.png", "-o", "b.png", "--config", str(config)])


@pytest.mark.parametrize("key, value, fragment", [
    ("octaves", 0, ">= 1"), ("octave_scale", 1.0, "> 1"), ("iterations", -1, ">= 0"),
    ("size", 8, "size"), ("step", "fast", "step"), ("device", "tpu", "auto, cpu, cuda"),
    ("model", "alexnet", "efficientnet_lite0"), ("layers", "blocks.9", "blocks.4"),
    ("octaves", 2.5, "whole number"), ("noise", "yes", "true or false"), ("fps", "0", "fps"),
    ("zoom", "0: 1, 10: 0", "zoom"), ("iterations", "0: 5, x: 3", "iterations"),
])
def test_bad_values_are_rejected_with_the_setting_named(key, value, fragment):
    with pytest.raises(UserError) as error:
        merge(("test", {key: value}))
    assert fragment in str(error.value)


def test_size_zero_or_at_least_sixteen():
    assert merge(("test", {"size": 0}))["size"] == 0
    assert merge(("test", {"size": 16}))["size"] == 16
    with pytest.raises(UserError, match="size"):
        merge(("test", {"size": 15}))


def test_layers_forms_and_default_layer():
    assert merge()["layers"] == {"blocks.4": 1.0}
    assert merge(("t", {"model": "googlenet"}))["layers"] == {"inception4c": 1.0}
    assert merge(("t", {"layers": ["blocks.3=0.5", "blocks.4"]}))["layers"] == {"blocks.3": 0.5, "blocks.4": 1.0}
    scheduled = merge(("t", {"layers": {"blocks.3": "0: 1, 10: 0"}}))["layers"]
    assert scheduled == {"blocks.3": "0: 1, 10: 0"}


def test_every_preset_loads_validates_and_describes_itself():
    names = preset_names()
    assert len(names) >= 4
    for name in names:
        settings = merge((name, load_preset(name)))
        Resolved(settings)
        assert len(description(preset_text(name))) > 20, name


def test_unknown_preset_lists_the_presets():
    with pytest.raises(UserError, match="eyes"):
        load_preset("nope")


def test_schedules_evaluate_per_frame():
    settings = Resolved(merge(("t", {"step": "0: 0.01, 10: 0.03", "iterations": "0: 4, 10: 8"})))
    assert settings.at("step", 5) == pytest.approx(0.02)
    assert settings.at("iterations", 5) == 6 and isinstance(settings.at("iterations", 5), int)


def test_every_setting_has_a_valid_default_and_a_reason():
    for setting in SETTINGS:
        assert setting.help, setting.name
    assert merge() == {**defaults(), "layers": {"blocks.4": 1.0}}


@pytest.mark.parametrize("values, frames, fps, fragment", [
    ({"colour_coherence": "1+sin(t)"}, 10, "30",
     "colour_coherence (--colour-coherence) must be <= 1, got 1.84147 at frame 1"),
    ({"iterations": "10 - t"}, 20, "30", "iterations (--iterations) must be >= 0, got -1 at frame 11"),
    ({"step": "0.1 - 0.01 * s"}, 200, "10", "got -0.001 at frame 101 (10.10 s)"),  # seconds at the real rate
    ({"layers": {"blocks.4": "200 * sin(t)"}}, 5, "30", "layers.blocks.4"),
])
def test_schedules_are_checked_at_every_frame_of_the_render(values, frames, fps, fragment):
    resolved = Resolved(merge(("test", {**values, "fps": fps})))  # each passes the check at its keys
    with pytest.raises(UserError) as error:
        check_schedules(resolved, frames)
    assert fragment in str(error.value)


def test_schedules_within_bounds_for_this_render_pass():
    check_schedules(Resolved(merge(("test", {"step": "0.1 - 0.01 * s", "fps": "10"}))), 101)  # frames 0..100
    check_schedules(Resolved(merge(("test", {"iterations": "10 - t"}))), 11)


def test_every_preset_works_with_every_model():
    from dreamvid.nets.registry import MODELS

    for model, spec in MODELS.items():
        for name in preset_names():
            layers = merge((name, load_preset(name)), ("flags", {"model": model}))["layers"]
            assert layers and set(layers) <= set(spec.layers), (model, name, layers)


def test_roles_name_each_models_own_layers_and_explicit_names_still_work():
    assert merge(("t", {"layers": "eyes"}))["layers"] == {"blocks.4": 1.0}
    assert merge(("t", {"model": "googlenet", "layers": "ornaments=0.5 eyes"}))["layers"] == \
        {"inception4a": 0.5, "inception4c": 1.0}
    assert merge(("t", {"model": "vgg16", "layers": ["textures", "relu5_1=0.3"]}))["layers"] == \
        {"relu3_3": 1.0, "relu5_1": 0.3}
    with pytest.raises(UserError, match="named twice"):
        merge(("t", {"layers": "eyes blocks.4"}))
    with pytest.raises(UserError) as error:
        merge(("t", {"model": "googlenet", "layers": "blocks.4"}))
    assert "textures, ornaments, eyes, deep" in str(error.value) and "inception4c" in str(error.value)
