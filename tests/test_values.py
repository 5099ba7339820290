"""Numbers are checked once, in the settings table: any value, from any source, is in range or one line."""

import pytest

from dreamvid.cli import run
from dreamvid.errors import UserError
from dreamvid.settings import SETTINGS, merge


def one_line_error(argv, capsys):
    code = run(argv)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("flag", ["--seed", "--size", "--octaves", "--tile", "--crf", "--frames"])
@pytest.mark.parametrize("value", ["inf", "nan", "1e30", "-inf", "1e400"])
def test_integer_flags_given_inf_nan_or_huge_are_one_line(flag, value, cat_path, tmp_path, capsys):
    err = one_line_error(["zoom", cat_path, "-o", str(tmp_path / "out.mp4"), f"{flag}={value}"], capsys)
    assert flag in err and "it takes a whole number" in err
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("flag", ["--translate-x", "--translate-y", "--rotate"])
def test_camera_moves_have_sane_ranges(flag, cat_path, tmp_path, capsys):
    err = one_line_error(["zoom", cat_path, "-o", str(tmp_path / "out.mp4"), flag, "1e308"], capsys)
    assert f"({flag}) must be <=" in err and ">= -" in err


@pytest.mark.parametrize("line", ["seed = nan", "frames = 1e400", "seed = inf", "crf = -inf", "size = 1e30"])
def test_job_files_with_inf_nan_or_huge_numbers_are_one_line(line, cat_path, tmp_path, capsys):
    job = tmp_path / "job.toml"
    job.write_text(f'mode = "zoom"\ninput = "{cat_path}"\noutput = "out.mp4"\n{line}\n')
    err = one_line_error(["render", str(job)], capsys)
    assert f"{line.split()[0]} (--" in err


def numeric(setting) -> bool:
    return setting.kind in ("int", "float", "schedule")


@pytest.mark.parametrize("setting", [s for s in SETTINGS if numeric(s)], ids=lambda s: s.name)
@pytest.mark.parametrize("value", [float("inf"), float("nan"), 10**400, -10**400, 1e300, "1e400"])
def test_every_numeric_setting_refuses_what_is_not_a_finite_number_in_range(setting, value):
    with pytest.raises(UserError) as error:
        merge(("the API", {setting.name: value}))
    assert setting.name in str(error.value) and "\n" not in str(error.value)


def test_the_message_names_the_range():
    with pytest.raises(UserError) as error:
        merge(("the API", {"seed": 2**40}))
    assert str(error.value) == ("seed (--seed) must be <= 4294967295, got 1099511627776; "
                                "it takes a whole number >= 0 and <= 4294967295")


def test_a_nul_byte_in_a_path_is_refused():
    with pytest.raises(UserError, match="guide"):
        merge(("the API", {"guide": "a\0b.png"}))


@pytest.mark.parametrize("flag, value", [("--size", "9" * 100_000 + "x"), ("--zoom", "x" * 100_000),
                                         ("--interpolation", "y" * 100_000)])
def test_a_huge_value_gives_a_message_of_a_few_lines_length(flag, value, cat_path, tmp_path, capsys):
    err = one_line_error(["zoom", cat_path, "-o", str(tmp_path / "out.mp4"), flag, value], capsys)
    assert len(err) < 1100 and flag.lstrip("-") in err and "characters ...]" in err, err[:2000]
