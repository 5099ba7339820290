"""The presets must travel with a regular (non-editable) install, not only live in the checkout."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_presets_are_present_after_a_non_editable_install(tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), ROOT], check=True, cwd=tmp_path)
    installed = target / "dreamvid" / "presets"
    assert sorted(p.name for p in installed.glob("*.toml")) == sorted(os.listdir(os.path.join(ROOT, "presets")))
    probe = ("import dreamvid.settings.files as c, sys; assert c.__file__.startswith(sys.argv[1]), c.__file__; "
             "print(','.join(c.preset_names()))")
    listed = subprocess.run([sys.executable, "-c", probe, str(target)], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(target)}, cwd=tmp_path, check=True)
    assert "eyes" in listed.stdout.split(",")
    # every package of the checkout is installed (a folder left out of pyproject.toml would be missing)
    packages = {os.path.relpath(folder, ROOT) for folder, _, names in os.walk(os.path.join(ROOT, "dreamvid"))
                if "__init__.py" in names}
    assert packages and {p for p in packages if not (target / p / "__init__.py").exists()} == set()
