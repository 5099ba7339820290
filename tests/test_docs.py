"""Every Python example in README.md and docs/API.md runs as written, from a copy of the checkout's samples."""

import os
import re
import shutil

import pytest

from conftest import REPO

DOCS = ("README.md", os.path.join("docs", "API.md"))


def python_snippets(path: str) -> list[str]:
    text = open(os.path.join(REPO, path), encoding="utf-8").read()
    return re.findall(r"```python\n(.*?)```", text, re.S)


SNIPPETS = [(path, index, code) for path in DOCS for index, code in enumerate(python_snippets(path))]


def test_the_docs_have_python_examples():
    assert {path for path, _, _ in SNIPPETS} == set(DOCS)


@pytest.mark.slow
@pytest.mark.parametrize("path, index, code", SNIPPETS, ids=[f"{p}-{i}" for p, i, _ in SNIPPETS])
def test_a_python_example_runs_as_written(path, index, code, tmp_path, monkeypatch, capsys):
    shutil.copytree(os.path.join(REPO, "samples"), tmp_path / "samples")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"{path} example {index + 1}", "exec"), {"__name__": "__docs__"})
    capsys.readouterr()
