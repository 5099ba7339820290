"""README.md as a newcomer meets it: every `sh` example runs as written, in order, in a fresh copy of the
samples; none of them trips over another's output; the guide comes first, with pictures that exist.

How the examples are shrunk so that they take minutes, not hours: `dreamvid` is a shell function that runs
this checkout's CLI with the example's own arguments followed by small-render flags for its command
(SHRINK below; argparse keeps the last of a repeated flag, so `--size 48` after an example's `--size 512`
wins). Install commands are not rerun (this checkout is the install): what follows their last `&&` runs
when it is a `dreamvid` command. A block right after `<!-- README test: not run (why) -->` is skipped.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from conftest import REPO

README = os.path.join(REPO, "README.md")
SKIP_MARK = "<!-- README test: not run"
SMALL = "--size 48 --iterations 1 --octaves 1"
SHRINK = {"image": SMALL, "zoom": f"{SMALL} --frames 6", "video": f"{SMALL} --iterations-next 1 --frames 6",
          "layers": "--size 32"}


def sh_blocks(text: str) -> list[str]:
    """The `sh` blocks in order, less those marked as not run."""
    blocks = []
    for match in re.finditer(r"```sh\n(.*?)```", text, re.S):
        before = text[:match.start()].rstrip().splitlines()
        if not (before and before[-1].startswith(SKIP_MARK)):
            blocks.append(match[1])
    return blocks


def example_lines(text: str) -> list[str]:
    """Each example command, continuation lines joined; an install line becomes what follows it."""
    lines = []
    for block in sh_blocks(text):
        for line in block.replace("\\\n", " ").splitlines():
            if "pip install" in line:
                line = line.rsplit("&& ", 1)[1] if "&& " in line else ""
                line = line if line.startswith("dreamvid ") else ""
            if line.strip():
                lines.append(line.strip())
    return lines


def readme_examples() -> list[str]:
    with open(README, encoding="utf-8") as handle:
        return example_lines(handle.read())


def outputs_of(line: str) -> list[str]:
    """What an example writes: its -o (a preview's own file), or a shell redirection."""
    words = shlex.split(line, comments=True)
    written = [words[i + 1] for i, word in enumerate(words[:-1]) if word in ("-o", ">")]
    return [re.sub(r"(\.\w+)$", r".preview\1", name) if "--preview" in words else name for name in written]


def test_the_examples_are_found_and_every_one_is_a_dreamvid_command():
    lines = readme_examples()
    assert len(lines) > 20
    assert all(line.startswith("dreamvid ") for line in lines), [l for l in lines if not l.startswith("dreamvid ")]
    assert lines[0] == "dreamvid image samples/chelsea.jpg -o chelsea_dream.jpg"  # from the install line


def test_no_example_writes_what_an_earlier_one_wrote():
    seen = {}
    for line in readme_examples():
        for name in outputs_of(line):
            assert name not in seen or "--overwrite" in line, f"{line!r} writes {name}, as {seen[name]!r} did"
            seen[name] = line


def test_every_input_an_example_names_is_shipped_or_made_earlier():
    made = set()
    for line in readme_examples():
        words = shlex.split(line, comments=True)
        for word in words:
            if word.startswith("samples/"):
                assert os.path.isfile(os.path.join(REPO, word)), f"{line!r} needs {word}"
            if word.endswith(".dreamvid.toml"):
                assert word[: -len(".dreamvid.toml")] in made, f"{line!r} needs {word}, which nothing made"
        made.update(outputs_of(line))


def test_the_guide_comes_first_and_its_pictures_exist():
    with open(README, encoding="utf-8") as handle:
        text = handle.read()
    assert text.index("## First steps") < text.index("# What else it does") < text.index("## Models")
    guide = text[text.index("## First steps"):text.index("# What else it does")]
    for step in ("1. A first picture", "2. A first zoom", "3. A first clip", "4. A first music video"):
        part = guide[guide.index(step):]
        picture = re.search(r'(?:\]\(|src=")(docs/[^)"]+)', part)[1]
        assert os.path.isfile(os.path.join(REPO, picture)), picture
    for picture in re.findall(r'(?:\]\(|src=")(docs/[^)"#]+)', text):
        assert os.path.exists(os.path.join(REPO, picture)), picture
    assert "| cadence | frames/s" not in text and "| cadence | frames/s" in open(
        os.path.join(REPO, "docs", "BENCHMARKS.md"), encoding="utf-8").read()


def test_the_readme_is_a_guide_of_at_most_420_lines_with_the_cpu_install_first():
    with open(README, encoding="utf-8") as handle:
        text = handle.read()
    assert len(text.splitlines()) <= 420
    assert text.index("download.pytorch.org/whl/cpu") < text.index("pip install . &&")


def heading_anchors(path: str) -> set[str]:
    """The anchors GitHub gives a Markdown file's headings: lower case, punctuation dropped, spaces as dashes."""
    with open(path, encoding="utf-8") as handle:
        headings = re.findall(r"^#+ (.+)$", re.sub(r"```.*?```", "", handle.read(), flags=re.S), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def test_every_link_of_the_readme_and_the_docs_leads_somewhere():
    documents = [README] + [os.path.join(REPO, "docs", name) for name in os.listdir(os.path.join(REPO, "docs"))
                            if name.endswith(".md")]
    for document in documents:
        with open(document, encoding="utf-8") as handle:
            text = re.sub(r"```.*?```", "", handle.read(), flags=re.S)
        for target in re.findall(r'\]\(([^)\s]+)\)|src="([^"]+)"', text):
            target = target[0] or target[1]
            if target.startswith(("http://", "https://")):
                continue
            path, _, anchor = target.partition("#")
            linked = os.path.normpath(os.path.join(os.path.dirname(document), path)) if path else document
            assert os.path.exists(linked), f"{os.path.basename(document)} links to {target}: no such file"
            if anchor and linked.endswith(".md"):
                assert anchor in heading_anchors(linked), f"{os.path.basename(document)} links to {target}: no such heading"


def test_the_samples_are_small_and_their_sources_named():
    sources = open(os.path.join(REPO, "samples", "SOURCES.md"), encoding="utf-8").read()
    for name in ("song.mp3", "clip.mp4"):
        assert os.path.getsize(os.path.join(REPO, "samples", name)) < 300_000
        assert f"`{name}`" in sources


def shell_script(lines: list[str]) -> str:
    shrink = " ".join(f"[{command}]={shlex.quote(flags)}" for command, flags in SHRINK.items())
    return "\n".join(["set -euo pipefail", f"declare -A SHRINK=({shrink})",
                      'dreamvid() { local command="$1"; shift; echo "+ dreamvid $command $*" >&2; '
                      '"$PYTHON" -m dreamvid "$command" "$@" ${SHRINK[$command]:-}; }', *lines, ""])


@pytest.mark.slow
def test_every_example_runs_in_order_in_a_fresh_clone(tmp_path):
    pytest.importorskip("ray", reason="the README's --workers examples need Ray")
    shutil.copytree(os.path.join(REPO, "samples"), tmp_path / "samples")
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": REPO}
    result = subprocess.run(["bash", "-c", shell_script(readme_examples())], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    ran = result.stderr.count("\n+ dreamvid ") + result.stderr.startswith("+ dreamvid ")
    assert ran == len(readme_examples())
    for name in ("coffee_eyes.jpg", "tunnel.mp4", "dreamed.mp4", "music.mp4", "features.csv", "dreamed4.mp4"):
        assert (tmp_path / name).stat().st_size > 0, name
