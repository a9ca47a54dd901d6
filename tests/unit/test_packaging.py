"""What the packages declare about themselves: the license they ship, where their source and
issues are, and only the Python version their tests run on; the provider's wheel holds the
provider only, and the emulator is its own distribution that needs neither Airflow nor the
provider, with a copy of the provider's catalog data (tests/integration/test_wheel.py builds and
installs both)."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import tomllib
from packaging.requirements import Requirement
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


# -- the emulator: its own distribution, built from aep_emulator/ ---------------------------------

EMULATOR_DIR = ROOT / "aep_emulator"
EMULATOR = tomllib.loads((EMULATOR_DIR / "pyproject.toml").read_text())["project"]
#: Imported by the emulator, installed by a declared dependency of another name.
COMES_WITH = {"starlette": "fastapi"}


def third_party_imports(folder: Path) -> set[str]:
    """The top-level modules the package under ``folder`` imports that are neither its own nor stdlib."""
    found = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names and name != folder.name}


def test_the_provider_distribution_packages_the_provider_only():
    assert PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"] == ["airflow_provider_aep*"]
    assert "scripts" not in PROJECT  # aep-emulator is the emulator distribution's script


def test_the_emulator_extra_installs_the_emulator_distribution_released_with_the_provider():
    import aep_emulator
    import airflow_provider_aep

    (requirement,) = map(Requirement, PROJECT["optional-dependencies"]["emulator"])
    assert requirement.name == EMULATOR["name"] == "aep-emulator"
    assert aep_emulator.__version__ == airflow_provider_aep.__version__
    assert aep_emulator.__version__ in requirement.specifier


def test_the_emulator_declares_what_it_imports_and_needs_neither_airflow_nor_the_provider():
    declared = {Requirement(line).name for line in EMULATOR["dependencies"]}
    imported = {COMES_WITH.get(name, name) for name in third_party_imports(EMULATOR_DIR)}
    assert imported == declared
    assert not {"airflow", "airflow_provider_aep"} & third_party_imports(EMULATOR_DIR)
    assert EMULATOR["scripts"] == {"aep-emulator": "aep_emulator.cli:main"}


def test_the_emulator_claims_the_license_and_the_python_the_provider_claims():
    assert EMULATOR["license"] == PROJECT["license"]
    assert EMULATOR["license-files"] == ["LICENSE"]
    assert (EMULATOR_DIR / "LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes()
    assert EMULATOR["requires-python"] == PROJECT["requires-python"]
    pythons = {c for c in EMULATOR["classifiers"] if c.startswith("Programming Language :: Python :: 3.")}
    assert pythons == {
        c for c in PROJECT["classifiers"] if c.startswith("Programming Language :: Python :: 3.")
    }


def test_the_emulator_catalog_is_a_copy_of_the_provider_catalog():
    from aep_emulator import catalog as copy
    from airflow_provider_aep import catalog

    assert (EMULATOR_DIR / "specs.json").read_bytes() == (
        ROOT / "airflow_provider_aep" / "catalog" / "specs.json"
    ).read_bytes(), "cp airflow_provider_aep/catalog/specs.json aep_emulator/specs.json"
    assert {spec_id: (d.key, d.name, d.workflow) for spec_id, d in copy.destinations().items()} == {
        d.connection_spec_id: (d.key, d.name, d.workflow) for d in catalog.DESTINATIONS.values()
    }
    assert copy.DATASET_EXPORT_DESTINATIONS == catalog.DATASET_EXPORT_DESTINATIONS
    assert (copy.DATA_LAKE_SPEC_ID, copy.PROFILE_STORE_SPEC_ID) == (
        catalog.DATA_LAKE_SPEC_ID,
        catalog.PROFILE_STORE_SPEC_ID,
    )
