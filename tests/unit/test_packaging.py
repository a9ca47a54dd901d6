"""What the package declares about itself: the license it ships, where its source and issues
are, and only the Python version its tests run on (tests/integration/test_wheel.py builds and
installs it)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]


def pythons_the_tests_run_on() -> set[str]:
    """The Pythons every test run uses: make's venv and each line of the version matrix."""
    found = set()
    for runner in (ROOT / "Makefile", ROOT / ".ci" / "matrix"):
        (python,) = set(re.findall(r"command -v python(3\.\d+)", runner.read_text()))
        found.add(python)
    return found


def test_the_license_file_is_the_apache_2_text_the_metadata_declares():
    assert PROJECT["license"] == "Apache-2.0"
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.split()[:5] == ["Apache", "License", "Version", "2.0,", "January"]
    assert "END OF TERMS AND CONDITIONS" in text
    assert "APPENDIX: How to apply the Apache License to your work." in text


def test_the_project_urls_name_source_issues_documentation_and_changelog():
    urls = PROJECT["urls"]
    home = urls["Homepage"]
    assert home.startswith("https://")
    assert urls["Source"] == home
    assert urls["Issues"] == f"{home}/issues"
    assert urls["Documentation"].startswith(home)
    assert urls["Changelog"] == f"{home}/blob/main/CHANGELOG.md"


def test_only_the_tested_python_is_claimed():
    claimed = {
        classifier.rsplit(" :: ", 1)[1]
        for classifier in PROJECT["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", classifier)
    }
    tested = pythons_the_tests_run_on()
    assert claimed == tested
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in claimed  # this very run
    requires = SpecifierSet(PROJECT["requires-python"])
    oldest = min(tested, key=lambda version: tuple(map(int, version.split("."))))
    assert f"{oldest}.0" in requires
    major, minor = map(int, oldest.split("."))
    assert not any(f"{major}.{older}.0" in requires for older in range(minor)), (
        "requires-python lets in a Python no test runs on"
    )
    assert PYPROJECT["tool"]["mypy"]["python_version"] == oldest
