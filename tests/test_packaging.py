"""Every file the packages read at run time ships in the distribution: a non-editable install
(the Docker image) has only what pyproject.toml's package-data names."""

from __future__ import annotations

import subprocess
import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("dialer", "ami", "agi", "pacing", "store")


def _data_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", *PACKAGES], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [Path(p) for p in listed if not p.endswith(".py")]


def _shipped(path: Path, package_data: dict[str, list[str]]) -> bool:
    for package, patterns in package_data.items():
        base = Path(*package.split("."))
        if base in path.parents:
            inside = path.relative_to(base).as_posix()
            if any(fnmatch(inside, pattern) for pattern in patterns):
                return True
    return False


def test_every_data_file_of_the_packages_is_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    package_data = config["tool"]["setuptools"]["package-data"]
    files = _data_files()
    assert any(f.name == "lab-extensions.conf" for f in files)  # the list is not empty
    missing = [str(f) for f in files if not _shipped(f, package_data)]
    assert missing == [], f"not in [tool.setuptools.package-data]: {missing}"
